"""Optional dependencies (the extras in pyproject.toml), imported with a message naming the extra.

The core (engine, query understanding, fusion, CLI) needs none of them; a command that does
fails with `MissingExtra` saying what to install instead of a bare ModuleNotFoundError.

>>> require("json", "server", "this example").__name__
'json'
>>> require("no_such_module_xyz", "server", "the HTTP server")
Traceback (most recent call last):
...
es_ltrr.common.extras.MissingExtra: the HTTP server needs the 'server' extra: pip install "es-ltrr[server]" (No module named 'no_such_module_xyz')
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def _message(extra: str, what: str, hint: str) -> str:
    return f'{what} needs the {extra!r} extra: pip install "es-ltrr[{extra}]"' + (f", {hint}" if hint else "")


def require(module: str, extra: str, what: str, hint: str = "") -> ModuleType:
    """Import `module`, or raise MissingExtra naming `extra` (a broken install still raises as is)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise MissingExtra(f"{_message(extra, what, hint)} ({exc})") from exc


def check(module: str, extra: str, what: str, hint: str = "") -> None:
    """Fail early, without importing it, when top-level `module` is not installed (torch loads slowly)."""
    if importlib.util.find_spec(module) is None:
        raise MissingExtra(_message(extra, what, hint))
