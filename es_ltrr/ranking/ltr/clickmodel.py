"""Relevance from clicks with the position-based model (PBM), fitted by EM.

PBM (Craswell et al. 2008; Chuklin, Markov & de Rijke, *Click Models for Web Search*, 2015):
a result at rank r is examined with probability γ_r, and an examined result is clicked with
probability α_qd, its attractiveness for the query — so P(click) = γ_r · α_qd. Raw click rates
confound the two (everything at rank 1 looks good); EM separates them, given that the same
(query, document) pair is shown at different ranks across searches (which the bandit's
varying candidate sets and the rankers' changes provide).

EM, per iteration, with c ∈ {0, 1} the click of one shown (query, document, rank):

    α_qd ← mean over its showings of  c + (1 − c) · (1 − γ_r) α_qd / (1 − γ_r α_qd)
    γ_r  ← mean over its showings of  c + (1 − c) · γ_r (1 − α_qd) / (1 − γ_r α_qd)

No maintained Python library implements click models today (PyClick was last released in
2016), so this is written here, vectorized with numpy and checked against data generated
from known parameters (`tests/unit/test_clickmodel.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np


@dataclass(frozen=True)
class Showing:
    """One result shown: the query, the document, its 1-based rank, whether it was clicked."""

    query: str
    doc: str
    rank: int
    clicked: bool


@dataclass
class PBM:
    """Position-based click model; `fit` estimates `attractiveness_` and `examination_`."""

    iterations: int = 50
    max_rank: int = 10
    #: Beta-like smoothing: each pair starts with this many pseudo-showings at `prior`.
    prior: float = 0.1
    prior_weight: float = 1.0
    attractiveness_: dict[tuple[str, str], float] = field(default_factory=dict)
    examination_: np.ndarray = field(default_factory=lambda: np.zeros(0))
    showings_: dict[tuple[str, str], int] = field(default_factory=dict)

    def fit(self, showings: Iterable[Showing]) -> "PBM":
        rows = [s for s in showings if 1 <= s.rank <= self.max_rank]
        pairs = sorted({(s.query, s.doc) for s in rows})
        index = {p: i for i, p in enumerate(pairs)}
        pair = np.array([index[(s.query, s.doc)] for s in rows], dtype=int)
        rank = np.array([s.rank - 1 for s in rows], dtype=int)
        click = np.array([s.clicked for s in rows], dtype=float)
        counts = np.bincount(pair, minlength=len(pairs)).astype(float)
        rank_counts = np.bincount(rank, minlength=self.max_rank).astype(float)
        alpha = np.full(len(pairs), 0.5)
        gamma = np.full(self.max_rank, 0.5)
        for _ in range(self.iterations):
            a, g = alpha[pair], gamma[rank]
            miss = 1.0 - g * a
            a_post = click + (1 - click) * (1 - g) * a / miss
            g_post = click + (1 - click) * g * (1 - a) / miss
            alpha = (np.bincount(pair, a_post, len(pairs)) + self.prior * self.prior_weight) / (counts + self.prior_weight)
            gamma = np.where(rank_counts > 0, np.bincount(rank, g_post, self.max_rank) / np.maximum(rank_counts, 1), gamma)
        self.attractiveness_ = {p: float(alpha[i]) for p, i in index.items()}
        self.showings_ = {p: int(counts[i]) for p, i in index.items()}
        self.examination_ = gamma
        return self


#: Attractiveness thresholds of grades 1, 2 and 3 (grade 0 below the first).
GRADE_THRESHOLDS = (0.1, 0.3, 0.6)


def grades(model: PBM, min_showings: int = 3, thresholds: tuple[float, ...] = GRADE_THRESHOLDS) -> dict[str, dict[str, int]]:
    """query → document → grade 0..3 for the pairs shown at least `min_showings` times
    (fewer is too little evidence to judge; those pairs are left out, not graded 0)."""
    out: dict[str, dict[str, int]] = {}
    for (query, doc), alpha in model.attractiveness_.items():
        if model.showings_[(query, doc)] >= min_showings:
            out.setdefault(query, {})[doc] = int(sum(alpha >= t for t in thresholds))
    return out


#: One search as a click model reads it: the query, the page's ids in rank order, the ids engaged.
Session = tuple[str, Sequence[str], set[str]]


def judgments_from_sessions(sessions: Iterable[Session], min_showings: int = 3) -> dict[str, dict[str, int]]:
    """PBM over (query, page, engaged ids) sessions → graded (query, entity) pairs (`grades`).

    >>> sessions = [("q", ["a", "b"], {"a"})] * 5 + [("q", ["b", "a"], set())] * 5
    >>> judgments_from_sessions(sessions, min_showings=3)["q"]["a"] > judgments_from_sessions(sessions)["q"]["b"]
    True
    """
    showings = [Showing(query, doc, rank, doc in engaged)
                for query, page, engaged in sessions for rank, doc in enumerate(page, start=1)]
    return grades(PBM().fit(showings), min_showings=min_showings)
