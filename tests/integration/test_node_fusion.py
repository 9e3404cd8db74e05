"""The anchors executed by the node: on an OpenSearch node with the neural-search plugin,
`es-ltrr evaluate --cluster` runs `hybrid` and `rrf_all_arms` as one fused search each
(`executed_by: cluster`), and they agree with the sidecar's own fusion of the same arm
results: the node's hybrid query with the normalization processor against `HybridRanker`,
its score-ranker (RRF) processor against plain reciprocal-rank fusion (k 60, every arm weight
1: the node's RRF has no weights), each arm taking the same window of hits.

The node is started here, on its own home and port (`es-ltrr node start --neural-search
--no-ltr`, port 9210 when free: the default test nodes stay light), sharing the default OpenSearch node's Maven
downloads, and stopped at the end of the module when this module started it;
ES_LTRR_TEST_NEURAL_CLUSTER names a running one instead. Without test clusters (no
ES_LTRR_TEST_CLUSTER) the module is skipped like the rest of the integration suite.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import replace

import pytest

from es_ltrr.evaluation.cluster_fusion import HYBRID_MAX_QUERIES, RANK_CONSTANT, fit_hybrid, node_search, probe
from es_ltrr.evaluation.judged import load_judged, on_catalog
from es_ltrr.evaluation.report import evaluate
from es_ltrr.evaluation.systems import HYBRID_DEPTHS, systems
from es_ltrr.ranking.hybrid import HybridRanker
from es_ltrr.retrieval.policy import StaticPolicy
from es_ltrr.retrieval.policy.static import default_allocation
from es_ltrr.retrieval.union import union

from .conftest import QUERIES

NEURAL_PORT = 9210
TOP = 10
#: Share of queries whose top 10 must be the same as the sidecar's fusion of the same arm results.
AGREEMENT = 0.95


@pytest.fixture(scope="module")
def flavor() -> str:
    return "opensearch"


@pytest.fixture(scope="module")
def node_url(cluster_url):
    """A node with neural-search: ES_LTRR_TEST_NEURAL_CLUSTER, or one started here (and stopped
    after the module when it was not already running). `cluster_url` first: the module skips or
    fails exactly as the rest of the integration suite does without test nodes."""
    given = os.environ.get("ES_LTRR_TEST_NEURAL_CLUSTER")
    if given:
        yield given
        return
    from es_ltrr.ops.devnode import NodeConfig, start, stop
    from es_ltrr.ops.devnode.host import node_pid

    default = NodeConfig.from_env()
    home = default.home.parent / f"{default.home.name}-neural"
    config = NodeConfig.from_env(home=home, port=_port(home), neural_search=True, ltr=False,
                                 downloads=default.home / "downloads")
    started_here = node_pid(config) is None
    t0 = time.monotonic()
    url = start(config, progress=lambda line: print(f"  [neural node] {line}"))
    print(f"\nneural-search node {url}: {time.monotonic() - t0:.1f} s to assemble (when not cached) and start, "
          f"load {os.getloadavg()[0]:.2f}")
    yield url
    if started_here:
        stop(config)


def _port(home) -> int:
    """The port of the node running from `home`, else NEURAL_PORT when it is free, else any free one."""
    from es_ltrr.ops.devnode import NodeConfig
    from es_ltrr.ops.devnode.host import node_pid

    if node_pid(NodeConfig(home=home)) is not None:
        for line in (NodeConfig(home=home).dist / "config" / "opensearch.yml").read_text().splitlines():
            if line.startswith("http.port:"):
                return int(line.split(":", 1)[1])
    for port in (NEURAL_PORT, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise AssertionError("unreachable: port 0 always binds")


@pytest.fixture(scope="module")
def queries(small_catalog) -> list[str]:
    """The hand-judged queries of the slice, and the integration suite's own."""
    from es_ltrr.catalog import load_catalog

    judged = on_catalog(load_judged(), {d["id"] for d in load_catalog(small_catalog, progress=False)})
    return list(dict.fromkeys([q.text for q in judged] + QUERIES))


def _sidecar_fusion(searcher, system: str, text: str, depths: dict[str, int]) -> tuple[list[str], list[float]]:
    """The sidecar's fusion of the arm results the node fuses: the same bodies, each arm
    drawing the node's window of hits, fused as the node's processor defines it."""
    window = max(depths.values())
    configured = replace(searcher, policy=StaticPolicy(dict(depths)), challenger=None)
    bodies = fit_hybrid(configured.arm_bodies(text))
    responses = dict(zip(bodies, searcher.engine.msearch([{**b, "size": window} for b in bodies.values()])))
    candidates, _ = union(responses, {arm: window for arm in bodies})
    if system == "hybrid":
        scores = HybridRanker().score(None, text, None, candidates)
    else:
        scores = [sum(1.0 / (RANK_CONSTANT + p.rank) for p in c.provenance) for c in candidates]
    ranked = sorted(zip(candidates, scores), key=lambda cs: -cs[1])
    return [c.id for c, _ in ranked], [s for _, s in ranked]


def _tied_at_the_cut(ids: list[str], scores: list[float], other: list[str]) -> bool:
    """The two top 10s differ only among candidates whose scores tie with the 10th: the order
    inside a tie is each side's own (the node breaks ties by its doc order)."""
    if len(scores) <= TOP:
        return False
    cut = scores[TOP - 1]
    tied = {i for i, s in zip(ids, scores) if abs(s - cut) <= 1e-6 * max(1.0, abs(cut))}
    return set(ids[:TOP]) ^ set(other[:TOP]) <= tied


def test_the_node_runs_both_anchors_itself(cluster_searcher):
    fusion = probe(cluster_searcher.engine)
    try:
        assert fusion.executed_by("hybrid") == "cluster", fusion.reasons
        assert fusion.executed_by("rrf_all_arms") == "cluster", fusion.reasons
        assert f"at most {HYBRID_MAX_QUERIES} sub-queries" in fusion.notes["rrf_all_arms"]
    finally:
        fusion.close()


@pytest.mark.parametrize("system", ["hybrid", "rrf_all_arms"])
def test_node_fusion_agrees_with_the_sidecars_fusion_of_the_same_arm_results(cluster_searcher, queries, system):
    depths = HYBRID_DEPTHS if system == "hybrid" else {a: d for a, d in default_allocation().items() if d > 0}
    fusion = probe(cluster_searcher.engine)
    try:
        search = node_search(cluster_searcher, fusion, system, depths)
        same, ties, differ = 0, 0, []
        for text in queries:
            node = [c.id for c in search(text).candidates]
            ids, scores = _sidecar_fusion(cluster_searcher, system, text, depths)
            if node[:TOP] == ids[:TOP]:
                same += 1
            elif set(node[:TOP]) == set(ids[:TOP]) or _tied_at_the_cut(ids, scores, node):
                ties += 1  # the same candidates, ordered differently only where scores tie
                print(f"  {text!r}: the same top {TOP} up to the order of tied scores")
            else:
                differ.append((text, node[:TOP], ids[:TOP]))
    finally:
        fusion.close()
    n = len(queries)
    print(f"\n{system}: {n} queries, top {TOP} identical {same}, the same up to ties {ties}, different {len(differ)}")
    for text, node, sidecar in differ:
        print(f"  {text!r}: node only {sorted(set(node) - set(sidecar))}, sidecar only {sorted(set(sidecar) - set(node))}")
    assert n >= 20
    assert (same + ties) / n >= AGREEMENT, differ


def test_evaluate_reports_the_node_fused_anchors(cluster_searcher, small_catalog):
    from es_ltrr.catalog import load_catalog

    judged = on_catalog(load_judged(), {d["id"] for d in load_catalog(small_catalog, progress=False)})
    fusion = probe(cluster_searcher.engine)
    try:
        report = evaluate(systems(cluster_searcher, None, fusion), {"hand": judged})
    finally:
        fusion.close()
    assert {n: f["executed_by"] for n, f in report["fusion"].items()} == {
        "bm25": "sidecar", "hybrid": "cluster", "rrf_all_arms": "cluster", "es-ltrr": "sidecar"}
    assert "left out" in report["fusion"]["rrf_all_arms"]["reason"]
    for name in ("hybrid", "rrf_all_arms"):
        assert report["systems"][name]["executed_by"] == "cluster"
        assert report["systems"][name]["recall100"] > 0.3, report["systems"][name]
    print("\n" + "\n".join(f"{n}: nDCG@10 {m['ndcg10']:.3f}, recall@100 {m['recall100']:.3f}, p50 {m['p50_ms']:.1f} ms, "
                           f"{m['executed_by']}" for n, m in report["systems"].items()))


def test_the_module_node_is_the_one_asked_for(engine):
    plugins = {p["component"] for p in engine.request("GET", "/_cat/plugins", params={"format": "json"})}
    assert "opensearch-neural-search" in plugins and "opensearch-knn" in plugins
