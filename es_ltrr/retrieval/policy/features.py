"""Context features of the learning policies: a `PolicyContext` as a fixed-length vector.

Each feature is named (`FEATURES`), so a saved policy state can refuse a layout it was not
trained on. The request's free-form `context` (user segment, profile aggregates such as the
user's most-played genres) is hashed into `CONTEXT_BUCKETS` slots: any key and value works
without a schema, at the price of rare collisions. Hashing uses crc32, stable across
processes (Python's `hash` is salted per process and would break replay).
"""

from __future__ import annotations

import zlib
from typing import Any, Iterable

import numpy as np

from ...understanding import INTENTS, KINDS
from .base import PolicyContext

#: Slots for hashed request-context entries (`segment=new`, `genre=rock`, ...).
CONTEXT_BUCKETS = 16
#: Token-count buckets: 1, 2, 3, 4 or more.
TOKEN_BUCKETS = (1, 2, 3, 4)
#: Parts of the day by UTC hour: night [0, 6), morning [6, 12), afternoon [12, 18), evening.
DAY_PARTS = ("night", "morning", "afternoon", "evening")
SCRIPTS = ("latin", "other", "none")

FEATURES: tuple[str, ...] = (
    "bias",
    *(f"intent={i}" for i in INTENTS),
    "intent_confidence",
    *(f"slot={k}" for k in KINDS),
    *(f"tokens={n}{'+' if n == TOKEN_BUCKETS[-1] else ''}" for n in TOKEN_BUCKETS),
    "misspelled",
    *(f"script={s}" for s in SCRIPTS[1:]),
    "weekend",
    *(f"day_part={p}" for p in DAY_PARTS),
    *(f"context#{i}" for i in range(CONTEXT_BUCKETS)),
)
DIM = len(FEATURES)
_INDEX = {name: i for i, name in enumerate(FEATURES)}


def featurize(context: PolicyContext) -> np.ndarray:
    """The context's feature vector (float64, length `DIM`).

    >>> x = featurize(PolicyContext("artist", ("artist",), 2, misspelled=True))
    >>> [FEATURES[i] for i in np.flatnonzero(x)][:6]
    ['bias', 'intent=artist', 'intent_confidence', 'slot=artist', 'tokens=2', 'misspelled']
    """
    x = np.zeros(DIM)
    on = ["bias", f"intent={context.intent}", *(f"slot={k}" for k in set(context.slot_kinds)),
          f"tokens={min(max(context.n_tokens, 1), TOKEN_BUCKETS[-1])}{'+' if context.n_tokens >= TOKEN_BUCKETS[-1] else ''}",
          f"script={context.script}", f"day_part={DAY_PARTS[context.hour % 24 // 6]}"]
    if context.misspelled:
        on.append("misspelled")
    if context.weekday % 7 >= 5:
        on.append("weekend")
    for name in on:
        if name in _INDEX:  # an intent or slot kind this layout does not know adds nothing
            x[_INDEX[name]] = 1.0
    x[_INDEX["intent_confidence"]] = min(max(float(context.intent_confidence), 0.0), 1.0)
    entries = list(context_entries(context.request_context))
    for entry in entries:
        x[_INDEX[f"context#{zlib.crc32(entry.encode()) % CONTEXT_BUCKETS}"]] += 1.0 / len(entries)
    return x


def context_entries(context: Any, prefix: str = "") -> Iterable[str]:
    """`key=value` strings of a request context, nested keys joined by dots and lists
    flattened ({"top_genres": ["rock", "pop"]} → "top_genres=rock", "top_genres=pop")."""
    if isinstance(context, dict):
        for key, value in sorted(context.items(), key=lambda kv: str(kv[0])):
            yield from context_entries(value, f"{prefix}{key}.")
    elif isinstance(context, (list, tuple)):
        for value in context:
            yield from context_entries(value, prefix)
    elif prefix:
        yield f"{prefix[:-1]}={str(context).lower()}"
