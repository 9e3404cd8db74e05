"""`es-ltrr ope`: off-policy estimates checked against the truth the simulator can measure.

A stochastic **logging policy** serves simulated users (its decisions, propensities,
arm lists and the users' engagement form the log, as `logs/feedback.sqlite3` would hold
them); every **target policy** is estimated from that log with DM, IPS, SNIPS and DR
(`policy/ope.py`), then served **on-policy** to fresh users from the same distribution for
its true value under the same reward. The table's relative error per target × estimator
is the issue's question: how far is what the log says from what the policy would earn?

Targets: `all_arms` (the static allocation), `best_single` (the best arm and depth in
hindsight on the learning users), `thompson` (learned on-policy on the learning users,
then frozen; sampled as served), `thompson_greedy` (the same posterior, its mean's
allocation), `uniform` (random arms at another mean candidate count than the logger's).

Engagement: `clicks` (the click model on the served page, what a real log holds: an arm's
reward then depends a little on the page the other arms made, a bias no estimator can
remove) or `relevant` (the user's relevant entities, page-independent: the estimators'
assumptions hold exactly, so their error is theirs alone).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from tqdm import tqdm

from ..retrieval.policy import DEFAULT_DEPTHS, EpsilonGreedyPolicy, Policy, StaticPolicy, ThompsonPolicy, UniformPolicy
from ..retrieval.policy.ope import RULES, OpeResult, estimate_all, logged_batch, on_record_value, target_distributions
from ..search.pipeline import Searcher
from ..search.record import SearchResult
from .simulation.clicks import ClickModel
from .simulation.runner import Trial, best_single_arm, policy_options, retrieve_all, sliced
from .simulation.users import QueryGenerator

TARGETS = ("all_arms", "best_single", "thompson", "thompson_greedy", "uniform")
LOGGERS = ("uniform", "epsilon_greedy", "thompson")
ENGAGEMENT = ("clicks", "relevant")


@dataclass
class OpeConfig:
    queries: int = 4000          # logged searches
    truth_queries: int = 2000    # fresh users each target is served to on-policy
    learn_queries: int = 1500    # users the learned targets learn on (before logging)
    log_policy: str = "uniform"
    log_candidates: float = 60.0
    targets: Sequence[str] = TARGETS
    target_candidates: float = 50.0  # the uniform target's mean candidates
    engagement: str = "clicks"
    rules: Sequence[str] = ("prefix", "depth")
    clip: float | None = None
    seed: int = 1
    cost: float = 0.004
    budget: int = 100
    burn_in: int = 300
    depths: Sequence[int] = DEFAULT_DEPTHS
    progress: bool = True

    def check(self) -> None:
        unknown = set(self.targets) - set(TARGETS)
        if unknown:
            raise ValueError(f"unknown targets: {', '.join(sorted(unknown))} (targets: {', '.join(TARGETS)})")
        if self.log_policy not in LOGGERS:
            raise ValueError(f"log policy must be one of {', '.join(LOGGERS)}, got {self.log_policy!r}")
        if self.engagement not in ENGAGEMENT:
            raise ValueError(f"engagement must be one of {', '.join(ENGAGEMENT)}, got {self.engagement!r}")
        if not self.rules or set(self.rules) - set(RULES):
            raise ValueError(f"rules must be among {', '.join(RULES)}, got {', '.join(self.rules) or 'none'}")
        numbers = {"cost": self.cost, "log candidates": self.log_candidates,
                   "target candidates": self.target_candidates, "clip": 1.0 if self.clip is None else self.clip}
        bad = [f"{name} {value!r}" for name, value in numbers.items() if not (math.isfinite(value) and value >= 0)]
        if bad or self.budget < 0 or self.clip == 0:
            raise ValueError(f"cost, candidates, budget and clip must be finite and positive: "
                             f"{', '.join(bad) or f'budget {self.budget}, clip {self.clip}'}")
        if min(self.queries, self.truth_queries) < 2 or self.learn_queries < 1:
            raise ValueError("queries and truth queries must be at least 2, learn queries at least 1")


@dataclass
class TargetReport:
    """One target: its off-policy estimates (per observation rule) and its on-policy value."""

    label: str
    ope: dict[str, OpeResult]
    truth: float
    truth_se: float
    candidates: float
    #: The target served on-policy to the *logged* users (their own clicks on its pages):
    #: without the fresh sample's noise, what is left of the gap is the estimator's.
    truth_logged: float = float("nan")

    def relative_error(self, estimator: str, rule: str = "prefix") -> float:
        value = self.ope[rule].estimates[estimator].value
        return (value - self.truth) / self.truth if self.truth else float("nan")

    def logged_users_error(self, estimator: str, rule: str = "prefix") -> float:
        value = self.ope[rule].estimates[estimator].value
        return (value - self.truth_logged) / self.truth_logged if self.truth_logged else float("nan")

    def z(self, estimator: str, rule: str = "prefix") -> float:
        """(estimate − truth) in standard errors of the difference: |z| ≲ 2 is noise, more is bias."""
        e = self.ope[rule].estimates[estimator]
        se = float(np.hypot(e.se, self.truth_se))
        return (e.value - self.truth) / se if se > 0 else float("nan")

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "truth": round(self.truth, 5), "truth_se": round(self.truth_se, 5),
                "candidates": round(self.candidates, 1), "truth_logged_users": round(self.truth_logged, 5),
                "rules": {rule: {**r.to_json(),
                                 "relative_error": {k: round(self.relative_error(k, rule), 4) for k in r.estimates},
                                 "relative_error_logged_users": {k: round(self.logged_users_error(k, rule), 4)
                                                                 for k in r.estimates},
                                 "z": {k: round(self.z(k, rule), 2) for k in r.estimates}}
                          for rule, r in self.ope.items()}}


@dataclass
class OpeReport:
    config: OpeConfig
    logged_value: float
    targets: dict[str, TargetReport] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        c = self.config
        return {"log_policy": c.log_policy, "queries": c.queries, "truth_queries": c.truth_queries,
                "learn_queries": c.learn_queries, "engagement": c.engagement, "clip": c.clip,
                "seed": c.seed, "logged_value": round(self.logged_value, 5),
                "targets": {name: t.to_json() for name, t in self.targets.items()}}


def run_ope(searcher: Searcher, entities: list[dict], config: OpeConfig,
            say: Callable[[str], None] = print) -> OpeReport:
    """Learn the learned targets, log with the logger, estimate every target, serve each on-policy."""
    config.check()
    available = searcher.available()
    users = QueryGenerator(entities, seed=config.seed)
    depth = max(config.depths)
    learn = retrieve_all(searcher, users.generate(config.learn_queries, seed=config.seed), depth,
                         progress=config.progress, desc="retrieving (learning)")
    log = retrieve_all(searcher, users.generate(config.queries, seed=config.seed + 1), depth,
                       progress=config.progress, desc="retrieving (log)")
    truth = retrieve_all(searcher, users.generate(config.truth_queries, seed=config.seed + 2), depth,
                         progress=config.progress, desc="retrieving (truth)")
    clicks = ClickModel()
    targets, labels = _targets(searcher, learn, config, clicks, available)
    logger = _logger(config)
    records, engagements = _serve(searcher, log, logger, config, clicks, "log", learn=True)
    batch = logged_batch(records, engagements, available, config.depths)
    say(f"logged {len(batch)} searches with {config.log_policy}; estimating {len(targets)} targets")
    distributions = {name: target_distributions([p.choose(c, available) for c in batch.contexts], batch)
                     for name, p in targets.items()}
    results = {rule: estimate_all(batch, distributions, rule, config.clip, seed=config.seed) for rule in config.rules}
    report = OpeReport(config, float(batch.logged_value().mean()))
    for name, policy in targets.items():
        served, engaged = _serve(searcher, truth, policy, config, clicks, name, learn=False)
        values = np.array([on_record_value(r, e) for r, e in zip(served, engaged)])
        same = _serve(searcher, log, policy, config, clicks, f"{name} (logged users)", learn=False)
        report.targets[name] = TargetReport(labels[name], {rule: results[rule][name] for rule in config.rules},
                                            float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values))),
                                            float(np.mean([r.decision.candidates_requested for r in served])),
                                            float(np.mean([on_record_value(r, e) for r, e in zip(*same)])))
    return report


def _targets(searcher: Searcher, learn: Sequence[Trial], config: OpeConfig, clicks: ClickModel,
             available: Sequence[str]) -> tuple[dict[str, Policy], dict[str, str]]:
    hyper = policy_options(config)
    wanted = set(config.targets)
    targets: dict[str, Policy] = {}
    labels = {name: name for name in config.targets}
    if "all_arms" in wanted:
        targets["all_arms"] = StaticPolicy()
    if "best_single" in wanted:
        arm, d = best_single_arm(learn, available, config.depths, config.cost)
        targets["best_single"], labels["best_single"] = StaticPolicy({arm: d}), f"best_single ({arm}@{d})"
    if wanted & {"thompson", "thompson_greedy"}:
        thompson = ThompsonPolicy(seed=config.seed, **hyper)
        _serve(searcher, learn, thompson, config, clicks, "learn", learn=True)
        targets["thompson"] = thompson
        if "thompson_greedy" in wanted:
            greedy = EpsilonGreedyPolicy(seed=config.seed, epsilon=0.0, **hyper)
            greedy.models, greedy.n_updates_ = thompson.models, thompson.n_updates_
            targets["thompson_greedy"] = greedy
    if "uniform" in wanted:
        targets["uniform"] = UniformPolicy(seed=config.seed + 7, mean_candidates=config.target_candidates,
                                           **{**hyper, "burn_in": 0})
        labels["uniform"] = f"uniform (mean {config.target_candidates:.0f})"
    return {name: targets[name] for name in config.targets if name in targets}, labels


def _logger(config: OpeConfig) -> Policy:
    hyper = {**policy_options(config), "seed": config.seed + 3}
    if config.log_policy == "uniform":
        return UniformPolicy(mean_candidates=config.log_candidates, **{**hyper, "burn_in": 0})
    if config.log_policy == "epsilon_greedy":
        return EpsilonGreedyPolicy(epsilon=0.2, explore_candidates=config.log_candidates, **hyper)
    return ThompsonPolicy(**hyper)


def _serve(searcher: Searcher, trials: Sequence[Trial], policy: Policy, config: OpeConfig, clicks: ClickModel,
           name: str, learn: bool) -> tuple[list[SearchResult], list[dict[str, float]]]:
    """Serve `trials` with `policy` through the pipeline's tail; the users' engagement per
    search (the policy learns from it when `learn`; a frozen target does not)."""
    available = searcher.available()
    rng = random.Random(f"{config.seed}:{name}")
    records, engagements = [], []
    for i, trial in enumerate(tqdm(trials, desc=f"{name:>15}", unit="query", disable=not config.progress,
                                   mininterval=2.0)):
        decision = policy.choose(trial.context, available)
        record = searcher.assemble(f"{name}-{i}", trial.request, trial.understanding, trial.context, decision,
                                   sliced(trial.responses, decision.allocations), trial.served_at, vector=trial.vector)
        engagement = _engagement(record, trial, config.engagement, clicks, rng)
        if learn:
            policy.update(record, engagement)
        records.append(record)
        engagements.append(engagement)
    return records, engagements


def _engagement(record: SearchResult, trial: Trial, kind: str, clicks: ClickModel,
                rng: random.Random) -> dict[str, float]:
    if kind == "relevant":
        return {id_: 1.0 for id_ in trial.query.relevant}
    return clicks.engagement(clicks.clicks(record.ids, trial.query, rng), trial.query)


def table(report: OpeReport) -> str:
    """One row per target × estimator: estimate, on-policy value, relative error, z, ESS."""
    from tabulate import tabulate

    rows = []
    for name, t in report.targets.items():
        for i, (rule, r) in enumerate(t.ope.items()):
            for est, e in r.estimates.items():
                if est == "dm" and i:
                    continue  # the direct method does not depend on the rule
                rows.append([t.label, rule, est, f"{e.value:.4f} ± {e.se:.4f}", f"{t.truth:.4f} ± {t.truth_se:.4f}",
                             f"{t.relative_error(est, rule):+.1%}", f"{t.z(est, rule):+.1f}",
                             f"{t.truth_logged:.4f}", f"{t.logged_users_error(est, rule):+.1%}", f"{r.ess:.0f}",
                             f"{r.max_weight:.1f}", f"{r.unsupported:.1%}"])
    c = report.config
    head = (f"{c.queries} searches logged by {c.log_policy} (value {report.logged_value:.4f}); "
            f"{c.truth_queries} fresh users per target on-policy; engagement {c.engagement}, "
            f"clip {c.clip}, seed {c.seed}\n")
    return head + tabulate(rows, headers=["target", "rule", "estimator", "estimate ± se", "on-policy ± se", "rel. error",
                                          "z", "on logged users", "rel. error", "ESS", "max w", "unsupported"])

