"""The sidecar's HTTP API (Flask application factory): parse, validate, search, serialize.

No global state: `create_app(searcher)` builds an app around one Searcher, so tests build
their own. Every error leaves as JSON — bad input as 4xx with a message, never a 500.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from ._extras import require

require("flask", "server", "the HTTP server")
from flask import Flask, Response, request  # noqa: E402  (after the guard that names the extra)
from werkzeug.exceptions import HTTPException  # noqa: E402

from .api import BadRequest, decode_json, parse_search_request, search_response  # noqa: E402
from .pipeline import Searcher  # noqa: E402

log = logging.getLogger(__name__)

#: Largest accepted request body; a search request is a few hundred bytes.
MAX_BODY_BYTES = 64 * 1024


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), status=status, mimetype="application/json")


def _error(status: int, message: str) -> Response:
    return _json({"error": {"status": status, "message": message}}, status)


def create_app(searcher: Searcher) -> Flask:
    app = Flask("es_ltrr")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    @app.post("/search")
    def search() -> Response:
        try:
            search_request = parse_search_request(decode_json(request.get_data(cache=False)))
        except BadRequest as exc:
            return _error(400, str(exc))
        return _json(search_response(searcher.search(search_request)))

    @app.get("/healthz")
    def healthz() -> Response:
        health = searcher.engine.health()
        ok = health.get("status") in ("green", "yellow")
        body = {"status": "ok" if ok else "degraded", "engine": health, "ranker": searcher.ranker.name}
        return _json(body, 200 if ok else 503)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        return _error(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def internal_error(exc: Exception) -> Response:
        log.exception("unhandled error")
        return _error(500, f"internal error: {type(exc).__name__}")

    return app
