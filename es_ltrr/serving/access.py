"""Who may call the sidecar: bearer tokens for the admin API and, optionally, for the API.

Tokens come from the environment (`ES_LTRR_ADMIN_TOKEN`, `ES_LTRR_API_TOKEN`) or from files
(`--admin-token-file`, `--api-token-file`, or `admin_token_file` / `api_token_file` in the
TOML settings); read once at the edge, compared in constant time (`hmac.compare_digest`),
and never logged, echoed or put in a response. Without an admin token the admin API refuses
to run at all (403): state-changing endpoints never serve unauthenticated by accident.
"""

from __future__ import annotations

import hmac
import logging
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..common.redact import register

log = logging.getLogger(__name__)

#: Shortest accepted token: a guessable token is no protection.
MIN_TOKEN_CHARS = 16


class TokenError(ValueError):
    """A token file or value that cannot be used; the message names the file, never the token."""


@dataclass(frozen=True)
class Access:
    """The configured tokens (None: not configured). `repr` never shows them."""

    admin_token: str | None = field(default=None, repr=False)
    api_token: str | None = field(default=None, repr=False)

    @property
    def admin_enabled(self) -> bool:
        return self.admin_token is not None

    @property
    def api_protected(self) -> bool:
        return self.api_token is not None

    def admin_allows(self, authorization: str | None) -> bool:
        return _matches(authorization, self.admin_token)

    def api_allows(self, authorization: str | None) -> bool:
        return self.api_token is None or _matches(authorization, self.api_token)


def _matches(authorization: str | None, token: str | None) -> bool:
    """`Authorization: Bearer <token>` against `token`, in constant time for equal lengths."""
    if token is None or not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))


def read_token_file(path: Path, warn: Callable[[str], None]) -> str:
    """The token in `path` (surrounding whitespace stripped); warns when others may read it."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenError(f"cannot read token file {path}: {type(exc).__name__}") from None
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        warn(f"warning: token file {path} is readable by other users: chmod 600 {path}")
    return _checked(text.strip(), str(path))


def _checked(token: str, source: str) -> str:
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
        raise TokenError(f"the token from {source} must be at least {MIN_TOKEN_CHARS} characters without "
                         "whitespace (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
    return token


def load_access(admin_token: str | None, admin_token_file: Path | None, api_token: str | None,
                api_token_file: Path | None, warn: Callable[[str], None]) -> Access:
    """The tokens from the settings: a value (from the environment) wins over a file."""
    def one(value: str | None, path: Path | None, name: str) -> str | None:
        if value:
            return _checked(value.strip(), name)
        return read_token_file(Path(path), warn) if path else None

    access = Access(admin_token=one(admin_token, admin_token_file, "ES_LTRR_ADMIN_TOKEN"),
                    api_token=one(api_token, api_token_file, "ES_LTRR_API_TOKEN"))
    register(access.admin_token, access.api_token)  # masked wherever a library might echo them
    return access


def guard_api(app, access: Access, paths: tuple[str, ...] = ("/search", "/feedback")) -> None:
    """Require the API token on `paths` (a `before_request` hook; /healthz stays open)."""
    from flask import request

    if not access.api_protected:
        return

    @app.before_request
    def _require_api_token():
        if request.path in paths and not access.api_allows(request.headers.get("Authorization")):
            return unauthorized("a valid API token is required (Authorization: Bearer <token>)")
        return None


def unauthorized(message: str):
    """401 with the header that tells a client which scheme to use."""
    from .responses import error_response

    response = error_response(401, message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="es-ltrr"'
    return response
