"""One search, top to bottom:

    understand → choose arms → embed (only if a chosen arm needs the vector)
      → render arm templates → one msearch → union with provenance → rank → response

The policy chooses *before* embedding (DESIGN.md lists embed first): the query embedding
is the largest per-query cost, and a decision without the semantic arm skips it.
"""

from __future__ import annotations

import logging
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any, Mapping

from .api import SearchRequest
from .arms import ARMS, Arm, ArmInput, CatalogStats
from .policy import Decision, Policy, PolicyContext
from .embedding import Encoder
from .engines.base import Engine, EngineError
from .ranking import PluginRanker, XGBoostRanker, feature_params, fusion_weights, rrf_scores
from .understanding import Gazetteer, Understanding, understand
from .union import ArmResult, Candidate, union

log = logging.getLogger(__name__)


@dataclass
class Timer:
    """Milliseconds per stage, in the order the stages ran."""

    marks: dict[str, float] = field(default_factory=dict)
    _last: float = field(default_factory=time.perf_counter)
    _start: float = field(default_factory=time.perf_counter)

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.marks[stage] = round((now - self._last) * 1000, 3)
        self._last = now

    def total(self) -> dict[str, float]:
        return {**self.marks, "total": round((time.perf_counter() - self._start) * 1000, 3)}


@dataclass
class Searcher:
    """The search pipeline, wired with its collaborators (built by `es_ltrr.app`)."""

    engine: Engine
    gazetteer: Gazetteer
    policy: Policy
    encoder: Encoder | None = None
    ranker: XGBoostRanker | PluginRanker | None = None
    arms: Mapping[str, Arm] = field(default_factory=lambda: dict(ARMS))
    catalog: CatalogStats = field(default_factory=CatalogStats)
    rrf_weights: Mapping[str, float] = field(default_factory=dict)
    flavor: str = "embedded"

    def search(self, request: SearchRequest) -> dict[str, Any]:
        timer = Timer()
        impression_id = uuid.uuid4().hex
        understanding = understand(request.query, self.gazetteer)
        timer.lap("understand")

        decision = self.policy.choose(self._policy_context(understanding, request), self._available())
        timer.lap("choose")

        vector = self._embed(request.query, decision)
        timer.lap("embed")

        inp = ArmInput(request.query, understanding, vector, zlib.crc32(impression_id.encode()), self.catalog)
        bodies = self._render(inp, decision)
        responses = dict(zip(bodies, self.engine.msearch(list(bodies.values()))))
        timer.lap("retrieve")

        candidates, arm_results = union(responses, decision.allocations)
        scores, ranker_name = self._rank(request.query, understanding, candidates)
        timer.lap("rank")

        order = sorted(range(len(candidates)), key=lambda i: -scores[i])[: request.k]
        return self._response(
            impression_id, request, understanding, decision, arm_results,
            [(candidates[i], scores[i]) for i in order], ranker_name, len(candidates), timer,
        )

    # -- stages ---------------------------------------------------------------------------

    def _available(self) -> list[str]:
        """Arms that can run here: the semantic arm needs an encoder."""
        return [name for name, arm in self.arms.items() if not (arm.needs_vector and self.encoder is None)]

    @staticmethod
    def _policy_context(u: Understanding, request: SearchRequest) -> PolicyContext:
        return PolicyContext(u.intent, tuple(s.kind for s in u.slots), len(u.tokens), request.context)

    def _embed(self, text: str, decision: Decision):
        needs = any(self.arms[a].needs_vector for a in decision.chosen)
        return self.encoder.encode_query(text) if needs and self.encoder else None

    def _render(self, inp: ArmInput, decision: Decision) -> dict[str, dict[str, Any]]:
        """Arm name → search body, for the chosen arms that apply to this query."""
        bodies = {}
        for name in decision.chosen:
            body = self.arms[name].render(inp, decision.allocations[name], self.flavor)
            if body is not None:
                bodies[name] = body
        return bodies

    def _rank(self, text: str, u: Understanding, candidates: list[Candidate]) -> tuple[list[float], str]:
        if not candidates:
            return [], "none"
        if self.ranker is not None:
            params = feature_params(text, u, candidates)
            kind = "sltr" if isinstance(self.ranker, PluginRanker) else "xgboost"
            try:
                return self.ranker.score(self.engine, params, candidates), f"{kind}:{self.ranker.name}"
            except (EngineError, RuntimeError) as exc:
                # a ranking fault degrades to fusion; the response names it
                log.warning("ranker %s failed, falling back to RRF: %s", self.ranker.name, exc)
                return rrf_scores(candidates, fusion_weights(u, self.rrf_weights)), f"rrf (fallback: {kind} failed)"
        return rrf_scores(candidates, fusion_weights(u, self.rrf_weights)), "rrf"

    # -- response -------------------------------------------------------------------------

    @staticmethod
    def _response(
        impression_id: str,
        request: SearchRequest,
        u: Understanding,
        decision: Decision,
        arm_results: list[ArmResult],
        ranked: list[tuple[Candidate, float]],
        ranker_name: str,
        n_candidates: int,
        timer: Timer,
    ) -> dict[str, Any]:
        ran = {r.arm: r for r in arm_results}
        arms = []
        for name in decision.chosen:
            result = ran.get(name)
            entry: dict[str, Any] = {
                "arm": name,
                "requested": decision.allocations[name],
                "propensity": decision.propensities.get(name, 1.0),
                "status": "ok" if result and not result.error else ("error" if result else "not_applicable"),
                "returned": len(result.ids) if result else 0,
            }
            if result and result.error:
                entry["error"] = result.error
            if result and result.timed_out:
                entry["timed_out"] = True
            arms.append(entry)
        hits = []
        for cand, score in ranked:
            hit = {"id": cand.id, "type": cand.source.get("type"), "name": cand.source.get("name")}
            hit.update({k: v for k, v in cand.source.items() if k not in hit and k != "id"})
            hit["score"] = round(float(score), 6)
            hit["arms"] = [p.to_dict() for p in cand.provenance]
            hits.append(hit)
        response: dict[str, Any] = {
            "impression_id": impression_id,
            "query": request.query,
            "arms": arms,
            "ranker": ranker_name,
            "candidates": n_candidates,
            "partial": any(a["status"] == "error" or a.get("timed_out") for a in arms),
            "hits": hits,
            "timings_ms": timer.total(),
        }
        if request.debug:
            response["understanding"] = u.to_dict()
            response["policy"] = decision.policy
            response["arm_results"] = [
                {"arm": r.arm, "ids": list(r.ids), "took_ms": r.took_ms} for r in arm_results
            ]
        return response
