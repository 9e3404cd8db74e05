"""From per-(arm, depth) values to a depth per arm: every arm at its floor, deeper where it pays.

Given values v[a, d] (a sampled or estimated page gain that arm a's list within depth d
brings beyond the floors, `rewards.py`) and u[a, d] (the unique candidates that depth adds
to the union, learned), each arm starts at its floor. Then, repeatedly, the one move — an
arm to a deeper depth — with the largest net gain v − cost · u over its current depth is
taken, while that net gain is positive and the candidates added stay within the budget.
Every value is a gain *beyond the floors*, so the arms' gains add up (what the floors already
found is nobody's credit). Everything is vectorized over many value draws at once: the same
function serves the decision and the propensity estimate (the share of posterior draws
that lead to each arm's chosen depth).
"""

from __future__ import annotations

import numpy as np


def allocate_depths(values: np.ndarray, unique: np.ndarray, floors: np.ndarray, cost: float,
                    budget: float) -> np.ndarray:
    """Depth index per draw and arm for `values` of shape (draws, arms, D); `unique` (arms, D)
    expected candidates added at each depth (0 at and below the floor); `floors` (arms,) each
    arm's floor index (where it starts, never shallower); `budget` the most candidates added.

    >>> v = np.array([[[0.0, 0.02, 0.3], [0.0, 0.2, 0.22], [0.0, 0.0, 0.0]]])   # depths 10, 25, 50
    >>> u = np.array([[0.0, 12.0, 35.0], [0.0, 10.0, 30.0], [0.0, 14.0, 38.0]])
    >>> allocate_depths(v, u, np.zeros(3, dtype=int), cost=0.002, budget=100).tolist()
    [[2, 1, 0]]
    >>> allocate_depths(v, u, np.zeros(3, dtype=int), cost=0.002, budget=20).tolist()  # one move fits
    [[0, 1, 0]]
    """
    n_draws, n_arms, n_depths = values.shape
    choice = np.broadcast_to(np.asarray(floors, dtype=int), (n_draws, n_arms)).copy()
    if n_arms == 0 or n_depths == 0:
        return choice
    rows, arm_index = np.arange(n_draws), np.arange(n_arms)
    depth_index = np.arange(n_depths)[None, None, :]
    for _ in range(n_arms * n_depths):
        now_v = np.take_along_axis(values, choice[..., None], axis=2)[..., 0]
        now_u = unique[arm_index[None, :], choice]
        extra = unique[None, :, :] - now_u[..., None]
        net = values - now_v[..., None] - cost * extra
        fits = now_u.sum(axis=1)[:, None, None] + extra <= budget
        net = np.where((depth_index > choice[..., None]) & fits, net, -np.inf)
        flat = net.reshape(n_draws, -1)
        best = flat.argmax(axis=1)
        go = flat[rows, best] > 0
        if not go.any():
            break
        arm, depth = np.divmod(best[go], n_depths)
        choice[rows[go], arm] = depth
    return choice
