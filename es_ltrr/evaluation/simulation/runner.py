"""The simulator: simulated users search the real catalog; policies choose arms and depths,
learn from the users' clicks, and are compared on held-out users.

Fast by construction: every arm runs **once** per query at the deepest menu depth
(`retrieve_all`), and each policy's search is that response sliced to its chosen depths and
finished by the real pipeline (`Searcher.assemble`: union → rank → collapse), so 5,000
queries × 7 policies cost one retrieval pass plus cheap slicing. Learning policies get
`update(record, engagement)` from the simulated clicks — the call the feedback loop makes.

Protocol: a **learning stream** of queries whose targets are outside the holdout (the
policies learn in order; regret is measured here), then a **report set** of queries on
held-out targets (policies frozen; recall, MRR, nDCG@10 and candidates are measured here).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
from tqdm import tqdm

from ...retrieval.arms import ArmInput
from ...retrieval.policy import DEFAULT_DEPTHS, Decision, Policy, PolicyContext, StaticPolicy
from ...search.pipeline import Searcher, policy_context
from ...search.record import SearchResult
from ...search.request import SearchRequest
from ...understanding import Understanding, understand
from .clicks import ClickModel
from .users import SimulatedQuery

#: Seconds since the epoch where simulated time starts, and the gap between two queries:
#: searches spread over weeks, so time-of-day and weekday features vary as in real traffic.
EPOCH, GAP_S = 1_767_225_600.0, 617.0


@dataclass
class Trial:
    """One simulated query with every arm's deepest response (what all policies slice)."""

    query: SimulatedQuery
    request: SearchRequest
    understanding: Understanding
    context: PolicyContext
    responses: dict[str, dict[str, Any]]
    served_at: float
    vector: np.ndarray | None = None

    def arm_ids(self, arm: str) -> list[str]:
        response = self.responses.get(arm) or {}
        return [h["_id"] for h in response.get("hits", {}).get("hits", [])]


def retrieve_all(searcher: Searcher, queries: Sequence[SimulatedQuery], depth: int, start: float = EPOCH,
                 progress: bool = True, desc: str = "retrieving") -> list[Trial]:
    """Run every available arm at `depth` for each query (one msearch per query)."""
    everything = StaticPolicy({arm: depth for arm in searcher.available()})
    trials = []
    for i, q in enumerate(tqdm(queries, desc=desc, unit="query", disable=not progress, mininterval=2.0)):
        request = SearchRequest(q.text)
        served_at = start + i * GAP_S
        u = understand(q.text, searcher.gazetteer)
        context = policy_context(u, request, served_at)
        decision = everything.choose(context, searcher.available())
        vector = searcher.encoder.encode_query(q.text) if searcher.encoder is not None else None
        inp = ArmInput(q.text, u, vector, seed=i, catalog=searcher.catalog)
        trials.append(Trial(q, request, u, context, searcher.retrieve(inp, decision), served_at, vector))
    return trials


def sliced(responses: Mapping[str, Mapping[str, Any]], allocations: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    """What each chosen arm would have returned at its depth: the first `n` of its deeper hits
    (arm queries are deterministic and ranked, so the top `n` of a deeper search are the
    search of depth `n`)."""
    out = {}
    for arm, n in allocations.items():
        if n > 0 and arm in responses:
            response = responses[arm]
            if "error" in response:
                out[arm] = dict(response)
            else:
                out[arm] = {**response, "hits": {**response["hits"], "hits": response["hits"]["hits"][:n]}}
    return out


# -- the simulator's own baselines: they look at the answer, so they are not servable -------

def oracle_decision(trial: Trial, available: Sequence[str], depths: Sequence[int]) -> Decision:
    """The cheapest single (arm, depth) whose list holds a relevant entity; nothing if none does."""
    best: tuple[int, str] | None = None
    for arm in available:
        ids = trial.arm_ids(arm)
        first = next((r for r, id_ in enumerate(ids, start=1) if id_ in trial.query.relevant), None)
        if first is None:
            continue
        depth = next(d for d in depths if d >= first) if first <= depths[-1] else None
        if depth is not None and (best is None or depth < best[0]):
            best = (depth, arm)
    allocations = {arm: (best[0] if best and arm == best[1] else 0) for arm in available}
    return Decision(allocations, {arm: 1.0 for arm in available}, "oracle")


def best_single_arm(trials: Sequence[Trial], available: Sequence[str], depths: Sequence[int],
                    cost: float) -> tuple[str, int]:
    """In hindsight over `trials`: the one (arm, depth) with the best mean objective."""
    scores = {}
    for arm in available:
        for depth in depths:
            found = np.mean([any(i in t.query.relevant for i in t.arm_ids(arm)[:depth]) for t in trials])
            scores[(arm, depth)] = found - cost * depth
    return max(scores, key=scores.get)


# -- running policies -----------------------------------------------------------------------

@dataclass
class Outcome:
    """What one policy did on one query."""

    found: bool
    candidates: int
    requested: int
    page: list[str]
    objective: float
    oracle_objective: float
    #: nDCG@10 of the page by the user's own grades: the page quality along the learning curve.
    ndcg10: float = 0.0


@dataclass
class PolicyRun:
    """One policy's outcomes on the learning stream and on the report set."""

    name: str
    label: str
    stream: list[Outcome] = field(default_factory=list)
    report: list[Outcome] = field(default_factory=list)

    def regret_curve(self) -> np.ndarray:
        return np.cumsum([o.oracle_objective - o.objective for o in self.stream])


Chooser = Callable[[Trial], Decision]


def page_ndcg(page: Sequence[str], grades: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k of a page by graded relevance (the same gain and discount ir-measures uses for
    nDCG: grade / log2(1 + rank)), 0 when nothing is relevant.

    >>> round(page_ndcg(["b", "a"], {"a": 3, "b": 1}), 4)
    0.7967
    """
    gains = [grades.get(doc, 0) / np.log2(rank + 1) for rank, doc in enumerate(page[:k], start=1)]
    ideal = [g / np.log2(rank + 1) for rank, g in enumerate(sorted(grades.values(), reverse=True)[:k], start=1)]
    return float(sum(gains) / sum(ideal)) if sum(ideal) > 0 else 0.0


def objective(found: bool, requested: int, cost: float) -> float:
    """The retrieval objective every policy is judged on: 1 for a relevant entity among the
    candidates, minus `cost` per candidate requested (what the learning policies trade)."""
    return float(found) - cost * requested


def play(searcher: Searcher, trial: Trial, decision: Decision, cost: float, oracle: float,
         impression_id: str) -> tuple[Outcome, SearchResult]:
    """Serve `trial` with `decision` through the real pipeline's tail; score it."""
    responses = sliced(trial.responses, decision.allocations)
    record = searcher.assemble(impression_id, trial.request, trial.understanding, trial.context, decision,
                               responses, trial.served_at, vector=trial.vector)
    ids = {c.id for c in record.candidates}
    found = bool(ids & trial.query.relevant)
    requested = sum(decision.allocations.values())
    return Outcome(found, len(ids), requested, record.ids, objective(found, requested, cost), oracle,
                   page_ndcg(record.ids, trial.query.grades)), record


def run_policy(searcher: Searcher, name: str, choose: Chooser, learner: Policy | None, stream: Sequence[Trial],
               report: Sequence[Trial], oracle_stream: Sequence[float], oracle_report: Sequence[float],
               cost: float, clicks: ClickModel, seed: int, label: str | None = None,
               progress: bool = True) -> PolicyRun:
    """Serve the stream (learning from clicks when `learner` is given), then the report set (frozen)."""
    run = PolicyRun(name, label or name)
    rng = random.Random(seed)
    for i, trial in enumerate(tqdm(stream, desc=f"{name:>14}", unit="query", disable=not progress, mininterval=2.0)):
        outcome, record = play(searcher, trial, choose(trial), cost, oracle_stream[i], f"{name}-s{i}")
        run.stream.append(outcome)
        if learner is not None:
            clicked = clicks.clicks(record.ids, trial.query, rng)
            learner.update(record, clicks.engagement(clicked, trial.query))
    for i, trial in enumerate(report):
        outcome, _ = play(searcher, trial, choose(trial), cost, oracle_report[i], f"{name}-r{i}")
        run.report.append(outcome)
    return run


def policy_chooser(policy: Policy, available: Sequence[str]) -> Chooser:
    return lambda trial: policy.choose(trial.context, available)


def oracle_objectives(trials: Iterable[Trial], available: Sequence[str], depths: Sequence[int], cost: float) -> list[float]:
    out = []
    for t in trials:
        d = oracle_decision(t, available, depths)
        requested = sum(d.allocations.values())
        out.append(objective(requested > 0, requested, cost))
    return out


__all__ = [
    "DEFAULT_DEPTHS", "Outcome", "PolicyRun", "Trial", "best_single_arm", "objective", "oracle_decision",
    "oracle_objectives", "play", "policy_chooser", "retrieve_all", "run_policy", "sliced",
]


def policy_options(config: Any) -> dict[str, Any]:
    """The learning policies' shared hyper-parameters as a simulated run configures them
    (`SimulationConfig`, `OpeConfig`): the one place they are read from a config."""
    return dict(cost=config.cost, budget=config.budget, burn_in=config.burn_in, depths=tuple(config.depths))
