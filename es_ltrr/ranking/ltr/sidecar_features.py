"""Features only the sidecar can know — what retrieval said about each candidate — in a form
the LTR plugin's `sltr` computes exactly as the sidecar does.

A ranker that is to beat reciprocal-rank fusion must at least be able to express it: it needs
every arm's rank and score of a candidate, the fusion score itself, how many arms found it,
and its similarity to the query vector. None of these is a property of the document: they
exist only for one query's candidate union. So each reaches its feature as a *query
parameter*: a list of clauses `{"constant_score": {"filter": {"ids": [...]}, "boost": v}}`,
one per distinct value, rendered into the feature's template with `toJson`:

    {"bool": {"should": {{#toJson}}rank_lexical{{/toJson}}}}

Inside the plugin this scores each candidate with its value (a `constant_score` of a boost
is that boost, in float32 as XGBoost reads it); on the embedded engine the same template
runs through the same evaluator; a candidate in no clause did not match — NaN, XGBoost's
missing, the featureset's one convention. The list always starts with an `ids` clause that
matches nothing, because a `bool` with no clause at all matches *every* document.

Values are **binned** (ranks to steps that widen with depth, shares of the best score to
twentieths, like XGBoost's own histogram binning): one clause per distinct value keeps a
request to a few hundred clauses whatever the candidate count, under the clusters'
1,024-clause limit, and the trees lose nothing a split would have used. The query vector's
similarity needs no binning: its clause is a `knn` query restricted to the candidates, which
every engine scores as (1 + cos) / 2 (exactly, since the filter is small).

The features and their order derive from the arm registry and the understanding's intents,
so a new arm or intent gets its features without editing the JSON featureset.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from ...retrieval.arms import ARMS
from ...understanding import INTENTS

if TYPE_CHECKING:
    from ...retrieval.union import Candidate
    from ...understanding import Understanding

#: Reciprocal-rank fusion's constant: rank features are 1 / (RRF_K + rank), as RRF sums them.
RRF_K = 60
#: Ranks are binned down to the nearest of these (1 to 10 kept exact: the page itself).
RANK_STEPS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 17, 20, 25, 30, 40, 50, 60, 70, 85, 100, 150, 200)
#: A share of the best score is rounded up to a multiple of this (0.05: twenty bins).
SHARE_STEP = 0.05
#: The clause every list starts with: it matches nothing, so an empty list matches nothing.
NOTHING: dict[str, Any] = {"ids": {"values": []}}


def rank_value(rank: int) -> float:
    """1 / (60 + rank), the rank binned down to a step of `RANK_STEPS`.

    >>> rank_value(1), rank_value(11) == rank_value(10), rank_value(12) > rank_value(13)
    (0.01639344262295082, True, False)
    """
    step = max((s for s in RANK_STEPS if s <= rank), default=1)
    return 1.0 / (RRF_K + step)


def share_value(value: float, best: float) -> float:
    """`value / best` rounded up to a twentieth, in [0.05, 1] (a positive score only).

    >>> share_value(9.0, 10.0), share_value(0.01, 10.0), share_value(10.0, 10.0)
    (0.9, 0.05, 1.0)
    """
    if best <= 0 or value <= 0:
        return SHARE_STEP
    return min(1.0, max(SHARE_STEP, math.ceil(round(value / best / SHARE_STEP, 6)) * SHARE_STEP))


def clauses(values: Mapping[str, float]) -> list[dict[str, Any]]:
    """The param of one feature: candidate id → value as constant_score clauses, one per value.

    >>> clauses({"a": 0.5, "b": 0.5, "c": 1.0})[1:]
    [{'constant_score': {'filter': {'ids': {'values': ['a', 'b']}}, 'boost': 0.5}}, \
{'constant_score': {'filter': {'ids': {'values': ['c']}}, 'boost': 1.0}}]
    """
    groups: dict[float, list[str]] = defaultdict(list)
    for doc_id, value in values.items():
        groups[round(float(value), 9)].append(doc_id)
    return [NOTHING, *({"constant_score": {"filter": {"ids": {"values": ids}}, "boost": v}}
                       for v, ids in sorted(groups.items()))]


@dataclass(frozen=True)
class Context:
    """What the values of one query's candidates are computed from."""

    candidates: Sequence[Candidate]
    understanding: Understanding
    fusion_scores: Sequence[float]
    vector: Sequence[float] | None = None
    flavor: str = "embedded"


#: A sidecar feature: its name and how its param is built from a query's `Context`.
Param = Callable[[Context], list[dict[str, Any]]]


def _arm_rank(arm: str) -> Param:
    return lambda c: clauses({cand.id: rank_value(p.rank) for cand in c.candidates
                              for p in cand.provenance if p.arm == arm})


def _arm_share(arm: str) -> Param:
    def param(c: Context) -> list[dict[str, Any]]:
        scores = {cand.id: p.score for cand in c.candidates for p in cand.provenance if p.arm == arm}
        best = max(scores.values(), default=0.0)
        return clauses({i: share_value(s, best) for i, s in scores.items()})
    return param


def _fusion_rank(c: Context) -> list[dict[str, Any]]:
    order = sorted(range(len(c.candidates)), key=lambda i: -c.fusion_scores[i])
    return clauses({c.candidates[i].id: rank_value(r) for r, i in enumerate(order, start=1)})


def _fusion_share(c: Context) -> list[dict[str, Any]]:
    best = max(c.fusion_scores, default=0.0)
    return clauses({cand.id: share_value(s, best) for cand, s in zip(c.candidates, c.fusion_scores)})


def _arms_found(c: Context) -> list[dict[str, Any]]:
    return clauses({cand.id: float(len({p.arm for p in cand.provenance})) for cand in c.candidates})


def _vector_similarity(c: Context) -> list[dict[str, Any]]:
    """A `knn` clause restricted to the candidates: (1 + cos) / 2 for each of them."""
    if c.vector is None or not c.candidates:
        return [NOTHING]
    vector, ids, k = [float(x) for x in c.vector], [cand.id for cand in c.candidates], len(c.candidates)
    if c.flavor == "elasticsearch":
        knn = {"field": "embedding", "query_vector": vector, "k": k, "num_candidates": k, "filter": {"ids": {"values": ids}}}
    else:
        knn = {"embedding": {"vector": vector, "k": k, "filter": {"ids": {"values": ids}}}}
    return [NOTHING, {"knn": knn}]


def _intent(intent: str) -> Param:
    """1 for every candidate when the understanding read this intent (the model's context)."""
    return lambda c: clauses({cand.id: 1.0 for cand in c.candidates} if c.understanding.intent == intent else {})


def _intent_confidence(c: Context) -> list[dict[str, Any]]:
    value = max(SHARE_STEP, math.ceil(round(float(c.understanding.intent_confidence) / 0.1, 6)) * 0.1)
    return clauses({cand.id: round(value, 6) for cand in c.candidates})


def sidecar_params() -> dict[str, Param]:
    """Feature name → param builder, in featureset order: per arm its rank (and its score's
    share of the arm's best, but for the explore arm, whose order is random), the fusion
    rank and share, the number of arms that found the candidate, the vector similarity, and
    the query's intent (one flag each) and its confidence."""
    params: dict[str, Param] = {f"rank_{arm}": _arm_rank(arm) for arm in ARMS}
    params.update({f"score_{arm}": _arm_share(arm) for arm, a in ARMS.items() if a.family != "explore"})
    params.update({"fusion_rank": _fusion_rank, "fusion_score": _fusion_share, "arms_found": _arms_found,
                   "vector_similarity": _vector_similarity})
    params.update({f"intent_{intent}": _intent(intent) for intent in INTENTS})
    params["intent_confidence"] = _intent_confidence
    return params


def template(name: str) -> str:
    """The feature query of a sidecar feature: its clause list, whichever clause matches."""
    return '{"bool": {"should": {{#toJson}}%s{{/toJson}}}}' % name
