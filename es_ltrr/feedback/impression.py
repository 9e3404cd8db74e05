"""What the log keeps of a served search, and what the policy learns from later.

An `Impression` is a projection of the live record (`search.record.SearchResult`): the part
feedback needs, kept as JSON — the query and its normalized form, the request context, the
understanding's summary, the policy's context and decision (allocations, propensities, depth
distributions, forced rules), every executed arm's full ranked id list, the page (ids), the
versions collapsed into each page entry (`variants`, which the response lists with the hit)
and the timings. `shown` is what the user could have seen: the page and its variants — the
only entities an event may name and learning may credit. Both answer `policy.ServedSearch` (`context`, `decision`, `arm_result(arm)`),
so an event arriving minutes later — or replayed from the log — updates the policy exactly
as the live search would. The decision's `explain` (a debug diagnostic) is not logged.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from ..retrieval.policy import Decision, PolicyContext
from ..retrieval.union import ArmResult, find_arm_result

if TYPE_CHECKING:
    from ..search.record import SearchResult


@dataclass(frozen=True)
class Impression:
    id: str
    served_at: float
    query: str
    normalized: str
    context: PolicyContext
    decision: Decision
    arm_results: tuple[ArmResult, ...]
    page: tuple[str, ...]
    understanding: Mapping[str, Any] = field(default_factory=dict)
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    #: Team-draft interleaving of the page: the challenger ranker, each id's team, and the
    #: serving ranker it was interleaved with (team A).
    challenger: str = ""
    teams: Mapping[str, str] = field(default_factory=dict)
    champion: str = ""
    #: Per page entry, the ids of the versions collapsed into it (shown with the hit); None for
    #: an impression logged before they were kept.
    variants: tuple[tuple[str, ...], ...] | None = None
    #: UBI's `client_id` and `session_id` of the request (None: anonymous, a session of its own).
    client_id: str | None = None
    session_id: str | None = None

    @classmethod
    def of(cls, result: SearchResult) -> "Impression":
        """The projection of a live record that the log keeps (the decision as it was served)."""
        u = result.understanding
        summary = {"intent": u.intent, "intent_confidence": u.intent_confidence,
                   "slots": [s.kind for s in u.slots], "misspelled": u.misspelled}
        return cls(result.impression_id, result.served_at, result.request.query, u.normalized, result.context,
                   result.decision, result.arm_results, tuple(result.ids), summary, dict(result.timings_ms),
                   result.challenger, dict(result.teams), result.champion,
                   tuple(tuple(result.variant_ids(j)) for j in range(len(result.page))),
                   result.request.client_id or _context_client(result.request.context), result.request.session_id)

    def arm_result(self, arm: str) -> ArmResult | None:
        return find_arm_result(self.arm_results, arm)

    @property
    def ids(self) -> tuple[str, ...]:
        """The page: entity ids in the order they were shown."""
        return self.page

    @property
    def shown(self) -> frozenset[str]:
        """What the user could have seen: the page and the versions listed with its hits. An
        impression logged before variants were kept: the page and every arm's candidates
        (the variants are among them)."""
        if self.variants is None:
            return frozenset(self.page).union(*(r.ids for r in self.arm_results))
        return frozenset(self.page).union(*self.variants)

    def to_json(self) -> str:
        d = self.decision
        return json.dumps({
            "id": self.id, "served_at": self.served_at, "query": self.query, "normalized": self.normalized,
            "context": {**asdict(self.context), "request_context": dict(self.context.request_context)},
            "decision": {"policy": d.policy, "allocations": d.allocations, "propensities": d.propensities,
                         "depths": {a: {str(k): v for k, v in dist.items()} for a, dist in d.depths.items()},
                         "forced": dict(d.forced)},
            "arm_results": [asdict(r) for r in self.arm_results],
            "page": list(self.page), "understanding": dict(self.understanding), "timings_ms": dict(self.timings_ms),
            **({"challenger": self.challenger, "teams": dict(self.teams), "champion": self.champion}
               if self.challenger else {}),
            **({"variants": [list(v) for v in self.variants]} if self.variants is not None else {}),
            **({"client_id": self.client_id} if self.client_id is not None else {}),
            **({"session_id": self.session_id} if self.session_id is not None else {}),
        }, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "Impression":
        doc = json.loads(text)
        c = doc["context"]
        context = PolicyContext(**{**c, "slot_kinds": tuple(c["slot_kinds"])})
        d = doc["decision"]
        decision = Decision(d["allocations"], d["propensities"], d["policy"],
                            {a: {int(k): v for k, v in dist.items()} for a, dist in d["depths"].items()}, d["forced"])
        arms = tuple(ArmResult(**{**r, "ids": tuple(r["ids"]), "scores": tuple(r.get("scores", ()))})
                     for r in doc["arm_results"])
        variants = doc.get("variants")
        return cls(doc["id"], doc["served_at"], doc["query"], doc["normalized"], context, decision, arms,
                   tuple(doc["page"]), doc["understanding"], doc["timings_ms"], doc.get("challenger", ""),
                   doc.get("teams", {}), doc.get("champion", ""),
                   None if variants is None else tuple(tuple(v) for v in variants),
                   doc.get("client_id"), doc.get("session_id"))


def _context_client(context: Mapping[str, Any]) -> str | None:
    """The request context's `client_id` (where clients put it before it was a field)."""
    value = context.get("client_id")
    return value if isinstance(value, str) and value.strip() else None
