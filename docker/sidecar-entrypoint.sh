#!/bin/sh
# Usage: sidecar-entrypoint --cluster URL --flavor F   (global es-ltrr options)
set -e
es-ltrr "$@" apply
es-ltrr "$@" index
exec es-ltrr "$@" serve --host 0.0.0.0 --port 8080
