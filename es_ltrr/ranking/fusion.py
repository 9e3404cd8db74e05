"""Reciprocal-rank fusion: the ranker before any LTR model exists.

RRF needs no score calibration across arms (BM25, cosine and rank_feature scores live on
different scales) and rewards candidates that several arms agree on. Plain RRF lets the
four text-ish arms outvote the structured arm, although that arm is the only one that
*understood* a query like "80s rock" or "happy songs"; so the structured arm's weight
grows with the confidence of the query understanding, and the exploration arm, whose
order is random by design, only nudges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping, Sequence

from ..retrieval.arms import ARMS, check_arm_names
from ..retrieval.union import Candidate

if TYPE_CHECKING:
    from ..retrieval.engines.base import Engine
    from ..understanding import Understanding

RRF_K = 60

#: How much a fully confident understanding multiplies the structured arm's weight.
STRUCTURED_CONFIDENCE_GAIN = 3.0


def fusion_weights(u: "Understanding", overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """Per-arm RRF weights for one query: the arms' own, configured overrides, then QU confidence."""
    weights = {name: arm.fusion_weight for name, arm in ARMS.items()}
    weights.update(overrides or {})
    if u.intent != "unknown" and u.slots:
        weights["structured"] *= 1.0 + STRUCTURED_CONFIDENCE_GAIN * float(u.intent_confidence)
    return weights


def rrf_scores(
    candidates: Sequence[Candidate], weights: Mapping[str, float] | None = None, k: int = RRF_K
) -> list[float]:
    """Σ over the arms that found a candidate of weight(arm) / (k + rank)."""
    weights = weights or {}
    return [
        sum(weights.get(p.arm, 1.0) / (k + p.rank) for p in cand.provenance) for cand in candidates
    ]


@dataclass(frozen=True)
class RRFRanker:
    """Weighted reciprocal-rank fusion: the ranker before any model, and the fallback."""

    overrides: Mapping[str, float] = field(default_factory=dict)
    kind: str = "rrf"
    name: str = "rrf"

    def __post_init__(self) -> None:
        check_arm_names(self.overrides, "rrf_weights")

    def score(self, engine: "Engine", text: str, understanding: "Understanding", candidates: Sequence[Candidate],
              vector: object = None) -> list[float]:
        return rrf_scores(candidates, fusion_weights(understanding, self.overrides))
