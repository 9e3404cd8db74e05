"""Feedback in, learning out: log every search, accept UBI events durably, fold them into the
policy in log order, and replay the log into the same state.

The log is the truth; the policy state file (`policy/<name>.json`) is a cache of the log
folded up to `log_seq`. `fold` applies every event after it — the ones this process just
wrote and the ones other processes sharing the log wrote — so a restarted or second
process catches up by itself, and `replay` (a fresh policy folding the same events in the
same order) gives bit-identical learned state.

Each event with a positive weight is one update: the impression it answers (its arms' full
lists, decision and context, `Impression`) with that entity engaged; with a `Q2EMemory`, the
(query, entity) pairs engaged are relearned in the index in batches (`learn_memory`). Events
with weight ≤ 0 (a skip) are logged and reward no arm (an entity users skip past sinks in
the Q2E memory when it is next relearned: more searches, no engagement). A search nobody
engages with is evidence too: once its `engagement_window` has passed without an event, the
loop logs a no-engagement event for it (`close_unengaged`), and folding it teaches the policy
that the depths it bought found nothing — in the log, so `replay` learns the same.

With a guard (`guard_tolerance`, as `es-ltrr serve` runs it), the loop also decides whether
the learned policy serves at all (`retrieval/policy/guard.py`): every `GUARD_EVERY` closed
searches it compares the last snapshot of the policy with the static allocation on the
searches logged since, and the verdict — saved with the policy state — switches the policy
between its learned choice and the static allocation.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..common.datadir import DataDir
from ..retrieval.arms import ARMS
from ..retrieval.engines.base import Engine
from ..retrieval.engines.cluster import ClusterEngine
from ..retrieval.policy import Policy
from ..retrieval.policy.guard import Verdict, compare, decide
from .events import DEFAULT_WEIGHTS, MAX_BATCH, NO_ENGAGEMENT, Event, EventError, no_engagement, parse_event
from .evidence import MemoryRules
from .impression import Impression
from .memory import Q2EMemory
from .store import FeedbackStore
from .ubi import UbiMirror, UbiSync

if TYPE_CHECKING:
    from ..search.record import SearchResult

#: Events folded between two saves of the policy state (the log makes the rest recoverable).
SAVE_EVERY = 500


class BatchTooLarge(ValueError):
    """More events in one request than `MAX_BATCH` (HTTP 413)."""


@dataclass
class IngestReport:
    accepted: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "errors": self.errors}


#: Impressions kept decoded for folding (4,096 held ~160 MB and read as a leak in `bench --soak`).
IMPRESSION_CACHE = 256
#: Seconds after a search with no event before it counts as unengaged (`serve --engagement-window`).
ENGAGEMENT_WINDOW_S = 300.0
#: The guard compares a snapshot of the policy with the static allocation every this many
#: closed searches, once it has at least `GUARD_MIN_SEARCHES` of them.
GUARD_EVERY, GUARD_MIN_SEARCHES = 500, 200

log = logging.getLogger(__name__)


class FeedbackLoop:
    """The log plus the policy it feeds; thread-safe."""

    def __init__(self, store: FeedbackStore, policy: Policy, weights: Mapping[str, float] = DEFAULT_WEIGHTS,
                 save: Callable[[dict[str, Any]], Any] | None = None, log_seq: int = 0, log_from: int = 0,
                 memory: Q2EMemory | None = None, mirror: UbiMirror | None = None, sync: UbiSync | None = None,
                 engagement_window_s: float = ENGAGEMENT_WINDOW_S, guard_tolerance: float | None = None,
                 verdict: Verdict | None = None):
        self.store, self.policy, self.weights, self._save = store, policy, dict(weights), save
        self.engagement_window_s = engagement_window_s
        self._closed_seq = 0  # impressions up to this seq are engaged or closed
        #: The page gain per search the learned policy may give up (None: no guard, it always serves).
        self.guard_tolerance = guard_tolerance
        self.verdict = verdict or Verdict(False)
        self._snapshot: tuple[Policy, int] | None = None  # (a frozen copy of the policy, impression seq)
        if guard_tolerance is not None and hasattr(policy, "trusted_"):
            policy.trusted_ = self.verdict.trusted
        self.memory, self.mirror, self.sync = memory, mirror, sync
        self._memory_pending: set[tuple[str, str]] = set()  # (query, entity) pairs to relearn
        self.log_seq = log_seq  # the last event folded into the policy
        self.log_from = log_from  # the policy learned from the events after this one (a reset moves it)
        self._since_save = 0
        self._lock = threading.Lock()
        # events mostly follow their search within seconds: a few hundred recent impressions
        # (~40 KB each, every arm's id list) serve them; an older one is one SQLite point read
        self._impression = lru_cache(maxsize=IMPRESSION_CACHE)(store.impression)

    @classmethod
    def open(cls, data: DataDir, policy: Policy, weights: Mapping[str, float] | None = None,
             engine: Engine | None = None, fold: bool = True,
             engagement_window_s: float = ENGAGEMENT_WINDOW_S, guard_tolerance: float | None = None,
             reformulation_window_s: float = MemoryRules.window_s) -> "FeedbackLoop":
        """The data dir's log, with `policy` resumed at the `log_seq` its saved state records;
        events logged after that are folded now (unless `fold` is False: a process that only
        logs searches, such as `es-ltrr search`). With `engine`, engagement also teaches the
        Q2E memory in that engine's index, and on a cluster the log is mirrored into its UBI
        indices."""
        state = data.policy_state(policy.name) or {}
        store = FeedbackStore(data.feedback_log)
        loop = cls(store, policy, weights or DEFAULT_WEIGHTS, save=data.save_policy_state,
                   log_seq=int(state.get("log_seq", 0)), log_from=int(state.get("log_from", 0)), memory=Q2EMemory(engine, store, rules=MemoryRules(window_s=reformulation_window_s)) if engine else None,
                   mirror=UbiMirror(engine) if isinstance(engine, ClusterEngine) else None,
                   sync=UbiSync(engine, weights or DEFAULT_WEIGHTS) if isinstance(engine, ClusterEngine) else None,
                   engagement_window_s=engagement_window_s, guard_tolerance=guard_tolerance,
                   verdict=Verdict(**state["guard"]) if isinstance(state.get("guard"), dict) else None)
        if fold:
            loop.fold()
        return loop

    def close(self) -> None:
        """Write what the UBI mirror still holds, then close the log."""
        if self.mirror is not None:
            self.mirror.flush()
        self.store.close()

    # -- writing --------------------------------------------------------------------------

    def log_search(self, result: SearchResult) -> None:
        impression = Impression.of(result)
        self.store.add_impression(impression)
        if self.mirror is not None:
            self.mirror.add_query(impression)

    def ingest(self, payload: Any) -> IngestReport:
        """Validate, log durably (fsynced) and fold one event or a list of events.

        Malformed events and events for unknown impressions are reported by index (status
        400 / 404); the others are logged. Raises BatchTooLarge and StoreError (not logged).
        """
        items = payload if isinstance(payload, list) else [payload]
        if len(items) > MAX_BATCH:
            raise BatchTooLarge(f"{len(items)} events in one request; at most {MAX_BATCH}")
        report = IngestReport()
        parsed: list[tuple[int, Event]] = []
        for i, item in enumerate(items):
            try:
                parsed.append((i, parse_event(item, self.weights)))
            except EventError as exc:
                report.errors.append({"index": i, "status": 400, "error": str(exc)})
        known = self.store.known_impressions(sorted({e.query_id for _, e in parsed}))
        valid = []
        for i, event in parsed:
            if event.query_id not in known:
                report.errors.append({"index": i, "status": 404,
                                      "error": f"unknown query_id {event.query_id!r}: no such impression"})
            elif not self._shown(event.query_id, event.object_id):
                report.errors.append({"index": i, "status": 400, "error": (
                    f"'object_id' {event.object_id!r} was not shown by impression {event.query_id}: an event names "
                    "an entity of the page it answers (a hit's id, or one of its variants)")})
            else:
                valid.append(event)
        report.errors.sort(key=lambda e: e["index"])
        inserted, report.duplicates = self.store.add_events(valid)
        report.accepted = len(inserted)
        if self.mirror is not None:
            self.mirror.add_events([event for _, event in inserted], time.time())
        self.fold()
        return report

    def _shown(self, query_id: str, object_id: str | None) -> bool:
        impression = self._impression(query_id)
        return impression is not None and object_id in impression.shown

    # -- learning -------------------------------------------------------------------------

    def sync_cluster(self) -> int:
        """On a cluster: write the mirror, then pull the events other replicas mirrored into
        the local log (`UbiSync`); how many were new. The background fold calls it; a cluster
        that cannot take the mirror raises EngineError (what it could not write is kept)."""
        if self.mirror is not None:
            self.mirror.flush(raise_errors=True)
        return self.sync.pull(self.store) if self.sync is not None else 0

    def fold(self, until_seq: int | None = None) -> int:
        """Apply every logged event after `log_seq` (up to `until_seq`) to the policy, in log
        order; how many."""
        with self._lock:
            n, engaged = 0, set()
            for seq, query_id, action, object_id, weight in self.store.events_after(self.log_seq):
                if until_seq is not None and seq > until_seq:
                    break
                if action == NO_ENGAGEMENT or (weight > 0 and object_id is not None):
                    impression = self._impression(query_id)
                    if impression is not None and action == NO_ENGAGEMENT:
                        self.policy.update(impression, {})
                    elif impression is not None and object_id in impression.shown:  # never credit the unseen
                        self.policy.update(impression, {object_id: weight})
                        engaged.add((impression.query, object_id))
                        if self.memory is not None and impression.session_id is not None:
                            # a reformulation: the session's search before this one learns too
                            previous = self.store.previous_in_session(query_id, self.memory.rules.window_s)
                            if previous is not None:
                                engaged.add((previous, object_id))
                elif weight < 0 and object_id is not None and self.memory is not None:
                    impression = self._impression(query_id)
                    if impression is not None and object_id in impression.shown:
                        engaged.add((impression.query, object_id))  # a skip lowers the pair
                self.log_seq, n = seq, n + 1
            if self.memory is not None:
                self._memory_pending |= engaged
            self._since_save += n
            if self._save is not None and self._since_save >= SAVE_EVERY:
                self._save_state()  # the mirror is the fold thread's (`sync_cluster`), not the fold's
            return n

    def close_unengaged(self, now: float | None = None) -> int:
        """Log a no-engagement event for every search older than the engagement window that
        no event names (idempotent: its key is fixed, so processes sharing the log write it
        once); the next fold teaches the policy from them. How many were logged."""
        cutoff = (time.time() if now is None else now) - self.engagement_window_s
        ids, last = self.store.unengaged_impressions(self._closed_seq, cutoff)
        if ids:
            self.store.import_events([(no_engagement(i, cutoff), cutoff) for i in ids])
        self._closed_seq = last
        return len(ids)

    def check_guard(self) -> Verdict | None:
        """With a guard: every `GUARD_EVERY` closed searches, the last snapshot of the policy
        against the static allocation on the searches logged since (which it did not learn
        from); the verdict switches the policy. None without a guard."""
        policy = self.policy
        if self.guard_tolerance is None or not hasattr(policy, "trusted_"):
            return None
        with self._lock:
            if self._snapshot is None or self._closed_seq - self._snapshot[1] >= GUARD_EVERY:
                if self._snapshot is not None:
                    self._judge(*self._snapshot)
                frozen = replace(policy)  # type: ignore[type-var]  (a learning policy is a dataclass)
                frozen.load_state(policy.state())
                self._snapshot = (frozen, self._closed_seq)
            return self.verdict

    def ranker_changed(self, ranker: str) -> None:
        """The page ranker changed (a model activated or rolled back): what the learned depths
        earned was valued under the previous ranker — a model can lift a candidate found at
        depth 50 that fusion left below the page — so, with a guard, the static allocation
        serves until the learned policy is shown no worse under the new one. (Measured: the
        first guard check after a model was activated found the policy learned under fusion
        0.10 page gain per search worse than the static allocation.)"""
        if self.guard_tolerance is None or not hasattr(self.policy, "trusted_"):
            return
        with self._lock:
            self.verdict = Verdict(False, reason=f"the ranker changed to {ranker}: the static allocation serves "
                                   "until the learned policy is shown no worse under it")
            self.policy.trusted_ = False  # type: ignore[attr-defined]
            self._snapshot = None  # the next check starts a fresh comparison, on searches served from now
            self._save_state()
        log.warning("policy guard: %s", self.verdict.reason)

    def _judge(self, snapshot: Policy, since: int) -> None:
        pairs = list(self.store.engaged_impressions(since, self._closed_seq))
        arms = [arm for arm in ARMS if any(arm in i.decision.allocations for i, _ in pairs)]
        floors = getattr(snapshot, "floors", None) or {arm: a.floor for arm, a in ARMS.items()}
        difference, se, n = compare(snapshot, [i for i, _ in pairs], [e for _, e in pairs], arms,
                                    getattr(snapshot, "depths"), floors)
        verdict = decide(self.verdict, difference, se, n, float(self.guard_tolerance or 0.0), GUARD_MIN_SEARCHES)
        if verdict.trusted != self.verdict.trusted:
            log.warning("policy guard: %s", verdict.reason)
        self.verdict = verdict
        self.policy.trusted_ = verdict.trusted  # type: ignore[attr-defined]

    def learn_memory(self) -> int:
        """Relearn the Q2E values of the (query, entity) pairs engaged since the last call, in
        one index update (batched: on the embedded engine an update rebuilds the q2e field,
        ~1.5 s at 62k entities, so the server calls this every `memory_interval_s`)."""
        with self._lock:
            pending, self._memory_pending = self._memory_pending, set()
        if self.memory is None or not pending:
            return 0
        try:
            return self.memory.learn(pending)
        except Exception:  # e.g. the cluster is down: relearn these next time
            with self._lock:
                self._memory_pending |= pending
            raise

    def reset_policy(self, fresh_state: Mapping[str, Any]) -> None:
        """Forget what the policy learned: it restarts from `fresh_state` (a new policy's
        `state()`) at the current log position, and learns from the events after it only
        (`log_from`, so `replay` rebuilds the same state). Saved at once."""
        with self._lock:
            self.policy.load_state(fresh_state)
            self.log_from = self.log_seq
            self.verdict, self._snapshot = Verdict(False), None  # the fresh policy earns its trust again
            if self.guard_tolerance is not None and hasattr(self.policy, "trusted_"):
                self.policy.trusted_ = False
            self.save()

    def save(self) -> None:
        """Write the policy state with the log position it includes, and what the UBI mirror
        still holds (at exit: a warning says what the cluster could not take)."""
        self._save_state()
        if self.mirror is not None:
            self.mirror.flush()

    def _save_state(self) -> None:
        if self._save is not None:
            self._save({**self.policy.state(), "log_seq": self.log_seq, "log_from": self.log_from,
                        **({"guard": self.verdict.to_dict()} if self.guard_tolerance is not None else {}),
                        "saved_at": time.time()})
            self._since_save = 0


def judge_log(store: FeedbackStore, fresh: Policy, tolerance: float) -> Verdict:
    """The guard's verdict from the log alone: `fresh` folds the events of every search but
    the last `GUARD_EVERY`, then is compared with the static allocation on those (what
    `es-ltrr replay --save` stores beside the replayed state)."""
    last = store.last_impression_seq()
    since = max(0, last - GUARD_EVERY)
    loop = replay(store, fresh, store.last_event_before_impression(since))
    loop.guard_tolerance, loop._closed_seq = tolerance, last
    loop._judge(fresh, since)
    return loop.verdict


def replay(store: FeedbackStore, fresh: Policy, until_seq: int | None = None, since_seq: int = 0) -> FeedbackLoop:
    """A fresh policy folded from the start of the log, or from after `since_seq` (where a
    reset started it afresh), up to `until_seq` when given."""
    loop = FeedbackLoop(store, fresh, log_seq=since_seq, log_from=since_seq)
    loop.fold(until_seq)
    return loop
