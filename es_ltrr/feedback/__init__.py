"""The feedback loop: impressions and UBI events in a durable log, online policy updates,
and replay of the log into the same policy state (docs/feedback.md)."""

from __future__ import annotations

from .events import DEFAULT_WEIGHTS, MAX_BATCH, Event, EventError, parse_event
from .impression import Impression
from .loop import FeedbackLoop, IngestReport
from .memory import Q2EMemory
from .store import SCHEMA_VERSION, FeedbackStore
from .ubi import UbiMirror

__all__ = [
    "DEFAULT_WEIGHTS", "MAX_BATCH", "SCHEMA_VERSION", "Event", "EventError", "FeedbackLoop", "FeedbackStore",
    "Impression", "IngestReport", "Q2EMemory", "UbiMirror", "parse_event",
]
