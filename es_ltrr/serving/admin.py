"""The admin HTTP API (a Flask blueprint under /admin): the state-changing operations of the
CLI, for a running sidecar, behind a bearer token.

    POST /admin/models/activate {"name": N}   `es-ltrr models --promote N` (DataDir.activate_model)
    POST /admin/models/rollback               `es-ltrr train --rollback` (DataDir.rollback_model)
    POST /admin/policy/reset                  a fresh policy; the old state kept as a .bak file
    POST /admin/reindex                       `es-ltrr index` in a background thread (202)
    GET  /admin/reindex                       that job's status
    GET  /admin/state                         policy state, active model, log position

Each calls the function its CLI command calls, then applies the change to this process at
once (the model follower, the policy, the engine), so the answer describes what now serves.
Without a configured admin token every route answers 403: the API is off, not open.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import Blueprint, Response, request

from ..catalog.stats import CatalogStats
from ..common.datadir import DataDir, DataDirError
from ..common.settings import Settings
from ..feedback import FeedbackLoop
from ..search.pipeline import Searcher
from ..understanding import Gazetteer
from .access import Access, unauthorized
from .contract import BadRequest, decode_json
from .responses import error_response, json_response

log = logging.getLogger(__name__)

DISABLED = "admin API disabled: configure a token (ES_LTRR_ADMIN_TOKEN or --admin-token-file)"


class ReindexJob:
    """One rebuild at a time in a background thread: it takes minutes on a full catalog, longer
    than any HTTP client should wait. The embedded engine is swapped in when it is done;
    on a cluster the alias already serves the new documents."""

    def __init__(self, settings: Settings, searcher: Searcher, loop: FeedbackLoop | None):
        self.settings, self.searcher, self.loop = settings, searcher, loop
        self._lock = threading.Lock()
        self._status: dict[str, Any] = {"state": "idle"}
        self._thread: threading.Thread | None = None

    def status(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._status)

    def start(self) -> bool:
        """Start a rebuild; False when one is already running."""
        with self._lock:
            if self._status["state"] == "running":
                return False
            self._status = {"state": "running", "started_at": time.time(), "catalog": str(self.settings.catalog)}
            self._thread = threading.Thread(target=self._run, name="es-ltrr-reindex", daemon=True)
            self._thread.start()
            return True

    def wait(self, timeout_s: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        from ..retrieval.indexing import build_index

        try:
            engine = build_index(self.settings, self.searcher.encoder, say=lambda line: log.info("reindex: %s", line))
            self._swap(None if self.settings.cluster_url else engine)
            done = {"state": "done", "docs": engine.health().get("docs")}
        except Exception as exc:  # reported through GET /admin/reindex; the old index keeps serving
            log.exception("reindex failed")
            done = {"state": "failed", "error": f"{type(exc).__name__}: {exc}"}
        with self._lock:
            self._status = {**self._status, **done, "finished_at": time.time()}

    def _swap(self, engine) -> None:
        """The new gazetteer and stats (and embedded index: `engine`; a cluster's alias already
        serves the new documents) serve from the next search on."""
        data = DataDir(self.settings.data_dir)
        self.searcher.gazetteer, self.searcher.catalog = Gazetteer.load(data.gazetteer_path), CatalogStats.load(data.stats_path)
        if engine is None:
            return
        self.searcher.engine = engine
        if self.loop is not None and self.loop.memory is not None:
            self.loop.memory.engine = engine


@dataclass
class Admin:
    """What the admin routes act on: the process's settings, searcher and feedback loop."""

    settings: Settings
    searcher: Searcher
    loop: FeedbackLoop | None = None
    #: Makes the searcher rank with the data dir's active model now (`serving.ModelFollower`).
    follow_model: Callable[[], None] = lambda: None
    reindex: ReindexJob = field(init=False)

    def __post_init__(self) -> None:
        self.reindex = ReindexJob(self.settings, self.searcher, self.loop)

    @property
    def data(self) -> DataDir:
        return DataDir(self.settings.data_dir)

    def active_model(self) -> str | None:
        active = self.data.active_model()
        return active.name if active else None


def blueprint(access: Access, admin: Admin | None) -> Blueprint:
    """The /admin routes; every one checks the token before anything else."""
    bp = Blueprint("admin", __name__, url_prefix="/admin")

    @bp.before_request
    def _guard() -> Response | None:
        if not access.admin_enabled:
            return error_response(403, DISABLED)
        if not access.admin_allows(request.headers.get("Authorization")):
            return unauthorized("a valid admin token is required (Authorization: Bearer <token>)")
        if admin is None:
            return error_response(503, "the admin API needs the serving process (es-ltrr serve)")
        return None

    @bp.post("/models/activate")
    def activate() -> Response:
        try:
            body = decode_json(request.get_data(cache=False))
            name = body.get("name") if isinstance(body, dict) else None
            if not isinstance(name, str) or not name:
                raise BadRequest('the body must be {"name": "<model name>"}')
            previous = admin.active_model()
            admin.data.activate_model(name)
        except BadRequest as exc:
            return error_response(400, str(exc))
        except DataDirError as exc:
            return error_response(404, str(exc))
        except ValueError as exc:  # an invalid name (`DataDir.model_dir`)
            return error_response(400, str(exc))
        failed = _follow(admin)
        if failed:
            admin.data.rollback_model()
            return error_response(422, f"model {name!r} cannot serve ({failed}); {previous or 'fusion'} stays active")
        log.warning("admin: activated model %s", name)
        return json_response({"active": name, "previous": previous, "ranker": admin.searcher.ranker.kind})

    @bp.post("/models/rollback")
    def rollback() -> Response:
        try:
            active = admin.data.rollback_model()
        except DataDirError as exc:
            return error_response(409, str(exc))
        failed = _follow(admin)
        if failed:
            return error_response(500, f"rolled back to {active or 'fusion'}, but it cannot serve: {failed}")
        log.warning("admin: rolled back to %s", active or "fusion")
        return json_response({"active": active, "ranker": admin.searcher.ranker.kind})

    @bp.post("/policy/reset")
    def reset_policy() -> Response:
        if admin.loop is None:
            return error_response(503, "the policy is reset through the feedback loop, which this server has not")
        from .wiring import make_policy

        policy = admin.loop.policy
        fresh = make_policy(admin.settings.policy, admin.settings.policy_options, admin.settings.allocation)
        backup = admin.data.backup_policy_state(policy.name)
        admin.loop.reset_policy(fresh.state())
        log.warning("admin: policy %s reset at log position %d (backup %s)", policy.name, admin.loop.log_seq, backup)
        return json_response({"policy": policy.name, "backup": backup.name if backup else None,
                      "log_seq": admin.loop.log_seq})

    @bp.post("/reindex")
    def reindex() -> Response:
        if not admin.reindex.start():
            return json_response({"error": {"status": 409, "message": "a reindex is already running"},
                          "reindex": admin.reindex.status()}, 409)
        return json_response({"reindex": admin.reindex.status()}, 202)

    @bp.get("/reindex")
    def reindex_status() -> Response:
        return json_response({"reindex": admin.reindex.status()})

    @bp.get("/state")
    def state() -> Response:
        loop = admin.loop
        body: dict[str, Any] = {"active_model": admin.active_model(), "ranker": admin.searcher.ranker.kind,
                                "policy": admin.searcher.policy.state()}
        if loop is not None:
            body["policy"] = {**loop.policy.state(), "log_seq": loop.log_seq, "log_from": loop.log_from}
            body["log"] = {"log_seq": loop.log_seq, **loop.store.counts()}
            if loop.guard_tolerance is not None:
                body["guard"] = {**loop.verdict.to_dict(), "tolerance": loop.guard_tolerance}
        return json_response(body)

    return bp


def _follow(admin: Admin) -> str | None:
    """Switch this process's ranker to the active model now; the error, if it cannot."""
    try:
        admin.follow_model()
    except Exception as exc:  # a model file that cannot be loaded: the message says which
        log.exception("the active model cannot be loaded")
        return f"{type(exc).__name__}: {exc}"
    return None
