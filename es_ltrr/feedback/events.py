"""UBI events: what `POST /feedback` accepts, validated field by field.

The shape is OpenSearch User Behavior Insights' event (`query_id`, `action_name`,
`client_id`, `session_id`, `timestamp`, `event_attributes.object.object_id` / `object_id_field` — also
accepted at the top level — and `event_attributes.position.ordinal`) plus
`event_attributes.dwell_ms` and the idempotency key `event_id`. Without `event_id` the
key is a digest of the event's own fields, so a client retrying the same body is counted
once — and two genuinely identical events (same client, object, action and timestamp) are
too. Send an `event_id` when that matters.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping

#: Events accepted in one request (a batch); larger batches are refused whole (413).
MAX_BATCH = 500
#: What each action says about the entity (weights > 0 reward the arms that found it).
DEFAULT_WEIGHTS: dict[str, float] = {
    "play": 1.0, "add_to_playlist": 1.0, "like": 1.0, "purchase": 1.0, "click": 0.5, "skip": -0.5,
}
_MAX_TEXT = 512
_FIELDS = {"event_id", "query_id", "action_name", "object_id", "object_id_field", "client_id", "timestamp",
           "event_attributes", "message", "message_type", "application", "user_query", "session_id", "page_id"}


#: The action of the event the feedback loop itself logs for a search nobody engaged with
#: within the window (`FeedbackLoop.close_unengaged`); no client can send it.
NO_ENGAGEMENT = "es_ltrr_no_engagement"


class EventError(ValueError):
    """A malformed event; the message names the field."""


@dataclass(frozen=True)
class Event:
    key: str  # the idempotency key: event_id, or a digest of the event
    query_id: str
    action_name: str
    object_id: str | None
    object_id_field: str
    client_id: str | None
    timestamp: str
    position: int | None
    dwell_ms: float | None
    weight: float
    body: str  # the event as received (canonical JSON), kept in the log
    session_id: str | None = None  # UBI's session_id, as sent


def parse_event(payload: Any, weights: Mapping[str, float] = DEFAULT_WEIGHTS,
                now: dt.datetime | None = None) -> Event:
    """One validated event, or EventError naming the field.

    >>> e = parse_event({"query_id": "q1", "action_name": "play", "object_id": "t-1", "event_id": "e1"})
    >>> (e.key, e.weight, e.object_id_field)
    ('e1', 1.0, 'id')
    >>> parse_event({"query_id": "q1", "action_name": "dance"})
    Traceback (most recent call last):
    ...
    es_ltrr.feedback.events.EventError: 'action_name' must be one of add_to_playlist, click, like, play, purchase, skip (got 'dance')
    """
    if not isinstance(payload, dict):
        raise EventError(f"an event must be a JSON object, got {type(payload).__name__}")
    unknown = sorted(set(payload) - _FIELDS)
    if unknown:
        raise EventError(f"unknown field(s): {', '.join(map(repr, unknown))}")
    query_id = _text(payload, "query_id", required=True)
    action = _text(payload, "action_name", required=True)
    if action not in weights:
        raise EventError(f"'action_name' must be one of {', '.join(sorted(weights))} (got {action!r})")
    attributes = payload.get("event_attributes")
    attributes = {} if attributes is None else attributes
    if not isinstance(attributes, dict):
        raise EventError("'event_attributes' must be an object")
    target = attributes.get("object")  # where the UBI schema puts the object; top level is accepted too
    target = {} if target is None else target
    if not isinstance(target, dict):
        raise EventError("'event_attributes.object' must be an object")
    object_id = _text(payload, "object_id") or _text(target, "object_id", where="event_attributes.object.object_id")
    if object_id is None:
        raise EventError("'object_id' (or 'event_attributes.object.object_id') is required: the entity the user acted on")
    id_field = _text(payload, "object_id_field") or _text(target, "object_id_field",
                                                           where="event_attributes.object.object_id_field")
    position = _position(attributes)
    dwell = attributes.get("dwell_ms")
    if dwell is not None and (isinstance(dwell, bool) or not isinstance(dwell, (int, float)) or not 0 <= dwell < 1e10):
        raise EventError("'event_attributes.dwell_ms' must be a non-negative number")
    body = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    try:
        encoded = body.encode()
    except UnicodeEncodeError:  # a "\ud800" escape: no UTF-8 writer (the log, a digest) takes it
        raise EventError("the event is not valid Unicode: it holds an unpaired UTF-16 surrogate") from None
    event_id = _text(payload, "event_id")
    key = event_id if event_id is not None else "sha256:" + hashlib.sha256(encoded).hexdigest()
    return Event(key, query_id, action, object_id, id_field or "id",
                 _text(payload, "client_id"), _timestamp(payload.get("timestamp"), now),
                 position, None if dwell is None else float(dwell), float(weights[action]), body,
                 _text(payload, "session_id"))


def _text(payload: Mapping[str, Any], name: str, required: bool = False, where: str | None = None) -> str | None:
    value = payload.get(name)
    if value is None:
        if required:
            raise EventError(f"'{where or name}' is required")
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_TEXT:
        raise EventError(f"'{where or name}' must be a non-empty string of at most {_MAX_TEXT} characters")
    return value


def _position(attributes: Mapping[str, Any]) -> int | None:
    position = attributes.get("position")
    if position is None:
        return None
    if not isinstance(position, dict):
        raise EventError("'event_attributes.position' must be an object")
    ordinal = position.get("ordinal")
    if ordinal is None:
        return None
    if isinstance(ordinal, bool) or not isinstance(ordinal, int) or not 0 <= ordinal < 100_000:
        raise EventError("'event_attributes.position.ordinal' must be an integer from 0")
    return ordinal


def _timestamp(value: Any, now: dt.datetime | None) -> str:
    """ISO-8601 (UBI's format) or epoch seconds/milliseconds → ISO-8601 UTC; missing → now."""
    if value is None:
        return (now or dt.datetime.now(dt.timezone.utc)).isoformat()
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, (int, float)):
            seconds = value / 1000 if value > 1e11 else value
            return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat()
        if isinstance(value, str) and len(value) <= 64:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)).isoformat()
    except (ValueError, OverflowError, OSError):
        pass
    raise EventError("'timestamp' must be ISO-8601 (e.g. 2026-11-30T12:00:00Z) or epoch seconds/milliseconds")


def no_engagement(impression_id: str, at: float) -> Event:
    """The event that says a search earned no engagement within the window: the policy learns
    from it that the depths it bought found nothing (one per impression: its key is fixed)."""
    stamp = dt.datetime.fromtimestamp(at, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = json.dumps({"query_id": impression_id, "action_name": NO_ENGAGEMENT, "timestamp": stamp},
                      separators=(",", ":"))
    return Event(f"{impression_id}#{NO_ENGAGEMENT}", impression_id, NO_ENGAGEMENT, None, "id", None, stamp, None,
                 None, 0.0, body)
