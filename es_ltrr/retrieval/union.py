"""Union of the arms' hits with provenance: for every candidate, which arms found it, at
what rank and with what score. Provenance is what the ranker, the bandit's per-arm reward
and the counterfactual logs are built from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence


@dataclass(frozen=True)
class Provenance:
    arm: str
    rank: int
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"arm": self.arm, "rank": self.rank, "score": round(self.score, 6)}


@dataclass
class Candidate:
    id: str
    source: dict[str, Any]
    provenance: list[Provenance] = field(default_factory=list)

    @property
    def arms(self) -> list[str]:
        return [p.arm for p in self.provenance]


@dataclass(frozen=True)
class ArmResult:
    """What one arm returned: its ranked ids and their scores (logged in full, so training
    rebuilds the candidates a page was ranked on: `logged_candidates`) or its error."""

    arm: str
    requested: int
    ids: tuple[str, ...] = ()
    took_ms: float = 0.0
    error: str | None = None
    timed_out: bool = False  # the engine stopped this arm at its time budget: hits are partial
    #: The hits' scores, aligned with `ids` (empty in a result logged before they were kept).
    scores: tuple[float, ...] = ()


def find_arm_result(results: Sequence[ArmResult], arm: str) -> ArmResult | None:
    """What `arm` returned among `results`, or None when it was not chosen or did not apply."""
    return next((r for r in results if r.arm == arm), None)


def union(responses: Mapping[str, Mapping[str, Any]], requested: Mapping[str, int]) -> tuple[list[Candidate], list[ArmResult]]:
    """Merge `arm → search response` into candidates (first-seen order) and per-arm results.

    An arm whose response is an error contributes an `ArmResult` with the error and no
    candidates: one failing arm degrades the page, it does not fail the search.
    """
    by_id: dict[str, Candidate] = {}
    results: list[ArmResult] = []
    for arm, response in responses.items():
        if "error" in response:
            reason = response["error"]
            reason = reason.get("reason", str(reason)) if isinstance(reason, Mapping) else str(reason)
            results.append(ArmResult(arm, requested.get(arm, 0), error=reason, timed_out=bool(response.get("timed_out"))))
            continue
        hits = response.get("hits", {}).get("hits", [])
        for rank, hit in enumerate(hits, start=1):
            cand = by_id.get(hit["_id"])
            if cand is None:
                cand = by_id[hit["_id"]] = Candidate(hit["_id"], dict(hit.get("_source") or {}))
            cand.provenance.append(Provenance(arm, rank, float(hit.get("_score") or 0.0)))
        results.append(
            ArmResult(arm, requested.get(arm, 0), tuple(h["_id"] for h in hits), float(response.get("took", 0)),
                      timed_out=bool(response.get("timed_out")), scores=tuple(float(h.get("_score") or 0.0) for h in hits))
        )
    return list(by_id.values()), results


def logged_candidates(results: Sequence[ArmResult]) -> list[Candidate] | None:
    """The candidates `union` built from these arm results — ids and provenance, in the same
    order (sources are not logged) — or None when a result was logged without its scores."""
    if any(r.error is None and len(r.scores) != len(r.ids) for r in results):
        return None
    hits = {r.arm: {"hits": {"hits": [{"_id": i, "_score": s} for i, s in zip(r.ids, r.scores)]}}
            for r in results if r.error is None}
    return union(hits, {r.arm: r.requested for r in results})[0]
