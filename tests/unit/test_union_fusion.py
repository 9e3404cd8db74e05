from es_ltrr.ranking import rrf_scores
from es_ltrr.retrieval.union import union


def _resp(*ids):
    return {"took": 1, "hits": {"hits": [{"_id": i, "_score": 10 - n, "_source": {"name": i}} for n, i in enumerate(ids)]}}


def test_union_keeps_provenance_per_arm():
    cands, results = union({"a": _resp("x", "y"), "b": _resp("y", "z")}, {"a": 2, "b": 2})
    by_id = {c.id: c for c in cands}
    assert [c.id for c in cands] == ["x", "y", "z"]
    assert [(p.arm, p.rank) for p in by_id["y"].provenance] == [("a", 2), ("b", 1)]
    assert [r.ids for r in results] == [("x", "y"), ("y", "z")]


def test_failed_arm_degrades_not_fails():
    cands, results = union({"a": _resp("x"), "b": {"error": {"reason": "boom"}, "status": 500}}, {"a": 1, "b": 5})
    assert [c.id for c in cands] == ["x"]
    assert results[1].error == "boom" and results[1].ids == ()


def test_rrf_rewards_agreement_and_rank():
    cands, _ = union({"a": _resp("x", "y"), "b": _resp("y")}, {})
    scores = dict(zip([c.id for c in cands], rrf_scores(cands)))
    assert scores["y"] > scores["x"]
    assert abs(scores["x"] - 1 / 61) < 1e-12
    weighted = dict(zip([c.id for c in cands], rrf_scores(cands, {"a": 5.0})))
    assert weighted["x"] > weighted["y"] - 1 / 61


def test_timed_out_arm_keeps_its_partial_hits():
    partial = {**_resp("x"), "timed_out": True}
    cands, results = union({"a": partial}, {"a": 5})
    assert [c.id for c in cands] == ["x"] and results[0].timed_out
