"""Assessor-style judgments for LTR tests: grades that are *not* one of the model's features.

A model trained on a label equal to a feature only proves plumbing; these grades come from
word containment, which no feature computes, so a model must learn to approximate them.
"""

from __future__ import annotations

import numpy as np

from es_ltrr.common.analysis import words


def grade(query: str, source: dict) -> int:
    """2 when every query word is in the name, 1 when they are all in name + artist, else 0."""
    q = set(words(query))
    name, artist = set(words(source.get("name") or "")), set(words(source.get("artist") or ""))
    if q and q <= name:
        return 2
    return 1 if q and q <= name | artist else 0


def ndcg_at(grades: list[int], k: int = 10) -> float:
    """nDCG@k of a ranked list of grades against its own ideal order (0 when nothing is relevant)."""
    gains = 2.0 ** np.asarray(grades, float) - 1
    discounts = 1 / np.log2(np.arange(2, len(grades) + 2))
    ideal = np.sort(gains)[::-1]
    best = float((ideal[:k] * discounts[:k]).sum())
    return float((gains[:k] * discounts[:k]).sum()) / best if best else 0.0
