"""The served search as a typed record: what the pipeline returns and every learner reads.

One `SearchResult` per search holds everything that happened: the request, what was
understood, what the policy saw and decided (with propensities), every executed arm's full
ranked list, the candidate union with provenance, the ranker's scores, the page, timings and
the time it was served. The HTTP/CLI JSON is built from it at the edge (`api.search_response`);
the bandit's rewards, the impression log, the Q2E memory, training, off-policy evaluation and
the simulator read the record itself and never parse a response back into objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

import numpy as np

from ..retrieval.union import ArmResult, Candidate, find_arm_result

if TYPE_CHECKING:
    from ..retrieval.policy import Decision, PolicyContext
    from ..understanding import Understanding
    from .request import SearchRequest


@dataclass(frozen=True)
class SearchResult:
    """One served search. `scores[i]` belongs to `candidates[i]`; `page` indexes the hits shown
    (one per work: `variants[j]` are the versions collapsed into `page[j]`)."""

    impression_id: str
    request: SearchRequest
    understanding: Understanding
    context: PolicyContext
    decision: Decision
    arm_results: tuple[ArmResult, ...]
    candidates: tuple[Candidate, ...]
    scores: tuple[float, ...]
    page: tuple[int, ...]
    ranker: str
    #: Per page entry: the other candidates of the same work (versions), best first.
    variants: tuple[tuple[int, ...], ...] = ()
    #: Evidence that the page answers the query (0..1), and whether it holds only guesses.
    confidence: float = 0.0
    no_match: bool = False
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    served_at: float = 0.0  # seconds since the epoch, from the searcher's clock
    #: Team-draft interleaving: the challenger ranker's label and, per candidate id on the
    #: interleaved order, the team that placed it ("A" = the serving ranker, "B" = challenger).
    challenger: str = ""
    teams: Mapping[str, str] = field(default_factory=dict)
    #: The query's embedding when a chosen arm needed it (the LTR features' vector similarity).
    vector: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def champion(self) -> str:
        """On an interleaved page, the serving ranker's label (team A; the pipeline names the
        ranking `interleaved(<serving> vs <challenger>)`); otherwise ""."""
        prefix, sep = "interleaved(", f" vs {self.challenger})"
        if self.challenger and self.ranker.startswith(prefix) and self.ranker.endswith(sep):
            return self.ranker[len(prefix):-len(sep)]
        return ""

    @property
    def hits(self) -> list[tuple[Candidate, float]]:
        """The page in rank order: (candidate, score)."""
        return [(self.candidates[i], self.scores[i]) for i in self.page]

    def variant_ids(self, position: int) -> list[str]:
        """Ids of the versions collapsed into the page entry at `position` (0-based)."""
        return [self.candidates[i].id for i in self.variants[position]] if self.variants else []

    @property
    def ids(self) -> list[str]:
        """Entity ids of the page in rank order (position 1 first)."""
        return [self.candidates[i].id for i in self.page]

    def arm_result(self, arm: str) -> ArmResult | None:
        """What `arm` returned, or None when it was not chosen or did not apply."""
        return find_arm_result(self.arm_results, arm)

    def arm_status(self, arm: str) -> str:
        """`ok`, `error` or `not_applicable` (chosen, but nothing to say about this query)."""
        result = self.arm_result(arm)
        if result is None:
            return "not_applicable"
        return "error" if result.error else "ok"

    @property
    def failed(self) -> bool:
        """True when every arm that ran failed (an unreachable cluster): there is no page."""
        return bool(self.arm_results) and all(r.error for r in self.arm_results)

    @property
    def partial(self) -> bool:
        """True when an arm failed or timed out: the page may miss that arm's hits."""
        return any(r.error or r.timed_out for r in self.arm_results)
