# The es-ltrr sidecar: apply + index on start (idempotent), then serve on 0.0.0.0:8080.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY es_ltrr ./es_ltrr
COPY mappings ./mappings
# featuresets and arm templates are package data, so a regular (non-editable) install works
RUN pip install --no-cache-dir ".[all]"
COPY docker/sidecar-entrypoint.sh /usr/local/bin/sidecar-entrypoint
ENTRYPOINT ["sh", "/usr/local/bin/sidecar-entrypoint"]
