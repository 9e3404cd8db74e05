"""The fusion baselines as the node itself executes them, where it can.

A user comparing es-ltrr with "what my cluster does out of the box" runs the cluster's own
fusion, not a re-implementation of it; so on `--cluster` the `hybrid` and `rrf_all_arms`
systems are sent to the node as one search each:

* Elasticsearch — `rrf_all_arms`: the `rrf` retriever over one retriever per arm (each arm's
  body from its template: `standard` for a query, `knn` for the semantic arm); `hybrid`: the
  `linear` retriever, BM25 and kNN each `minmax`-normalized, weights 0.5/0.5. Both live in
  the rank-rrf module and need an enterprise (or trial) license.
* OpenSearch — `hybrid`: the `hybrid` query (BM25 + kNN) through a temporary search pipeline
  with the `normalization-processor` (min_max, arithmetic_mean 0.5/0.5); `rrf_all_arms`: the
  `hybrid` query over every arm through the `score-ranker-processor` (rrf, 2.19). Both need
  the neural-search plugin (`es-ltrr node start --neural-search`). A hybrid query takes at
  most 5 sub-queries: where more arms apply, the ones with the lowest fusion weight are left
  out (explore, 0.2, when all six apply), and the report says so (`NodeFusion.notes`).

As the node fuses, every arm contributes up to the search's `size` hits (the deepest arm's
depth: one window for every arm), where the sidecar's fusion takes each arm at its own depth.

Whether the node can is decided by asking it (`probe`: one tiny search per feature; the
node's own error is the reason when it cannot), never assumed: where it cannot, the sidecar
fuses the node's arm results (es_ltrr/ranking) and the report says so (`executed_by`).
User text reaches the node only inside the arms' rendered templates.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from ..ranking.hybrid import MIN_MAX_WEIGHTS
from ..retrieval.arms import ARMS
from ..retrieval.engines.cluster import ClusterError
from ..retrieval.policy import StaticPolicy
from ..retrieval.union import Candidate

#: The rank constant of Elasticsearch's rrf retriever (its default, and the sidecar's).
RANK_CONSTANT = 60
#: Sub-queries an OpenSearch hybrid query accepts.
HYBRID_MAX_QUERIES = 5
PROBE_QUERY = {"match_all": {}}


@dataclass(frozen=True)
class NodeResult:
    """What `run_system` reads of a search: the ranked candidates and their scores."""

    candidates: list[Candidate]
    scores: list[float]


@dataclass
class NodeFusion:
    """Which fusions this node runs itself (system → True) and why not, where it cannot."""

    engine: Any
    runs: dict[str, bool] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    pipelines: dict[str, str] = field(default_factory=dict)  # OpenSearch: system → search pipeline
    notes: dict[str, str] = field(default_factory=dict)  # how the node's fusion differs, where it runs it

    def executed_by(self, system: str) -> str:
        return "cluster" if self.runs.get(system) else "sidecar"

    def close(self) -> None:
        """Remove the temporary search pipelines."""
        for name in self.pipelines.values():
            try:
                self.engine.request("DELETE", f"/_search/pipeline/{name}")
            except ClusterError:
                pass
        self.pipelines.clear()


def probe(engine: Any) -> NodeFusion:
    """Ask the node which fusions it executes (an embedded engine: none)."""
    fusion = NodeFusion(engine)
    flavor = getattr(engine, "flavor", "embedded")
    if flavor == "elasticsearch":
        for system, body in (("rrf_all_arms", rrf_retriever({"a": {"query": PROBE_QUERY}, "b": {"query": PROBE_QUERY}}, 1)),
                             ("hybrid", linear_retriever({"lexical": {"query": PROBE_QUERY},
                                                          "semantic": {"query": PROBE_QUERY}}, 1))):
            _try(fusion, system, lambda b=body: engine.request("POST", f"/{engine.index_name}/_search", b))
    elif flavor == "opensearch":
        for system, pipeline in (("hybrid", normalization_pipeline()), ("rrf_all_arms", rrf_pipeline())):
            name = f"es-ltrr-eval-{system.replace('_', '-')}-{uuid.uuid4().hex[:8]}"

            def check(name=name, pipeline=pipeline) -> None:
                engine.request("PUT", f"/_search/pipeline/{name}", pipeline)
                fusion.pipelines[system] = name
                engine.request("POST", f"/{engine.index_name}/_search",
                               # two sub-queries: the normalization processor's two weights need two
                               {"size": 1, "query": hybrid_query({"a": {"query": PROBE_QUERY}, "b": {"query": PROBE_QUERY}})},
                               params={"search_pipeline": name})
            _try(fusion, system, check)
        if fusion.runs.get("rrf_all_arms"):
            left_out = sorted(ARMS, key=lambda a: -ARMS[a].fusion_weight)[HYBRID_MAX_QUERIES:]
            if left_out:
                fusion.notes["rrf_all_arms"] = (
                    f"the hybrid query takes at most {HYBRID_MAX_QUERIES} sub-queries: where all {len(ARMS)} arms "
                    f"apply, {', '.join(left_out)} (lowest fusion weight) is left out")
    else:
        fusion.reasons = {s: "the embedded engine has no fusion of its own" for s in ("hybrid", "rrf_all_arms")}
    return fusion


def _try(fusion: NodeFusion, system: str, call: Callable[[], Any]) -> None:
    try:
        call()
        fusion.runs[system] = True
    except ClusterError as exc:
        fusion.runs[system] = False
        fusion.reasons[system] = str(exc)
        pipeline = fusion.pipelines.pop(system, None)
        if pipeline:
            try:
                fusion.engine.request("DELETE", f"/_search/pipeline/{pipeline}")
            except ClusterError:
                pass


# -- bodies ------------------------------------------------------------------------------


def _retriever(body: Mapping[str, Any]) -> dict[str, Any]:
    """One arm's rendered body as an Elasticsearch retriever (`knn` or `standard`)."""
    if "knn" in body:
        return {"knn": dict(body["knn"])}
    return {"standard": {"query": body["query"]}}


def rrf_retriever(bodies: Mapping[str, Mapping[str, Any]], window: int) -> dict[str, Any]:
    """Elasticsearch's rrf retriever over the arms' bodies, `window` hits fused and returned."""
    return {"size": window, "_source": _source(bodies),
            "retriever": {"rrf": {"retrievers": [_retriever(b) for b in bodies.values()],
                                  "rank_window_size": window, "rank_constant": RANK_CONSTANT}}}


def linear_retriever(bodies: Mapping[str, Mapping[str, Any]], window: int,
                     weights: Mapping[str, float] = MIN_MAX_WEIGHTS) -> dict[str, Any]:
    """Elasticsearch's linear retriever: each arm min-max normalized, then the weighted sum."""
    parts = [{"retriever": _retriever(b), "weight": weights.get(arm, 0.5), "normalizer": "minmax"}
             for arm, b in bodies.items()]
    return {"size": window, "_source": _source(bodies),
            "retriever": {"linear": {"retrievers": parts, "rank_window_size": window}}}


def hybrid_query(bodies: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """OpenSearch's hybrid query over the arms' queries (a pipeline does the fusion)."""
    return {"hybrid": {"queries": [b["query"] for b in bodies.values()]}}


def normalization_pipeline(weights: tuple[float, ...] = tuple(MIN_MAX_WEIGHTS.values())) -> dict[str, Any]:
    """OpenSearch search pipeline: min-max per sub-query, weighted arithmetic mean."""
    return {"description": "es-ltrr evaluate: hybrid baseline",
            "phase_results_processors": [{"normalization-processor": {
                "normalization": {"technique": "min_max"},
                "combination": {"technique": "arithmetic_mean", "parameters": {"weights": list(weights)}}}}]}


def rrf_pipeline() -> dict[str, Any]:
    """OpenSearch search pipeline: reciprocal rank fusion of the sub-queries (2.19)."""
    return {"description": "es-ltrr evaluate: rrf baseline",
            "phase_results_processors": [{"score-ranker-processor": {
                "combination": {"technique": "rrf", "rank_constant": RANK_CONSTANT}}}]}


def fit_hybrid(bodies: Mapping[str, Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The arms' bodies a hybrid query can hold: at most `HYBRID_MAX_QUERIES`, the arms with the
    lowest fusion weight left out first (the arms' order kept).

    >>> list(fit_hybrid({a: {} for a in ("lexical", "popular", "structured", "semantic", "q2e", "explore")}))
    ['lexical', 'popular', 'structured', 'semantic', 'q2e']
    """
    keep = sorted(bodies, key=lambda arm: -ARMS[arm].fusion_weight)[:HYBRID_MAX_QUERIES]
    return {arm: body for arm, body in bodies.items() if arm in keep}


def _source(bodies: Mapping[str, Mapping[str, Any]]) -> Any:
    return next(iter(bodies.values())).get("_source", True) if bodies else True


# -- searches ----------------------------------------------------------------------------


def node_search(searcher: Any, fusion: NodeFusion, system: str, depths: Mapping[str, int]) -> Callable[[str], NodeResult]:
    """The search of `system` executed by the node: the arms' bodies (rendered from their
    templates by the searcher, as any search) fused in one request by the node."""
    configured = replace(searcher, policy=StaticPolicy(dict(depths)), challenger=None)
    window = max(depths.values())
    engine = fusion.engine

    def search(text: str) -> NodeResult:
        bodies = configured.arm_bodies(text)
        if not bodies:
            return NodeResult([], [])
        if engine.flavor == "elasticsearch":
            if len(bodies) == 1:  # a retriever fuses two or more; one arm is its own ranking
                body = {**next(iter(bodies.values())), "size": window}
            elif system == "rrf_all_arms":
                body = rrf_retriever(bodies, window)
            else:
                body = linear_retriever(bodies, window)
            response = engine.msearch([body])[0]
        else:
            bodies = fit_hybrid(bodies)
            body = {"size": window, "_source": _source(bodies), "query": hybrid_query(bodies)}
            response = engine.request("POST", f"/{engine.index_name}/_search", body,
                                      params={"search_pipeline": fusion.pipelines[system]})
        if "error" in response:
            raise ClusterError(f"{system} on the node failed: {response['error']}", 502)
        hits = response["hits"]["hits"]
        return NodeResult([Candidate(h["_id"], h.get("_source") or {}) for h in hits],
                          [float(h.get("_score") or 0.0) for h in hits])

    return search
