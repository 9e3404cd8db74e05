"""`es-ltrr --cluster URL bench --entities`: the scale run on the real OpenSearch node, which it
leaves as it found it (its uniquely named index and templates deleted afterwards).

OpenSearch only: the Elasticsearch test node lacks the modules `apply` needs (see conftest's
ES_GAPS["apply"]).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from es_ltrr.cli import main
from es_ltrr.common.settings import Settings
from es_ltrr.retrieval.engines.factory import cluster_engine


def _scale_indices(url: str) -> list[str]:
    engine = cluster_engine(Settings.load(env={}, cluster_url=url, index="x"))
    rows = engine.request("GET", "/_cat/indices/es-ltrr-scale-*", params={"format": "json", "h": "index"})
    return sorted(row["index"] for row in rows)


@pytest.mark.slow
def test_bench_entities_on_the_node_measures_small_sizes_and_cleans_up(cluster_url, small_catalog, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setenv("ES_LTRR_CACHE_DIR", str(tmp_path / "cache"))
    before = _scale_indices(cluster_url)
    run = CliRunner().invoke(main, ["--catalog", str(small_catalog), "--data-dir", str(tmp_path / "d"), "--no-embed",
                                    "--cluster", cluster_url, "bench", "--entities", "400,100k", "--requests", "10",
                                    "--json"])
    assert run.exit_code == 0, run.output
    sizes = json.loads(run.stdout)["sizes"]
    assert [s["entities"] for s in sizes] == [400]  # 100k is above the node's bound: skipped, and said
    assert "100,000: skipped on the node" in run.stderr
    (size,) = sizes
    assert size["engine"] == "opensearch" and size["errors"] == 0 and size["qps"] > 0
    assert size["p50"]["engine (bare)"] > 0 and size["p50"]["retrieve"] > 0 and size["index_mb"] > 0
    assert _scale_indices(cluster_url) == before
