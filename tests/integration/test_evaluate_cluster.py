"""`es-ltrr evaluate --cluster`: every system runs on the node; hybrid and rrf_all_arms as the
node's own fusion where the node has it, else fused by the sidecar from the node's arm
results, and the report says which. Whether the node has it is checked here independently of
`probe` (its modules/plugins), so a probe that wrongly says "sidecar" fails."""

from __future__ import annotations

import pytest

from es_ltrr.evaluation.cluster_fusion import probe
from es_ltrr.evaluation.judged import load_judged, on_catalog
from es_ltrr.evaluation.metrics import SYSTEM_KEYS
from es_ltrr.evaluation.report import evaluate
from es_ltrr.evaluation.systems import systems
from es_ltrr.retrieval.engines.cluster import ClusterError


def node_fuses(engine, flavor: str) -> bool:
    """The node has the fusion features: Elasticsearch's rank-rrf module (with an enterprise or
    trial license), OpenSearch's neural-search plugin."""
    if flavor == "elasticsearch":
        nodes = engine.request("GET", "/_nodes/plugins")["nodes"].values()
        modules = {m["name"] for n in nodes for m in n.get("modules", []) + n.get("plugins", [])}
        license_type = engine.request("GET", "/_license")["license"]["type"]
        return any("rank-rrf" in m for m in modules) and license_type in ("enterprise", "trial")
    plugins = engine.request("GET", "/_cat/plugins", params={"format": "json"})
    return any("neural-search" in p["component"] for p in plugins)


@pytest.fixture(scope="module")
def judged(small_catalog):
    from es_ltrr.catalog import load_catalog

    return on_catalog(load_judged(), {d["id"] for d in load_catalog(small_catalog, progress=False)})


def test_evaluate_runs_every_system_on_the_node(cluster_searcher, flavor, judged):
    engine = cluster_searcher.engine
    fusion = probe(engine)
    try:
        expected = "cluster" if node_fuses(engine, flavor) else "sidecar"
        for name in ("hybrid", "rrf_all_arms"):
            assert fusion.executed_by(name) == expected
            if expected == "sidecar":  # the node's own refusal is the reason given
                assert "failed" in fusion.reasons[name]
        system_list = systems(cluster_searcher, None, fusion)
        report = evaluate(system_list, {"hand": judged[:12]})
    finally:
        fusion.close()
    assert list(report["systems"]) == ["bm25", "hybrid", "rrf_all_arms", "es-ltrr"]
    assert {n: f["executed_by"] for n, f in report["fusion"].items()} == {
        "bm25": "sidecar", "hybrid": expected, "rrf_all_arms": expected, "es-ltrr": "sidecar"}
    for name, m in report["systems"].items():
        assert set(m) == set(SYSTEM_KEYS) and m["candidates"] > 0, name
    # the node answers: every system finds judged entities on the node's index
    assert report["systems"]["bm25"]["ndcg10"] > 0.3 and report["systems"]["rrf_all_arms"]["recall100"] > 0.3
    if flavor == "opensearch":  # no temporary search pipeline left behind
        try:
            pipelines = engine.request("GET", "/_search/pipeline")
        except ClusterError as exc:  # 404: the node holds no pipeline at all
            assert exc.status == 404, exc
            pipelines = {}
        assert not [p for p in pipelines if p.startswith("es-ltrr-eval-")]
