"""From per-(arm, depth) values to a depth per arm: the cost-aware, budgeted choice.

Given values v[a, d] (a sampled or estimated P(arm a's list within depth d holds what the
user wants)), each arm takes the depth with the best utility v[a, d] − cost · d, or none
when no depth is worth its candidates (utility ≤ 0). If the chosen depths exceed the
candidate budget, the step down that loses the least utility per candidate saved is taken,
repeatedly, until they fit. Everything is vectorized over many value draws at once: the
same function serves the decision and the propensity estimate (the share of posterior
draws that lead to each arm's chosen depth).
"""

from __future__ import annotations

import numpy as np


def allocate(values: np.ndarray, depths: np.ndarray, cost: float, budget: int) -> np.ndarray:
    """Depth index per draw and arm (−1 = do not run) for `values` of shape (draws, arms, D).

    >>> v = np.array([[[0.9, 0.9], [0.1, 0.6], [0.01, 0.02]]])   # 3 arms, depths 10 and 50
    >>> allocate(v, np.array([10, 50]), cost=0.005, budget=100).tolist()
    [[0, 1, -1]]
    >>> allocate(v, np.array([10, 50]), cost=0.005, budget=50).tolist()   # 60 > 50: arm 1 steps down
    [[0, 0, -1]]
    """
    n_draws, n_arms, _ = values.shape
    utility = values - cost * depths[None, None, :]
    best = utility.argmax(axis=2)
    best_utility = np.take_along_axis(utility, best[..., None], axis=2)[..., 0]
    choice = np.where(best_utility > 0, best, -1)
    sizes = np.concatenate([[0], depths])  # choice + 1 indexes this
    padded = np.concatenate([np.zeros((n_draws, n_arms, 1)), utility], axis=2)
    for _ in range(n_arms * len(depths)):
        total = sizes[choice + 1].sum(axis=1)
        over = total > budget
        if not over.any():
            break
        rows = np.flatnonzero(over)
        current = choice[rows]
        lower = _step_down(utility[rows], current)
        loss = np.take_along_axis(padded[rows], current[..., None] + 1, axis=2)[..., 0] \
            - np.take_along_axis(padded[rows], lower[..., None] + 1, axis=2)[..., 0]
        saved = sizes[current + 1] - sizes[lower + 1]
        ratio = np.where(saved > 0, loss / np.maximum(saved, 1), np.inf)
        arm = ratio.argmin(axis=1)
        choice[rows, arm] = lower[np.arange(len(rows)), arm]
    return choice


def _step_down(utility: np.ndarray, current: np.ndarray) -> np.ndarray:
    """For each arm, the best-utility depth index strictly shallower than `current` (or −1
    when none beats not running the arm)."""
    n_depths = utility.shape[-1]
    shallower = np.arange(n_depths)[None, None, :] < current[..., None]
    masked = np.where(shallower, utility, -np.inf)
    best = masked.argmax(axis=-1)
    best_utility = np.take_along_axis(masked, best[..., None], axis=-1)[..., 0]
    return np.where(best_utility > 0, best, -1)
