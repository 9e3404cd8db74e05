"""`es-ltrr simulate`: every policy on the same simulated users, one table, optional plots.

Policies: `all_arms` (the static allocation), `best_single` (the one arm and depth that was
best in hindsight on the learning stream), `uniform` (random arms and depths at Thompson's
mean candidate count), `epsilon_greedy` and `ucb` (same posteriors as Thompson, other
exploration), `thompson` (the product's policy) and `oracle` (knows which arms hold a
relevant entity; the cheapest single arm and depth that finds it).

MRR and nDCG@10 of the served pages are computed with ir-measures (graded qrels from the
simulated users: target 3, other relevant 2, related 1; MRR counts grade ≥ 2).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ...common.extras import require
from ...retrieval.policy import (
    DEFAULT_DEPTHS,
    LEARNING_POLICIES,
    EpsilonGreedyPolicy,
    StaticPolicy,
    ThompsonPolicy,
    UCBPolicy,
    UniformPolicy,
)
from ...search.pipeline import Searcher
from .clicks import ClickModel
from .http import run_http
from .runner import (
    PolicyRun,
    Trial,
    best_single_arm,
    oracle_decision,
    oracle_objectives,
    policy_chooser,
    policy_options,
    retrieve_all,
    run_policy,
)
from .users import QueryGenerator

#: What the simulator compares: two static references, every learning policy, the oracle.
POLICY_NAMES = ("all_arms", "best_single", *LEARNING_POLICIES, "oracle")
_EXTRA = {"extra": "simulate", "what": "the simulator's metrics (ir-measures)"}
#: Learning searches per point of the learning curve.
LEARNING_WINDOW = 500


@dataclass
class SimulationConfig:
    queries: int = 5000
    report_queries: int = 1000
    seed: int = 1
    policies: Sequence[str] = POLICY_NAMES
    cost: float = 0.004
    budget: int = 100
    burn_in: int = 300
    depths: Sequence[int] = DEFAULT_DEPTHS
    progress: bool = True
    #: A running `es-ltrr serve` to simulate through (its policy instead of in-process ones).
    http: str | None = None


@dataclass
class SimulationResult:
    config: SimulationConfig
    runs: dict[str, PolicyRun]
    metrics: dict[str, dict[str, float]]
    seconds: dict[str, float] = field(default_factory=dict)
    learned: dict[str, Any] = field(default_factory=dict)  # policy name → the Policy after learning

    def learning_curve(self, window: int = LEARNING_WINDOW) -> dict[str, list[float]]:
        """Per run, the mean page nDCG@10 of each `window` consecutive learning searches: how
        good the pages were while the policy learned (the static allocation's beside it)."""
        return {name: [round(float(np.mean([o.ndcg10 for o in run.stream[i:i + window]])), 4)
                       for i in range(0, len(run.stream), window)]
                for name, run in self.runs.items() if run.stream and name != "oracle"}

    def to_json(self) -> dict[str, Any]:
        return {
            "policies": {name: {k: round(v, 4) for k, v in m.items()} for name, m in self.metrics.items()},
            "learning_curve": {"window": LEARNING_WINDOW, "ndcg10": self.learning_curve()},
            "labels": {name: run.label for name, run in self.runs.items()},
            "queries": self.config.queries, "report_queries": self.config.report_queries,
            "seed": self.config.seed, "cost": self.config.cost, "budget": self.config.budget,
            "seconds": {k: round(v, 1) for k, v in self.seconds.items()},
        }


def simulate(searcher: Searcher, entities: list[dict], config: SimulationConfig,
             say: Callable[[str], None] = print) -> SimulationResult:
    """Generate users, retrieve once, run every policy, measure."""
    unknown = set(config.policies) - set(POLICY_NAMES) - ({"http"} if config.http else set())
    if unknown:
        raise ValueError(f"unknown policies: {', '.join(sorted(unknown))} (policies: {', '.join(POLICY_NAMES)})")
    ir_measures = require("ir_measures", **_EXTRA)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    users = QueryGenerator(entities, seed=config.seed)
    stream_q = users.generate(config.queries, holdout=False, seed=config.seed)
    report_q = users.generate(config.report_queries, holdout=True, seed=config.seed + 1)
    depth = max(config.depths)
    stream = retrieve_all(searcher, stream_q, depth, progress=config.progress, desc="retrieving (learning)")
    report = retrieve_all(searcher, report_q, depth, start=stream[-1].served_at if stream else 0.0,
                          progress=config.progress, desc="retrieving (report)")
    seconds["retrieve"] = time.perf_counter() - start
    available = searcher.available()
    oracle_s = oracle_objectives(stream, available, config.depths, config.cost)
    oracle_r = oracle_objectives(report, available, config.depths, config.cost)
    clicks = ClickModel()
    if config.http:
        t = time.perf_counter()
        served = run_http(config.http, stream, report, oracle_s, oracle_r, config.cost, clicks, config.seed,
                          config.progress)
        seconds["http"] = time.perf_counter() - t
        runs = {"http": served}
        if "all_arms" in config.policies:  # the static allocation on the same users: the curve's baseline
            runs["all_arms"] = run_policy(searcher, "all_arms", policy_chooser(StaticPolicy(), available), None, stream,
                                          report, oracle_s, oracle_r, config.cost, clicks, config.seed,
                                          progress=config.progress)
        if "oracle" in config.policies:
            runs["oracle"] = run_policy(searcher, "oracle", lambda t: oracle_decision(t, available, config.depths), None,
                                        stream, report, oracle_s, oracle_r, config.cost, clicks, config.seed,
                                        progress=config.progress)
        metrics = {name: measure(r, report, ir_measures, config.burn_in) for name, r in runs.items()}
        return SimulationResult(config, runs, metrics, seconds, {})
    hyper = policy_options(config)

    def run(name: str, choose, learner=None, label: str | None = None) -> PolicyRun:
        t = time.perf_counter()
        result = run_policy(searcher, name, choose, learner, stream, report, oracle_s, oracle_r, config.cost,
                            clicks, config.seed, label, progress=config.progress)
        seconds[name] = time.perf_counter() - t
        return result

    runs: dict[str, PolicyRun] = {}
    learned: dict[str, Any] = {}
    wanted = set(config.policies) | ({"thompson"} if {"uniform", "epsilon_greedy"} & set(config.policies) else set())
    if "all_arms" in wanted:
        runs["all_arms"] = run("all_arms", policy_chooser(StaticPolicy(), available))
    if "oracle" in wanted:
        runs["oracle"] = run("oracle", lambda t: oracle_decision(t, available, config.depths))
    if "best_single" in wanted:
        arm, d = best_single_arm(stream, available, config.depths, config.cost)
        single = StaticPolicy({arm: d})
        runs["best_single"] = run("best_single", policy_chooser(single, available), label=f"best_single ({arm}@{d})")
    if "thompson" in wanted:
        learned["thompson"] = ThompsonPolicy(seed=config.seed, **hyper)
        runs["thompson"] = run("thompson", policy_chooser(learned["thompson"], available), learned["thompson"])
    # the candidates Thompson added beyond the floors: what the random controls add on average
    budget = (max(0.0, float(np.mean([o.candidates for o in runs["thompson"].report])) - floors_union(report, learned["thompson"]))
              if "thompson" in runs else 30.0)
    if "uniform" in wanted:
        uniform = UniformPolicy(seed=config.seed, mean_candidates=budget, **{**hyper, "burn_in": 0})
        runs["uniform"] = run("uniform", policy_chooser(uniform, available), label=f"uniform (mean {budget:.0f} added)")
    if "epsilon_greedy" in wanted:
        learned["epsilon_greedy"] = EpsilonGreedyPolicy(seed=config.seed, explore_candidates=budget, **hyper)
        runs["epsilon_greedy"] = run("epsilon_greedy", policy_chooser(learned["epsilon_greedy"], available),
                                     learned["epsilon_greedy"])
    if "ucb" in wanted:
        learned["ucb"] = UCBPolicy(seed=config.seed, **hyper)
        runs["ucb"] = run("ucb", policy_chooser(learned["ucb"], available), learned["ucb"])
    runs = {name: runs[name] for name in POLICY_NAMES if name in runs and name in config.policies}
    metrics = {name: measure(r, report, ir_measures, config.burn_in) for name, r in runs.items()}
    return SimulationResult(config, runs, metrics, seconds, learned)


def floors_union(trials: Sequence[Trial], policy: Any) -> float:
    """Mean candidates of the floors alone (every arm at its floor) over `trials`."""
    floors = getattr(policy, "floors", {})
    return float(np.mean([len({i for arm, floor in floors.items() for i in t.arm_ids(arm)[:floor]}) for t in trials]))


def measure(run: PolicyRun, report: Sequence[Trial], ir_measures: Any, burn_in: int = 0) -> dict[str, float]:
    """Report-set quality and cost, plus the learning stream's cumulative regret and its
    per-query rate in the first and the last fifth of the stream after burn-in (a learner's
    rate falls; against the clairvoyant oracle it cannot reach 0)."""
    qrels = [ir_measures.Qrel(str(i), doc, grade) for i, t in enumerate(report)
             for doc, grade in t.query.grades.items() if grade > 0]
    scored = [ir_measures.ScoredDoc(str(i), doc, float(len(o.page) - rank))
              for i, o in enumerate(run.report) for rank, doc in enumerate(o.page)]
    ndcg, rr = ir_measures.nDCG @ 10, ir_measures.RR(rel=2)
    quality = ir_measures.calc_aggregate([ndcg, rr], qrels, scored) if scored else {}
    regret = run.regret_curve()
    steps = np.diff(regret, prepend=0.0)[burn_in:]
    fifth = max(1, len(steps) // 5)
    return {
        "recall": float(np.mean([o.found for o in run.report])),
        "mrr": float(quality.get(rr, 0.0)),
        "ndcg10": float(quality.get(ndcg, 0.0)),
        "candidates": float(np.mean([o.candidates for o in run.report])),
        "requested": float(np.mean([o.requested for o in run.report])),
        "regret": float(regret[-1]) if len(regret) else 0.0,
        "stream_recall": float(np.mean([o.found for o in run.stream])) if run.stream else 0.0,
        "regret_rate_early": float(steps[:fifth].mean()) if len(steps) else 0.0,
        "regret_rate_late": float(steps[-fifth:].mean()) if len(steps) else 0.0,
    }
