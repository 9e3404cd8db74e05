"""`es-ltrr evaluate`: the baselines' rankers and the comparison's contract, on the small slice."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from es_ltrr.ranking.hybrid import HybridRanker
from es_ltrr.union import Candidate, Provenance


def test_hybrid_min_max_normalizes_each_arm_then_sums():
    c = [Candidate("a", {}, [Provenance("lexical", 1, 10.0), Provenance("semantic", 2, 0.80)]),
         Candidate("b", {}, [Provenance("lexical", 2, 5.0)]),
         Candidate("c", {}, [Provenance("semantic", 1, 0.90)])]
    scores = HybridRanker().score(None, "q", SimpleNamespace(), c)
    # lexical: a=1, b=0; semantic: a=0, c=1 (min-max over the candidates each arm found)
    assert scores == pytest.approx([0.5, 0.0, 0.5])


def test_evaluate_command_contract(cli, tmp_path):
    result = cli("evaluate", "--queries", "30", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert list(report["systems"]) == ["bm25", "hybrid", "rrf_all_arms", "es-ltrr"]
    for m in report["systems"].values():
        assert set(m) == {"ndcg10", "mrr", "recall100", "candidates", "latency_p50_ms", "latency_p99_ms"}
        assert 0 <= m["ndcg10"] <= 1 and 0 <= m["recall100"] <= 1
    assert set(report["significance"]) == {"bm25", "hybrid", "rrf_all_arms"}
    assert report["by_intent"] and all("es-ltrr" in v for v in report["by_intent"].values())
    refused = cli("evaluate", "--queries", "1")
    assert refused.exit_code == 2 and "at least 2" in refused.stderr
