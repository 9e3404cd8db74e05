"""`es-ltrr serve`: the app with its feedback loop, in one process (waitress) or several
(gunicorn), each process folding the shared log on a timer.

Every process builds its own searcher and `FeedbackLoop` over the data dir's one SQLite log.
A process folds its own events as it logs them and, every `fold_interval_s`, the events the
other processes logged — so a replica's policy and Q2E memory reflect feedback sent to
another one within that interval. On a cluster the Q2E values go to the shared index; on
the embedded engine each process applies them to its own copy, and since the values are a
function of the log, the copies agree.
"""

from __future__ import annotations

import atexit
import logging
import signal
import threading
import time
from typing import Any, Callable

from ..common.datadir import DataDir
from ..common.extras import require
from ..common.redact import install_log_scrubber, register, url_passwords
from ..common.settings import Settings
from ..feedback import FeedbackLoop
from ..feedback.loop import ENGAGEMENT_WINDOW_S
from ..search.pipeline import Searcher
from .access import Access, load_access
from .wiring import build_searcher, ranker_for

log = logging.getLogger(__name__)

#: Seconds between two folds of the others' events (the replicas' documented lag).
FOLD_INTERVAL_S = 1.0
#: Seconds between two Q2E memory updates (each rebuilds the q2e field on the embedded engine).
MEMORY_INTERVAL_S = 30.0


def build_app(settings: Settings, say: Callable[[str], None], fold_interval_s: float = FOLD_INTERVAL_S,
              searcher: Searcher | None = None, memory_interval_s: float = MEMORY_INTERVAL_S,
              engagement_window_s: float = ENGAGEMENT_WINDOW_S):
    """Searcher + feedback loop + background fold → the WSGI app (in the calling process),
    with the bearer tokens of `settings` (`es_ltrr.serving.access`) and the admin API."""
    from .admin import Admin
    from .http import create_app

    install_log_scrubber()
    register(settings.password, *url_passwords(settings.cluster_url))
    access = settings_access(settings, say)

    searcher = searcher or build_searcher(settings, say=say)
    loop = FeedbackLoop.open(DataDir(settings.data_dir), searcher.policy, settings.action_weights or None,
                             engine=searcher.engine, engagement_window_s=engagement_window_s)
    atexit.register(loop.save)
    atexit.register(loop.learn_memory)
    follow_model = ModelFollower(settings, searcher)
    start_folding(loop, fold_interval_s, memory_interval_s, also=follow_model)
    searcher.warm()  # the first request must not pay the model load
    return create_app(searcher, loop, access, Admin(settings, searcher, loop, follow_model))


def settings_access(settings: Settings, say: Callable[[str], None]) -> Access:
    """The tokens the settings name (values from the environment, or files); TokenError if unusable."""
    return load_access(settings.admin_token, settings.admin_token_file, settings.api_token,
                       settings.api_token_file, warn=say)


class ModelFollower:
    """Switches the searcher's ranker when the data dir's active model changes (`es-ltrr train`,
    `models --promote`, `train --rollback` in another process): no restart. A model that
    cannot be loaded leaves the current ranker in place and is logged."""

    def __init__(self, settings: Settings, searcher: Searcher):
        self.settings, self.searcher, self.data = settings, searcher, DataDir(settings.data_dir)
        self.current = self._active()
        self._lock = threading.Lock()  # the fold thread and an admin request may both call it

    def _active(self) -> str | None:
        active = self.data.active_model()
        return active.name if active else None

    def __call__(self) -> None:
        if self.settings.model or self.settings.ltr_model:
            return  # a model pinned by the settings does not follow the data dir
        with self._lock:
            self._follow()

    def _follow(self) -> None:
        active = self._active()
        if active == self.current:
            return
        ranker = ranker_for(self.settings, self.data, self.searcher.engine, self.searcher.fallback)
        self.searcher.ranker = ranker  # one assignment: a search in flight keeps the ranker it read
        self.current = active
        log.warning("active model is now %s: ranking with %s", active or "none", ranker.kind)


def start_folding(loop: FeedbackLoop, interval_s: float, memory_interval_s: float = MEMORY_INTERVAL_S,
                  also: Callable[[], None] | None = None) -> threading.Thread:
    """A daemon thread folding the log every `interval_s` (other processes' events), running
    `also` (the model follower) as often, and relearning the Q2E memory every `memory_interval_s`."""
    def run() -> None:
        last_memory = time.monotonic()
        while not stop.wait(interval_s):
            try:
                if also is not None:
                    also()
                loop.sync_cluster()
                loop.close_unengaged()
                loop.fold()
                if time.monotonic() - last_memory >= memory_interval_s:
                    last_memory = time.monotonic()
                    loop.learn_memory()
            except Exception:  # keep folding: a locked or full disk now may be fine later
                log.exception("folding the feedback log failed")

    stop = threading.Event()
    thread = threading.Thread(target=run, name="es-ltrr-fold", daemon=True)
    thread.start()
    return thread


def _stop_cleanly_on(*signals: signal.Signals) -> None:
    """Leave the serving loop through the normal exit (atexit saves the folded policy state)
    on each of `signals`: a service manager stops with SIGTERM, whose default kills without
    atexit, and a process started in the background inherits SIGINT *ignored*."""

    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(0)

    for sig in signals:
        signal.signal(sig, stop)


def serve(settings: Settings, host: str, port: int, threads: int, workers: int, say: Callable[[str], None],
          fold_interval_s: float = FOLD_INTERVAL_S, searcher: Searcher | None = None,
          memory_interval_s: float = MEMORY_INTERVAL_S, engagement_window_s: float = ENGAGEMENT_WINDOW_S) -> None:
    """Serve until stopped: waitress for one process (with `searcher` when given), gunicorn
    for `workers` > 1 (each process builds its own)."""
    if workers <= 1:
        waitress = require("waitress", "server", "es-ltrr serve")
        app = build_app(settings, say, fold_interval_s, searcher, memory_interval_s, engagement_window_s)
        say(f"serving on http://{host}:{port}")
        _stop_cleanly_on(signal.SIGTERM, signal.SIGINT)
        waitress.serve(app, host=host, port=port, threads=threads, ident="es-ltrr")
        return
    base = require("gunicorn.app.base", "server", "es-ltrr serve --workers").BaseApplication

    class Replicas(base):  # type: ignore[misc, valid-type]
        """Gunicorn running `workers` processes; each builds its own app after the fork."""

        def load_config(self) -> None:
            options: dict[str, Any] = {"bind": f"{host}:{port}", "workers": workers, "threads": threads,
                                       "worker_class": "gthread", "preload_app": False, "timeout": 120,
                                       "accesslog": None}
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            return build_app(settings, lambda _: None, fold_interval_s, None, memory_interval_s, engagement_window_s)

    say(f"serving on http://{host}:{port} with {workers} processes")
    Replicas().run()
