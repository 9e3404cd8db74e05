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
    n_draws, n_arms, n_depths = values.shape
    if n_arms == 0 or n_depths == 0:
        return np.full((n_draws, n_arms), -1)
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


def allocate_union(values: np.ndarray, depths: np.ndarray, cost: float, budget: int) -> np.ndarray:
    """Depth index per draw and arm (−1 = not run), maximizing P(some chosen arm holds what the
    user wants) − cost · candidates, arms taken as independent given the context.

    Greedy: from nothing, repeatedly take the one move (an arm to a deeper depth) with the
    largest gain in that probability minus its extra cost, while it is positive and fits
    the budget. Unlike the per-arm sum, a second arm that finds the same things as the first
    is worth only what it adds: a known item found by lexical at depth 10 does not also run
    three other arms at depth 10.

    >>> known_item = np.array([[[0.9, 0.9], [0.9, 0.9], [0.05, 0.6]]])   # 3 arms, depths 10 and 50
    >>> allocate_union(known_item, np.array([10, 50]), cost=0.01, budget=100).tolist()
    [[0, -1, -1]]
    >>> broad = np.array([[[0.1, 0.2], [0.1, 0.1], [0.05, 0.8]]])
    >>> allocate_union(broad, np.array([10, 50]), cost=0.002, budget=100).tolist()
    [[-1, -1, 1]]
    """
    n_draws, n_arms, n_depths = values.shape
    if n_arms == 0 or n_depths == 0:
        return np.full((n_draws, n_arms), -1)
    p = np.clip(values, 0.0, 0.999)
    sizes = np.concatenate([[0], depths]).astype(float)
    choice = np.full((n_draws, n_arms), -1)
    miss = np.ones(n_draws)
    rows = np.arange(n_draws)
    for _ in range(n_arms * n_depths):
        current_p = np.where(choice >= 0, np.take_along_axis(p, np.maximum(choice, 0)[..., None], axis=2)[..., 0], 0.0)
        rest = miss[:, None] / (1.0 - current_p)  # P(miss) of the other chosen arms
        gain = rest[..., None] * (1.0 - current_p[..., None] - (1.0 - p))  # (draws, arms, depths)
        extra = sizes[1:][None, None, :] - sizes[choice + 1][..., None]
        total = sizes[choice + 1].sum(axis=1)
        net = gain - cost * extra
        allowed = (extra > 0) & (total[:, None, None] + extra <= budget)
        net = np.where(allowed, net, -np.inf)
        flat = net.reshape(n_draws, -1)
        best = flat.argmax(axis=1)
        go = flat[rows, best] > 0
        if not go.any():
            break
        arm, depth = np.divmod(best, n_depths)
        moved = rows[go]
        old_p = current_p[moved, arm[go]]
        choice[moved, arm[go]] = depth[go]
        miss[moved] = miss[moved] / (1.0 - old_p) * (1.0 - p[moved, arm[go], depth[go]])
    return choice
