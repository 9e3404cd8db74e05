"""`es-ltrr` command line: one command per stage, each runnable alone.

    es-ltrr apply            mappings, templates and LTR featuresets to a cluster (idempotent)
    es-ltrr index            index a catalog (embedded engine, or --cluster) with progress
    es-ltrr search QUERY     search and print a table (or --json, the HTTP response)
    es-ltrr render ARM QUERY print the DSL an arm sends for a query
    es-ltrr serve            run the HTTP sidecar on a production WSGI server (waitress)
    es-ltrr bench            latency per stage and QPS of the HTTP endpoint (127.0.0.1 only)
    es-ltrr parity           per-arm top-k overlap, embedded engine vs a cluster
    es-ltrr upload-model F   an XGBoost model to the cluster's LTR plugin, parity-checked
    es-ltrr mappings         write (or --check) the generated mappings/ files
    es-ltrr catalog slice OUT   a small catalog: a sample stratified by genre, decade and popularity
    es-ltrr node start|stop|status|assemble   a local OpenSearch (or --distribution elasticsearch) node for tests
"""

# the commands live in their modules; importing them registers them on `main`
from . import bench, catalog, evaluating, learning, node, ops, search, serve  # noqa: F401
from .group import Ctx, fail, main, say, searcher_for, settings_options
from .search import format_table  # the CLI table, also used by tests

__all__ = ["Ctx", "fail", "format_table", "main", "say", "searcher_for", "settings_options"]
