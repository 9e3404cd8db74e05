"""`es-ltrr evaluate`: the baselines' rankers, the node's fusion bodies, the hand-judged set and
the comparison's contract, on the small slice."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from es_ltrr.evaluation.cluster_fusion import (
    hybrid_query,
    linear_retriever,
    normalization_pipeline,
    probe,
    rrf_retriever,
)
from es_ltrr.evaluation.metrics import SYSTEM_KEYS
from es_ltrr.ranking.hybrid import HybridRanker
from es_ltrr.retrieval.union import Candidate, Provenance

CONTRACT = {"ndcg10", "recall100", "mrr", "candidates", "p50_ms", "p99_ms"}


def test_hybrid_min_max_normalizes_each_arm_then_sums():
    c = [Candidate("a", {}, [Provenance("lexical", 1, 10.0), Provenance("semantic", 2, 0.80)]),
         Candidate("b", {}, [Provenance("lexical", 2, 5.0)]),
         Candidate("c", {}, [Provenance("semantic", 1, 0.90)])]
    scores = HybridRanker().score(None, "q", SimpleNamespace(), c)
    # lexical: a=1, b=0; semantic: a=0, c=1 (min-max over the candidates each arm found)
    assert scores == pytest.approx([0.5, 0.0, 0.5])


BODIES = {"lexical": {"size": 100, "_source": ["id"], "query": {"match": {"name": "x"}}},
          "semantic": {"size": 100, "_source": ["id"], "knn": {"field": "embedding", "query_vector": [0.1], "k": 100,
                                                               "num_candidates": 200}}}


def test_node_fusion_bodies_wrap_each_arms_rendered_body():
    rrf = rrf_retriever(BODIES, 100)["retriever"]["rrf"]
    assert rrf["retrievers"] == [{"standard": {"query": BODIES["lexical"]["query"]}}, {"knn": BODIES["semantic"]["knn"]}]
    assert rrf["rank_window_size"] == 100 and rrf["rank_constant"] == 60
    linear = linear_retriever(BODIES, 100)["retriever"]["linear"]["retrievers"]
    assert [(p["weight"], p["normalizer"]) for p in linear] == [(0.5, "minmax"), (0.5, "minmax")]
    os_bodies = {"lexical": BODIES["lexical"], "semantic": {"query": {"knn": {"embedding": {"vector": [0.1], "k": 9}}}}}
    assert hybrid_query(os_bodies) == {"hybrid": {"queries": [BODIES["lexical"]["query"], os_bodies["semantic"]["query"]]}}
    combination = normalization_pipeline()["phase_results_processors"][0]["normalization-processor"]["combination"]
    assert combination == {"technique": "arithmetic_mean", "parameters": {"weights": [0.5, 0.5]}}


def test_embedded_engine_fuses_nothing_itself():
    fusion = probe(SimpleNamespace(flavor="embedded"))
    assert fusion.executed_by("hybrid") == fusion.executed_by("rrf_all_arms") == "sidecar"


def test_evaluate_command_contract(cli, tmp_path):
    result = cli("evaluate", "--queries", "30", "--json", "--plots", str(tmp_path / "plots"))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert list(report["systems"]) == ["bm25", "hybrid", "rrf_all_arms", "es-ltrr"]
    assert list(report["sets"]) == ["hand", "simulated"] and report["sets"]["simulated"]["queries"] == 30
    assert report["queries"] == report["sets"]["hand"]["queries"] + 30
    for document in (report, *report["sets"].values()):
        assert list(document["systems"]) == ["bm25", "hybrid", "rrf_all_arms", "es-ltrr"]
        for m in document["systems"].values():
            assert set(m) == set(SYSTEM_KEYS) and CONTRACT <= set(m)
            assert 0 <= m["ndcg10"] <= 1 and 0 <= m["recall100"] <= 1 and m["p50_ms"] <= m["p99_ms"]
            assert m["executed_by"] == "sidecar"
        assert set(document["significance"]) == {"bm25", "hybrid", "rrf_all_arms"}
        assert document["by_intent"] and all("es-ltrr" in v for v in document["by_intent"].values())
    pngs = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert pngs == sorted(f"{kind}_{s}.png" for kind in ("ndcg_by_intent", "recall_vs_candidates", "latency")
                          for s in ("hand", "simulated"))
    assert all((tmp_path / "plots" / p).stat().st_size > 5000 for p in pngs)


def test_evaluate_tables_and_refusals(cli):
    result = cli("evaluate", "--judged", "hand")
    assert result.exit_code == 0, result.output
    assert "hand set:" in result.stdout and "nDCG@10 per intent" in result.stdout and "simulated set" not in result.stdout
    assert "known_item" in result.stdout and "fusion executed by" in result.stdout
    refused = cli("evaluate", "--queries", "1")
    assert refused.exit_code == 2 and "at least 2" in refused.stderr
    wrong = cli("evaluate", "--judged", "nope")
    assert wrong.exit_code == 2 and "nope" in wrong.stderr


class RecordingNode:
    """A node that fuses: records what it is sent and answers two hits (the real node that
    fuses is tests/integration/test_node_fusion.py's; this fake pins the requests)."""

    index_name = "alias"

    def __init__(self, flavor: str):
        self.flavor, self.sent = flavor, []

    def _answer(self) -> dict:
        return {"hits": {"hits": [{"_id": "t1", "_score": 0.9, "_source": {"id": "t1"}},
                                  {"_id": "t2", "_score": 0.5, "_source": {"id": "t2"}}]}}

    def msearch(self, bodies):
        self.sent.extend(("msearch", b, None) for b in bodies)
        return [self._answer() for _ in bodies]

    def request(self, method, path, body=None, params=None):
        self.sent.append((path, body, params))
        return self._answer()


@pytest.mark.parametrize("flavor", ["elasticsearch", "opensearch"])
def test_a_node_that_fuses_gets_one_search_of_every_arms_template(small_searcher, flavor):
    from dataclasses import replace

    from es_ltrr.evaluation.cluster_fusion import NodeFusion
    from es_ltrr.evaluation.systems import systems

    node = RecordingNode(flavor)
    fusion = NodeFusion(node, runs={"hybrid": True, "rrf_all_arms": True},
                        pipelines={"hybrid": "p-hybrid", "rrf_all_arms": "p-rrf"})
    searcher = replace(small_searcher, engine=node, flavor=flavor)
    by_name = {s.name: s for s in systems(searcher, None, fusion)}
    assert {n: s.executed_by for n, s in by_name.items()} == {
        "bm25": "sidecar", "hybrid": "cluster", "rrf_all_arms": "cluster", "es-ltrr": "sidecar"}
    result = by_name["rrf_all_arms"].search("ed sheeran \"} hello")
    assert [c.id for c in result.candidates] == ["t1", "t2"] and result.scores == [0.9, 0.5]
    (_, body, params), = node.sent
    arms = searcher.arm_bodies("ed sheeran \"} hello")
    if flavor == "elasticsearch":
        assert [r["standard"]["query"] for r in body["retriever"]["rrf"]["retrievers"]] == [b["query"] for b in arms.values()]
    else:
        assert body["query"]["hybrid"]["queries"] == [b["query"] for b in arms.values()] and params == {"search_pipeline": "p-rrf"}
    assert len(arms) >= 2 and body["size"] == max(b["size"] for b in arms.values())


def test_probe_of_an_opensearch_node_asks_as_the_systems_search_and_notes_the_arm_limit():
    node = RecordingNode("opensearch")
    fusion = probe(node)
    searches = [(body, params) for path, body, params in node.sent if path.endswith("/_search")]
    assert [len(body["query"]["hybrid"]["queries"]) for body, _ in searches] == [2, 2]  # the 0.5/0.5 weights need two
    assert fusion.executed_by("hybrid") == fusion.executed_by("rrf_all_arms") == "cluster"
    assert fusion.notes["rrf_all_arms"].endswith("explore (lowest fusion weight) is left out")
    pipelines = list(fusion.pipelines.values())
    fusion.close()
    assert [path for path, _, _ in node.sent[-2:]] == [f"/_search/pipeline/{n}" for n in pipelines]  # removed
