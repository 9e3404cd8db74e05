"""One search, top to bottom:

    understand → choose arms → embed (only if a chosen arm needs the vector)
      → render arm templates → one msearch (retrieve) → union with provenance → rank
      → one hit per work (collapse) → page confidence → SearchResult

The policy chooses *before* embedding (the founding design embedded first): the query embedding
is the largest per-query cost, and a decision without the semantic arm skips it.

The pipeline returns a typed `SearchResult`; the JSON a client sees is built from it in
`es_ltrr.serving.contract`. Ids, the wall clock and the explore seed are injectable, so a search can be
replayed exactly (tests, the simulator).
"""

from __future__ import annotations

import logging
import random
import time
import uuid
import zlib
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

import numpy as np

from ..common.analysis import script_of
from ..ranking import Ranker, RRFRanker, label
from ..ranking.memory import pin_confirmed
from ..ranking.team_draft import team_draft
from ..retrieval.arms import ARMS, Arm, ArmInput, CatalogStats
from ..retrieval.embedding import Encoder
from ..retrieval.engines.base import Engine, EngineError
from ..retrieval.policy import Decision, Policy, PolicyContext, StaticPolicy
from ..retrieval.union import Candidate, union
from ..understanding import Gazetteer, Understanding, understand
from .collapse import collapse
from .confidence import page_confidence
from .record import SearchResult
from .request import SearchRequest

log = logging.getLogger(__name__)

#: The search `Searcher.warm` runs: a misspelt artist and a title, so fuzzy matching and the
#: title tables are exercised too.
WARM_QUERY = "tayler love"


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

    def exclude(self) -> None:
        """Leave the time since the last lap out of every stage and the total (a one-time load)."""
        now = time.perf_counter()
        self._start += now - self._last
        self._last = now

    def total(self) -> dict[str, float]:
        return {**self.marks, "total": round((time.perf_counter() - self._start) * 1000, 3)}


def fallback_label(ranker: Ranker, fallback: Ranker) -> str:
    """The `ranker` of a page `ranker` failed to rank: `rrf (fallback: sltr failed)`."""
    return f"{label(fallback)} (fallback: {ranker.kind} failed)"


def new_impression_id() -> str:
    """A random 128-bit id (hex): the response's `impression_id`, UBI's `query_id`."""
    return uuid.uuid4().hex


def explore_seed(impression_id: str) -> int:
    """The explore arm's random order, derived from the impression so a search replays."""
    return zlib.crc32(impression_id.encode())


def policy_context(u: Understanding, request: SearchRequest, served_at: float) -> PolicyContext:
    """What the policy sees of a search; the time features come from `served_at` (UTC)."""
    when = time.gmtime(served_at)
    return PolicyContext(
        u.intent, tuple(s.kind for s in u.slots), len(u.tokens), request.context,
        intent_confidence=u.intent_confidence, misspelled=u.misspelled, script=script_of(request.query),
        weekday=when.tm_wday, hour=when.tm_hour,
    )


@dataclass
class Searcher:
    """The search pipeline, wired with its collaborators (built by `es_ltrr.serving.wiring`)."""

    engine: Engine
    gazetteer: Gazetteer
    policy: Policy
    encoder: Encoder | None = None
    ranker: Ranker = field(default_factory=RRFRanker)
    #: What ranks when `ranker` fails (a cluster fault, a deleted model): fusion never fails.
    fallback: Ranker = field(default_factory=RRFRanker)
    #: A candidate ranker tested online against `ranker` by team-draft interleaving on
    #: `interleave_share` of searches (chosen by the impression id, so a search replays).
    challenger: Ranker | None = None
    interleave_share: float = 0.0
    arms: Mapping[str, Arm] = field(default_factory=lambda: dict(ARMS))
    catalog: CatalogStats = field(default_factory=CatalogStats)
    flavor: str = "embedded"
    #: How the engine stores the Q2E memory (`Engine.capabilities.memory`): the q2e arm's clause.
    memory: str | None = "rank_features"
    new_id: Callable[[], str] = new_impression_id
    seed_of: Callable[[str], int] = explore_seed
    clock: Callable[[], float] = time.time
    #: Why the last search's ranker failed (its page was ranked by `fallback`), None when it
    #: ranked: what /healthz reports of the ranker actually serving.
    ranker_fault: str | None = field(default=None, compare=False)

    def search(self, request: SearchRequest) -> SearchResult:
        timer = Timer()
        served_at = self.clock()
        impression_id = self.new_id()
        understanding = understand(request.query, self.gazetteer)
        timer.lap("understand")

        context = policy_context(understanding, request, served_at)
        decision = self.policy.choose(context, self.available())
        timer.lap("choose")
        if self.encoder is not None and self._needs_vector(decision):
            self.encoder.load()  # once per process; the latency reported is the search's own
            timer.exclude()

        vector = self._embed(request.query, decision)
        timer.lap("embed")

        inp = ArmInput(request.query, understanding, vector, self.seed_of(impression_id), self.catalog)
        bodies = self._render(inp, decision)
        timer.lap("render")
        responses = self._msearch(bodies)
        timer.lap("retrieve")  # the engine alone: what the sidecar adds is every other stage
        return self.assemble(impression_id, request, understanding, context, decision, responses, served_at, timer,
                             vector)

    def retrieve(self, inp: ArmInput, decision: Decision) -> dict[str, dict[str, Any]]:
        """Arm name → engine response, for the chosen arms that apply (one msearch)."""
        return self._msearch(self._render(inp, decision))

    def _msearch(self, bodies: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return dict(zip(bodies, self.engine.msearch(list(bodies.values()))))

    def assemble(self, impression_id: str, request: SearchRequest, understanding: Understanding,
                 context: PolicyContext, decision: Decision, responses: Mapping[str, Mapping[str, Any]],
                 served_at: float, timer: Timer | None = None, vector: np.ndarray | None = None) -> SearchResult:
        """The rest of a search once the arms answered: union → rank → collapse → confidence.
        The simulator calls it with slices of deeper responses, so its pages are served ones."""
        timer = timer or Timer()
        candidates, arm_results = union(responses, decision.allocations)
        timer.lap("union")
        scores, ranker_name = self._rank(request.query, understanding, candidates, vector)
        challenger, teams = "", {}
        if self._interleaves(impression_id, candidates):
            scores, ranker_name, challenger, teams = self._interleave(impression_id, request.query, understanding,
                                                                      candidates, scores, ranker_name, vector)
        timer.lap("rank")

        page, variants = collapse(candidates, scores, request.k)
        confidence, no_match = page_confidence(understanding, (candidates[i].source for i in page))
        return SearchResult(
            impression_id=impression_id, request=request, understanding=understanding,
            context=context, decision=decision, arm_results=tuple(arm_results),
            candidates=tuple(candidates), scores=tuple(float(s) for s in scores), page=tuple(page),
            ranker=ranker_name, variants=variants, confidence=confidence, no_match=no_match,
            timings_ms=timer.total(), served_at=served_at, challenger=challenger, teams=teams, vector=vector,
        )

    def _interleaves(self, impression_id: str, candidates: list[Candidate]) -> bool:
        return (self.challenger is not None and bool(candidates)
                and zlib.crc32(f"interleave:{impression_id}".encode()) % 10_000 < self.interleave_share * 10_000)

    def _interleave(self, impression_id: str, text: str, u: Understanding, candidates: list[Candidate],
                    scores: list[float], ranker_name: str,
                    vector: np.ndarray | None) -> tuple[list[float], str, str, dict[str, str]]:
        """Team-draft interleave the serving ranking with the challenger's; the returned
        scores order the candidates as interleaved (collapse keeps that order)."""
        assert self.challenger is not None
        try:
            theirs = self.challenger.score(self.engine, text, u, candidates, vector)
        except (EngineError, RuntimeError) as exc:  # a failing challenger never costs the page
            log.warning("challenger %s failed, page not interleaved: %s", label(self.challenger), exc)
            return scores, ranker_name, "", {}
        mine = sorted(range(len(candidates)), key=lambda i: -scores[i])
        other = sorted(range(len(candidates)), key=lambda i: -theirs[i])
        order, picked = team_draft(mine, other, len(candidates), random.Random(self.seed_of(impression_id)))
        interleaved = [0.0] * len(candidates)
        for position, i in enumerate(order):
            interleaved[i] = float(len(order) - position)
        teams = {candidates[i].id: team for i, team in zip(order, picked)}
        return interleaved, f"interleaved({ranker_name} vs {label(self.challenger)})", label(self.challenger), teams

    def arm_bodies(self, query: str, seed: int = 0) -> dict[str, dict[str, Any]]:
        """Arm name → the search body `search` would send for `query` (bench, tools)."""
        understanding = understand(query, self.gazetteer)
        context = policy_context(understanding, SearchRequest(query), self.clock())
        decision = self.policy.choose(context, self.available())
        vector = self._embed(query, decision)
        return self._render(ArmInput(query, understanding, vector, seed, self.catalog), decision)

    # -- stages ---------------------------------------------------------------------------

    def available(self) -> list[str]:
        """Arms that can run here: the semantic arm needs an encoder."""
        return [name for name, arm in self.arms.items() if not (arm.needs_vector and self.encoder is None)]

    def warm(self) -> None:
        """Load what searches load lazily (the query model, the gazetteer's derived tables,
        first-use code paths), so a server is fast from its first request: one search with
        every arm, on a copy whose policy is a fresh StaticPolicy (this one's state and RNG
        are untouched)."""
        if self.encoder is not None:
            self.encoder.load()
        replace(self, policy=StaticPolicy(), new_id=lambda: "warm-up").search(SearchRequest(query=WARM_QUERY))

    def _needs_vector(self, decision: Decision) -> bool:
        return any(self.arms[a].needs_vector for a in decision.chosen)

    def _embed(self, text: str, decision: Decision):
        return self.encoder.encode_query(text) if self.encoder and self._needs_vector(decision) else None

    def _render(self, inp: ArmInput, decision: Decision) -> dict[str, dict[str, Any]]:
        """Arm name → search body, for the chosen arms that apply to this query (rendered for
        this engine: its flavor's templates, its memory's clause)."""
        if inp.memory != self.memory:
            inp = replace(inp, memory=self.memory)
        bodies = {}
        for name in decision.chosen:
            body = self.arms[name].render(inp, decision.allocations[name], self.flavor)
            if body is not None:
                bodies[name] = body
        return bodies

    def _rank(self, text: str, u: Understanding, candidates: list[Candidate],
              vector: np.ndarray | None) -> tuple[list[float], str]:
        if not candidates:
            return [], "none"
        ranker = self.ranker  # one read: the model follower may swap it meanwhile
        try:
            scores = ranker.score(self.engine, text, u, candidates, vector)
        except (EngineError, RuntimeError) as exc:
            # a ranking fault degrades to fusion; the response (and /healthz) names it
            log.warning("ranker %s failed, falling back to %s: %s", label(ranker), self.fallback.kind, exc)
            self.ranker_fault = f"{label(ranker)}: {exc}"
            scores = self.fallback.score(self.engine, text, u, candidates, vector)
            return pin_confirmed(candidates, scores), fallback_label(ranker, self.fallback)
        self.ranker_fault = None
        # pairs the Q2E memory confirmed lead the page, whatever ranked it (ranking/memory.py)
        return pin_confirmed(candidates, scores), label(ranker)
