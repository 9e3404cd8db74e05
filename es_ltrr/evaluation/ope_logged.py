"""Off-policy evaluation on the real feedback log (`es-ltrr ope --from-log`).

Each logged impression holds what the estimators need (`policy/ope.py`): the context, the
decision with every arm's depth distribution, every executed arm's full list; the events
say which entities users engaged with. There is no on-policy truth here — the simulator's
`es-ltrr ope` is where the estimators are checked against one.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from tabulate import tabulate
from tqdm import tqdm

from ..feedback.store import FeedbackStore
from ..retrieval.arms import ARMS
from ..retrieval.policy import Policy
from ..retrieval.policy.ope import LoggedBatch, OpeResult, estimate_all, logged_batch, target_distributions


def log_batch(store: FeedbackStore, depths: Sequence[int], floors: Mapping[str, int] | None = None) -> LoggedBatch:
    """The whole log as a batch over the arms its decisions name (registry order); rewards are
    the page gains beyond `floors` (the serving policy's: default, each arm's own)."""
    pairs = list(store.engaged_impressions())
    if not pairs:
        raise ValueError(f"the feedback log {store.path} holds no impressions: serve searches first")
    named = {arm for impression, _ in pairs for arm in impression.decision.allocations}
    arms = [arm for arm in ARMS if arm in named]
    return logged_batch([i for i, _ in pairs], [e for _, e in pairs], arms, depths, floors)


def estimate_log(batch: LoggedBatch, targets: Mapping[str, Policy], rules: Sequence[str] = ("prefix",),
                 clip: float | None = None, seed: int = 0, progress: bool = True) -> dict[str, dict[str, OpeResult]]:
    """Rule → target → DM, IPS, SNIPS and DR of every target on the logged searches (each
    target decides once per logged context; every rule reads the same decisions)."""
    distributions = {}
    for name, policy in targets.items():
        contexts = tqdm(batch.contexts, desc=f"{name:>15}", unit="search", disable=not progress, mininterval=2.0)
        distributions[name] = target_distributions([policy.choose(c, batch.arms) for c in contexts], batch)
    return {rule: estimate_all(batch, distributions, rule, clip, seed=seed) for rule in rules}


def estimates_table(results: Mapping[str, OpeResult], logged_value: float, n: int) -> str:
    """The --from-log table: estimates only (a real log has no on-policy truth)."""
    rows = [[name, est, f"{e.value:.4f} ± {e.se:.4f}", f"{r.ess:.0f}", f"{r.max_weight:.1f}", f"{r.unsupported:.1%}"]
            for name, r in results.items() for est, e in r.estimates.items()]
    return (f"{n} logged searches (their own value {logged_value:.4f})\n"
            + tabulate(rows, headers=["target", "estimator", "estimate ± se", "ESS", "max w", "unsupported"]))
