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
from dataclasses import replace
from typing import Any, Callable

from ..common.datadir import DataDir
from ..common.extras import require
from ..common.redact import install_log_scrubber, register, url_passwords
from ..common.settings import Settings
from ..feedback import FeedbackLoop
from ..feedback.interleaving_wins import outcomes
from ..feedback.loop import ENGAGEMENT_WINDOW_S
from ..feedback.store import FeedbackStore
from ..ranking import label
from ..retrieval.engines.base import EngineError
from ..retrieval.engines.cluster import CONNECTIONS
from ..search.pipeline import Searcher
from .access import Access, load_access
from .wiring import build_searcher, challenger_for, ranker_for

log = logging.getLogger(__name__)

#: Decided interleaved pages (one team got more clicks) before the model guard may roll back.
MODEL_GUARD_MIN = 200

#: Seconds between two folds of the others' events (the replicas' documented lag).
FOLD_INTERVAL_S = 1.0
#: Seconds between two Q2E memory updates (each rebuilds the q2e field on the embedded engine).
MEMORY_INTERVAL_S = 30.0
#: The cluster clients' loggers: a warning with a full traceback for every failed request
#: (dozens a minute in an outage), which es-ltrr reports itself (`Trouble`, 503s, `partial`).
CLIENT_LOGGERS = ("opensearch", "elasticsearch", "elastic_transport")


def quiet_cluster_clients() -> None:
    """Raise the cluster clients' loggers to ERROR, unless the operator set their level."""
    for name in CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.ERROR)


def build_app(settings: Settings, say: Callable[[str], None], fold_interval_s: float = FOLD_INTERVAL_S,
              searcher: Searcher | None = None, memory_interval_s: float = MEMORY_INTERVAL_S,
              engagement_window_s: float = ENGAGEMENT_WINDOW_S):
    """Searcher + feedback loop + background fold → the WSGI app (in the calling process),
    with the bearer tokens of `settings` (`es_ltrr.serving.access`) and the admin API."""
    from .admin import Admin
    from .http import create_app

    install_log_scrubber()
    quiet_cluster_clients()
    register(settings.password, *url_passwords(settings.cluster_url))
    access = settings_access(settings, say)

    searcher = searcher or build_searcher(settings, say=say)
    loop = FeedbackLoop.open(DataDir(settings.data_dir), searcher.policy, settings.action_weights or None,
                             engine=searcher.engine, engagement_window_s=engagement_window_s,
                             guard_tolerance=settings.guard_tolerance,
                             reformulation_window_s=settings.reformulation_window_s)
    atexit.register(loop.save)
    atexit.register(loop.learn_memory)
    follow_model = ModelFollower(settings, searcher, loop.store, on_change=loop.ranker_changed)
    start_folding(loop, fold_interval_s, memory_interval_s, also=follow_model)
    searcher.warm()  # the first request must not pay the model load
    return create_app(searcher, loop, access, Admin(settings, searcher, loop, follow_model))


def sized_for(settings: Settings, threads: int) -> Settings:
    """The settings of a process answering on `threads` threads: unless set on purpose
    (`cluster_connections`), its cluster connection pool holds one connection per thread
    besides one search's parallel requests, the fold thread's and /healthz's — else the client
    discards and reopens connections, and says so in a warning per request."""
    if settings.cluster_connections:
        return settings
    return replace(settings, cluster_connections=threads + CONNECTIONS)


def settings_access(settings: Settings, say: Callable[[str], None]) -> Access:
    """The tokens the settings name (values from the environment, or files); TokenError if unusable."""
    return load_access(settings.admin_token, settings.admin_token_file, settings.api_token,
                       settings.api_token_file, warn=say)


class ModelFollower:
    """Switches the searcher's ranker when the data dir's active model changes (`es-ltrr train`,
    `models --promote`, `train --rollback` in another process): no restart. A model that
    cannot be loaded leaves the current ranker in place and is logged.

    It is also the model's guard: while a model serves, `model_guard_share` of searches
    interleave it with fusion; once fusion's win rate over at least `MODEL_GUARD_MIN` decided
    pages is above one half with 95 % confidence, the model is rolled back (to the one active
    before it, or fusion) and the log says why."""

    def __init__(self, settings: Settings, searcher: Searcher, store: FeedbackStore | None = None,
                 on_change: Callable[[str], None] | None = None):
        self.settings, self.searcher, self.data = settings, searcher, DataDir(settings.data_dir)
        self.store = store
        #: Told the new ranker's label when it changes (the policy guard: `FeedbackLoop.ranker_changed`).
        self.on_change = on_change
        self.current = self._active()
        self._lock = threading.Lock()  # the fold thread and an admin request may both call it
        if store is not None:  # this process serves: the model it starts with is watched too
            searcher.challenger, searcher.interleave_share = challenger_for(
                settings, self.data, searcher.engine, searcher.ranker, searcher.fallback)

    def _active(self) -> str | None:
        active = self.data.active_model()
        return active.name if active else None

    def __call__(self) -> None:
        if self.settings.model or self.settings.ltr_model:
            return  # a model pinned by the settings does not follow the data dir
        with self._lock:
            self._guard()
            self._follow()

    def _follow(self) -> None:
        active = self._active()
        if active == self.current:
            return
        ranker = ranker_for(self.settings, self.data, self.searcher.engine, self.searcher.fallback)
        challenger, share = challenger_for(self.settings, self.data, self.searcher.engine, ranker, self.searcher.fallback,
                                           guard=self.store is not None)
        self.searcher.interleave_share = 0.0  # no interleaving of a new ranker with the old challenger
        self.searcher.ranker = ranker  # one assignment: a search in flight keeps the ranker it read
        self.searcher.challenger, self.searcher.interleave_share = challenger, share
        self.searcher.ranker_fault = None  # the old ranker's: the next search says how this one does
        self.current = active
        log.warning("active model is now %s: ranking with %s", active or "none", ranker.kind)
        if self.on_change is not None:
            self.on_change(label(ranker))

    def _guard(self) -> None:
        """Roll the serving model back once interleaving shows fusion ranks better."""
        if self.store is None or self.current is None or self.searcher.challenger is not self.searcher.fallback:
            return
        served = label(self.searcher.ranker)
        fusion = label(self.searcher.fallback)
        outcome = next((o for o in outcomes(self.store, champion=served) if o.challenger == fusion), None)
        if outcome is None or outcome.wins + outcome.losses < MODEL_GUARD_MIN or not outcome.to_dict()["challenger_better"]:
            return
        low, high = outcome.interval
        previous = self.data.rollback_model()
        log.warning("model guard: fusion beat %s on %d of %d interleaved pages (win rate %.3f…%.3f, 95 %%): "
                    "rolled back to %s", served, outcome.wins, outcome.wins + outcome.losses, low, high,
                    previous or "fusion")


class Trouble:
    """The log of one background step that runs every second: one warning when it starts
    failing, one when it works again, nothing in between (an outage must not flood the log).
    A cluster error is said in one line; anything else (a bug, a full disk) with its
    traceback, once."""

    def __init__(self, what: str, meanwhile: str):
        self.what, self.meanwhile = what, meanwhile
        self.since: float | None = None

    def run(self, step: Callable[[], Any]) -> Any:
        try:
            result = step()
        except Exception as exc:  # keep going: a cluster down or a locked disk now may be fine later
            if self.since is None:
                self.since = time.monotonic()
                log.warning("%s failing: %s; %s (retried every round; said again when it recovers)", self.what,
                            exc, self.meanwhile, exc_info=not isinstance(exc, EngineError))
            else:
                log.debug("%s still failing: %s", self.what, exc)
            return None
        if self.since is not None:
            log.warning("%s recovered after %.0f s", self.what, time.monotonic() - self.since)
            self.since = None
        return result


def start_folding(loop: FeedbackLoop, interval_s: float, memory_interval_s: float = MEMORY_INTERVAL_S,
                  also: Callable[[], None] | None = None) -> threading.Event:
    """A daemon thread folding the log every `interval_s` (other processes' events), running
    `also` (the model follower) as often, and relearning the Q2E memory every
    `memory_interval_s`; returns the event that stops it.

    Each step fails on its own, logged by its `Trouble`: the local fold never waits for the
    cluster's UBI mirror, and a cluster outage is two warnings (failing, recovered), not a
    traceback a second."""
    follower = Trouble("following the active model", "the current ranker keeps ranking")
    folding = Trouble("folding the feedback log", "events stay in the log and are folded once it works")
    mirror = Trouble("the UBI mirror and sync with the cluster",
                     "searches and feedback are still logged and learned from locally; the mirror keeps what it "
                     "could not write and catches up when the cluster is back")
    memory = Trouble("the Q2E memory update", "the engaged pairs are kept and relearned once it works")
    guard = Trouble("the policy guard", "its last verdict stands")

    def fold_local() -> None:
        loop.close_unengaged()
        loop.fold()

    def sync() -> None:
        if loop.sync_cluster():  # events other replicas mirrored: fold them this round
            loop.fold()

    def run() -> None:
        last_memory = time.monotonic()
        while not stop.wait(interval_s):
            if also is not None:
                follower.run(also)
            folding.run(fold_local)
            mirror.run(sync)
            guard.run(loop.check_guard)
            if time.monotonic() - last_memory >= memory_interval_s:
                last_memory = time.monotonic()
                memory.run(loop.learn_memory)

    stop = threading.Event()
    threading.Thread(target=run, name="es-ltrr-fold", daemon=True).start()
    return stop


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
