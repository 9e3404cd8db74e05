"""Simulated users' clicks: a position-based click model (:class:`ClickModel`).

The bandit simulator needs users whose behaviour it does not learn from the system under
test: a click depends only on the rank a result is shown at and on its graded relevance to
the user's query (:meth:`es_ltrr.evaluation.simulation.users.SimulatedQuery.grade`, computed from the
catalog's fields, never from any arm's output).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterable, Mapping, Protocol, Sequence

from .users import NAVIGATIONAL, SimulatedQuery


class _Random(Protocol):
    def random(self) -> float: ...


#: Probability that an examined result is clicked, by grade (0 is a noise click).
ATTRACTIVENESS: Mapping[int, float] = MappingProxyType({0: 0.02, 1: 0.15, 2: 0.5, 3: 0.9})
#: Engagement a click is worth, by grade: a relevant click turns into a play (1.0), a
#: related one into a short listen, an irrelevant one bounces.
ENGAGEMENT: Mapping[int, float] = MappingProxyType({0: 0.1, 1: 0.5, 2: 1.0, 3: 1.0})


@dataclass(frozen=True)
class ClickModel:
    """Position-based click model: click = examined(rank) AND attracted(grade).

    P(examine rank r) = 1 / r**eta (ranks from 1); P(click | examined) by grade from
    `attractiveness`. With `stop_after_target`, a navigational user (:data:`NAVIGATIONAL`)
    who clicks the target has found it and examines nothing below: without that, a
    known-item page would collect clicks below the answer that no real user makes, and a
    policy would be rewarded for burying the answer under near-misses.
    """

    eta: float = 1.0
    attractiveness: Mapping[int, float] = field(default_factory=lambda: dict(ATTRACTIVENESS), hash=False)
    engagement_by_grade: Mapping[int, float] = field(default_factory=lambda: dict(ENGAGEMENT), hash=False)
    stop_after_target: bool = True

    def examination(self, rank: int) -> float:
        """P(the user looks at the result at 1-based `rank`)."""
        return 1.0 / rank**self.eta

    def click_probability(self, rank: int, grade: int) -> float:
        """P(click) at `rank` for a result of `grade`, ignoring stopping."""
        return self.examination(rank) * self.attractiveness.get(grade, self.attractiveness[0])

    def clicks(self, page_ids: Sequence[str], query: SimulatedQuery, rng: _Random) -> list[str]:
        """Clicked ids in page order (each id at most once)."""
        out: list[str] = []
        for rank, eid in enumerate(dict.fromkeys(page_ids), start=1):
            if rng.random() < self.click_probability(rank, query.grade(eid)):
                out.append(eid)
                if self.stop_after_target and eid == query.target and query.intent in NAVIGATIONAL:
                    break
        return out

    def engagement(self, clicked: Iterable[str], query: SimulatedQuery) -> dict[str, float]:
        """Clicked id → reward weight by the clicked result's grade."""
        return {eid: self.engagement_by_grade.get(query.grade(eid), 0.0) for eid in clicked}

    def ubi_events(self, impression_id: str, page_ids: Sequence[str], clicked: Sequence[str], query: SimulatedQuery,
                   event_prefix: str, client_id: str) -> list[dict]:
        """The clicks as UBI events for `POST /feedback` / `FeedbackLoop.ingest`: a relevant item
        (engagement ≥ 1) is a `play`, anything else a `click`; ids `<event_prefix>-<entity>`, so
        a re-run posts the same keys and is deduplicated."""
        weights = self.engagement(clicked, query)
        return [{"query_id": impression_id, "action_name": "play" if weights[eid] >= 1 else "click",
                 "object_id": eid, "event_id": f"{event_prefix}-{eid}", "client_id": client_id,
                 "event_attributes": {"position": {"ordinal": list(page_ids).index(eid) + 1}}} for eid in clicked]
