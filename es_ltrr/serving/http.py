"""The sidecar's HTTP API (Flask application factory): parse, validate, search, serialize.

No global state: `create_app(searcher)` builds an app around one Searcher, so tests build
their own. Every error leaves as JSON — bad input as 4xx with a message, never a 500.
"""

from __future__ import annotations

import logging
import math

from ..common.extras import require

require("flask", "server", "the HTTP server")
from flask import Flask, Response, request  # noqa: E402  (after the guard that names the extra)
from werkzeug.exceptions import HTTPException  # noqa: E402

from ..feedback import FeedbackLoop  # noqa: E402
from ..feedback.loop import BatchTooLarge  # noqa: E402
from ..feedback.store import StoreError  # noqa: E402
from ..ranking import label  # noqa: E402
from ..search.pipeline import Searcher, fallback_label  # noqa: E402
from ..search.record import SearchResult  # noqa: E402
from .access import Access, guard_api  # noqa: E402
from .admin import Admin, blueprint  # noqa: E402
from .contract import BadRequest, decode_json, parse_search_request, search_response  # noqa: E402
from .responses import error_response, json_response  # noqa: E402

log = logging.getLogger(__name__)

#: Largest accepted search body; a search request is a few hundred bytes.
MAX_BODY_BYTES = 64 * 1024
#: Largest accepted feedback body (a batch of up to `MAX_BATCH` events).
MAX_FEEDBACK_BYTES = 1024 * 1024


def _unavailable(searcher: Searcher, result: SearchResult) -> Response:
    """503 when no arm answered (the cluster is down, or its circuit is open): an empty 200
    would read as "nothing matches". Retry-After is the circuit breaker's cooldown."""
    arms = [{"arm": r.arm, "error": r.error} for r in result.arm_results]
    response = json_response({"error": {"status": 503, "message": f"search unavailable: no arm could search ({arms[0]['error']})",
                                "arms": arms}}, 503)
    breaker = getattr(searcher.engine, "breaker", None)
    response.headers["Retry-After"] = str(math.ceil(breaker.cooldown_s) if breaker else 1)
    return response


def create_app(searcher: Searcher, feedback: FeedbackLoop | None = None, access: Access | None = None,
               admin: Admin | None = None) -> Flask:
    """The app around one searcher; with `feedback`, searches are logged as impressions and
    `POST /feedback` accepts UBI events. `access` holds the bearer tokens (`es_ltrr.serving.access`):
    the API token guards /search and /feedback, the admin token the /admin routes of `admin`
    (`es_ltrr.serving.admin`), which are off (403) without one."""
    app = Flask("es_ltrr")
    app.config["MAX_CONTENT_LENGTH"] = MAX_FEEDBACK_BYTES
    access = access or Access()
    guard_api(app, access)
    app.register_blueprint(blueprint(access, admin))

    @app.post("/search")
    def search() -> Response:
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return error_response(413, f"search body over {MAX_BODY_BYTES} bytes")
        try:
            search_request = parse_search_request(decode_json(request.get_data(cache=False)))
        except BadRequest as exc:
            return error_response(400, str(exc))
        result = searcher.search(search_request)
        if result.failed:
            return _unavailable(searcher, result)
        if feedback is not None:
            try:
                feedback.log_search(result)
            except StoreError as exc:  # the page is still worth serving; its feedback will be refused
                log.error("impression %s not logged: %s", result.impression_id, exc)
        return json_response(search_response(result))

    @app.post("/feedback")
    def post_feedback() -> Response:
        """One UBI event or a list of them; 200 once durable, with bad ones reported by index."""
        if feedback is None:
            return error_response(503, "feedback is not enabled on this server")
        try:
            payload = decode_json(request.get_data(cache=False))
            report = feedback.ingest(payload)
        except BadRequest as exc:
            return error_response(400, str(exc))
        except BatchTooLarge as exc:
            return error_response(413, str(exc))
        except StoreError as exc:
            log.error("feedback not logged: %s", exc)
            return error_response(503, "the feedback log cannot be written; nothing was acknowledged")
        if not isinstance(payload, list) and report.errors:  # one event: its own status
            return error_response(report.errors[0]["status"], report.errors[0]["error"])
        if isinstance(payload, list) and payload and len(report.errors) == len(payload):
            return json_response({"error": {"status": 400, "message": "no event in the batch was valid"}, **report.to_dict()}, 400)
        return json_response(report.to_dict())

    @app.get("/healthz")
    def healthz() -> Response:
        """503 when the engine cannot search; "degraded" (200: pages are served) when the ranker
        falls back to fusion. `ranker` is what ranks the pages, named as in search responses."""
        health = searcher.engine.health()
        up = health.get("status") in ("green", "yellow")
        ranker = searcher.ranker
        check = getattr(ranker, "check", None)  # e.g. sltr: is the model on the node?
        fault = (check(searcher.engine) if up and check is not None else None) or searcher.ranker_fault
        body = {"status": "ok" if up and fault is None else "degraded", "engine": health,
                "ranker": label(ranker) if fault is None else fallback_label(ranker, searcher.fallback)}
        if fault is not None:
            body["ranker_error"] = fault
        return json_response(body, 200 if up else 503)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        return error_response(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def internal_error(exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, f"internal error: {type(exc).__name__}")

    return app
