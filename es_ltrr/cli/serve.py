"""`es-ltrr serve`: the sidecar (POST /search, POST /feedback, GET /healthz, /admin)."""

from __future__ import annotations

from pathlib import Path

import click

from ..common.console import say
from ..common.extras import require
from .group import Ctx, fail, main, searcher_for, settings_options


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="TCP port to listen on.")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 1024), help="WSGI threads per process.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 256),
              help="Processes; more than one runs gunicorn, each process folding the shared feedback log.")
@click.option("--fold-interval", default=1.0, show_default=True,
              help="Seconds between folds of the events other processes logged.")
@click.option("--memory-interval", default=30.0, show_default=True,
              help="Seconds between Q2E memory updates from engagement (batched: each rebuilds the index's q2e field).")
@click.option("--engagement-window", default=300.0, show_default=True,
              help="Seconds after a search with no feedback event before the policy learns that it earned none.")
@click.option("--admin-token-file", type=click.Path(dir_okay=False, path_type=Path),
              help="File holding the bearer token of the /admin API (or ES_LTRR_ADMIN_TOKEN); without "
                   "one the admin API answers 403.")
@click.option("--api-token-file", type=click.Path(dir_okay=False, path_type=Path),
              help="File holding a bearer token /search and /feedback then require (or ES_LTRR_API_TOKEN).")
@settings_options()
@click.pass_obj
def serve(obj: Ctx, host: str, port: int, threads: int, workers: int, fold_interval: float,
          memory_interval: float, engagement_window: float, admin_token_file: Path | None,
          api_token_file: Path | None) -> None:
    """Run the sidecar (POST /search, POST /feedback, GET /healthz, /admin/...): waitress in one
    process, or gunicorn with --workers N.

    Searches are logged as impressions and feedback events in <data dir>/logs/ (SQLite);
    events update the policy as they arrive (other processes' within --fold-interval), a
    search that earned none by --engagement-window updates it too, and the Q2E memory is
    relearned every --memory-interval; the policy state is saved at exit (and every 500
    events) with the log position it includes. The admin API (model activation and
    rollback, policy reset, reindex, state export; docs/security.md) needs an admin token."""
    from ..feedback.store import StoreError
    from ..retrieval.engines import EngineError
    from ..serving.access import TokenError

    if not (0 < fold_interval < 1e6 and 0 < memory_interval < 1e6 and 0 < engagement_window < 1e6):  # also NaN
        fail("--fold-interval, --memory-interval and --engagement-window must be positive numbers of seconds")
    require("waitress", "server", "es-ltrr serve")  # before any work: a missing extra is the first thing said
    if workers > 1:
        require("gunicorn", "server", "es-ltrr serve --workers")
    from ..serving.process import serve as run
    from ..serving.process import settings_access, sized_for

    settings = sized_for(obj.settings(admin_token_file=admin_token_file, api_token_file=api_token_file), threads)
    try:
        access = settings_access(settings, say if workers > 1 else lambda _: None)  # a bad token file stops here, before any indexing (build_app warns)
    except TokenError as exc:
        fail(str(exc))
    say(f"admin API: {'on' if access.admin_enabled else 'off (no admin token)'}; "
        f"/search and /feedback: {'token required' if access.api_protected else 'open'}")
    searcher = searcher_for(obj, settings)  # indexes a missing catalog and reports bad settings once
    try:
        run(settings, host, port, threads, workers, say, fold_interval, searcher if workers <= 1 else None,
            memory_interval, engagement_window)
    except (StoreError, FileNotFoundError, ValueError, EngineError) as exc:
        fail(str(exc))
