"""JSON responses of the HTTP API: every body — results and errors — leaves through here, so
the search, feedback, health and admin routes answer in one shape (`{"error": {"status",
"message"}}` for errors)."""

from __future__ import annotations

import json
from typing import Any

from flask import Response


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), status=status, mimetype="application/json")


def error_response(status: int, message: str) -> Response:
    return json_response({"error": {"status": status, "message": message}}, status)
