"""Learning never serves worse pages: a learned policy serves only once it is shown no worse
than the static allocation on searches it has not learned from.

The evidence is off-policy (`ope.py`). Every `every` logged searches the guard keeps a
snapshot of the learned policy; on the searches logged after that snapshot — which it has
not learned from — it estimates, search by search, the page gain beyond the floors the
snapshot would have earned and the static allocation would have (doubly robust, prefix
rule), and the mean difference's one-sided 95 % bounds:

* the learned policy starts serving once the **lower** bound is above −`tolerance`: the page
  gain it may give up per search, on average, for the candidates it saves;
* it stops — the static allocation serves — once the **upper** bound falls below
  −`tolerance`: shown worse. In between the verdict stands (trust needs evidence either way,
  so a wide interval after the policy changed what it logs does not flip it back and forth).

Until the first verdict, and whenever it is "not shown no worse", searches get the static
allocation (every arm at its default depth: reciprocal-rank fusion's candidates), and the
policy keeps learning from every one of them; their deep lists observe every shallower depth,
so they are the evidence that lets it serve.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .base import Policy, ServedSearch
from .ope import depth_distribution, fit_direct, logged_batch, weights
from .static import StaticPolicy

#: One-sided 95 %.
Z = 1.645


@dataclass(frozen=True)
class Verdict:
    """Whether the learned policy serves, and the evidence it was decided on."""

    trusted: bool
    #: Mean page gain per search of the learned snapshot minus the static allocation's, and
    #: its one-sided 95 % bounds, over `searches` held-out searches (0: no verdict yet).
    difference: float = 0.0
    lower: float = 0.0
    upper: float = 0.0
    searches: int = 0
    reason: str = "no evidence yet: the static allocation serves"

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def compare(snapshot: Policy, records: Sequence[ServedSearch], engagements: Sequence[Mapping[str, float]],
            arms: Sequence[str], depths: Sequence[int], floors: Mapping[str, int]) -> tuple[float, float, int]:
    """Mean per-search DR difference (snapshot − static) of the page gain beyond the floors,
    its standard error, and the number of searches."""
    batch = logged_batch(records, engagements, arms, depths, floors)
    static = StaticPolicy()
    targets = {}
    for name, policy in (("learned", snapshot), ("static", static)):
        decisions = [policy.choose(c, list(arms)) for c in batch.contexts]
        targets[name] = np.array([[depth_distribution(d, arm, batch.menu) for arm in batch.arms] for d in decisions])
    q = fit_direct(batch)
    r = np.nan_to_num(batch.rewards)
    terms = {}
    for name, target in targets.items():
        w = weights(batch, target, "prefix")
        terms[name] = (target * q).sum(axis=(1, 2)) + (w * (r - q)).sum(axis=(1, 2))
    diff = terms["learned"] - terms["static"]
    n = len(diff)
    se = float(diff.std(ddof=1) / np.sqrt(n)) if n > 1 else float("inf")
    return float(diff.mean()), se, n


def decide(previous: Verdict, difference: float, se: float, searches: int, tolerance: float,
           min_searches: int) -> Verdict:
    """The new verdict from one comparison (module docstring: trust on the lower bound, revoke
    on the upper bound, otherwise keep the previous verdict).

    >>> v = decide(Verdict(False), -0.001, 0.004, 500, 0.02, 200)
    >>> v.trusted, v.reason.startswith("shown no worse")
    (True, True)
    >>> decide(v, -0.03, 0.004, 500, 0.02, 200).trusted
    False
    >>> decide(v, -0.02, 0.02, 500, 0.02, 200).trusted   # unsure either way: the verdict stands
    True
    """
    lower, upper = difference - Z * se, difference + Z * se
    found = dict(difference=difference, lower=lower, upper=upper, searches=searches)
    if searches < min_searches:
        return Verdict(previous.trusted, reason=f"{searches} held-out searches, fewer than {min_searches}: "
                       f"{'the learned policy' if previous.trusted else 'the static allocation'} serves")
    if lower >= -tolerance:
        return Verdict(True, **found, reason=f"shown no worse than the static allocation: page gain difference "
                       f"{difference:+.4f} ≥ {lower:+.4f} (95 %) > −{tolerance}")
    if upper < -tolerance:
        return Verdict(False, **found, reason=f"shown worse than the static allocation: page gain difference "
                       f"{difference:+.4f} ≤ {upper:+.4f} (95 %) < −{tolerance}")
    return Verdict(previous.trusted, **found, reason=f"not decided ({lower:+.4f} … {upper:+.4f} around "
                   f"−{tolerance}): {'the learned policy' if previous.trusted else 'the static allocation'} serves")
