"""`es-ltrr bench --entities`: sizes, the per-size figures, the table, the JSON and the plot."""

from __future__ import annotations

import math

import pytest

from es_ltrr.ops.bench.scale import SCALE_STAGES, ScaleReport, SizeResult, bare_engine_ms, parse_sizes


def test_sizes_parse_with_units_and_bad_ones_are_named():
    assert parse_sizes("10k,62k,250k,1m") == [10_000, 62_000, 250_000, 1_000_000]
    assert parse_sizes(" 2K , 1.5k,300") == [2_000, 1_500, 300]
    for bad in ("10x", "", "k", "0", "6m"):
        with pytest.raises(ValueError, match="--entities"):
            parse_sizes(bad)


def _result(entities: int, engine_ms: float, http_ms: float, outside: float = 2.0, embed: float = 3.0) -> SizeResult:
    p50 = {s: 1.0 for s in SCALE_STAGES} | {"engine (bare)": engine_ms, "http": http_ms, "outside": outside, "embed": embed}
    p99 = {s: 4 * v for s, v in p50.items()}
    return SizeResult(entities=entities, engine="embedded", derived=max(0, entities - 62_073), build_s=12.0,
                      reused=False, index_mb=300.0, rss_loaded_mb=150.0, rss_after_mb=400.0, p50=p50, p99=p99,
                      qps=40.0, baseline_qps=200.0, errors=0, arms_p50={"semantic": 2.0, "lexical": 0.8})


def test_overhead_is_http_minus_the_bare_engine_and_its_ratio():
    r = _result(10_000, engine_ms=8.0, http_ms=20.0)
    assert r.overhead_ms == 12.0 and r.overhead_ratio == 1.5
    assert math.isnan(_result(10, engine_ms=0.0, http_ms=3.0).overhead_ratio)


def test_targets_hold_only_when_outside_and_embed_both_meet_p50_and_p99():
    assert _result(1, 8.0, 20.0, outside=2.0, embed=3.0).meets_targets()  # p99 = 4× p50: 8 and 12 ms
    assert not _result(1, 8.0, 20.0, outside=4.0, embed=3.0).meets_targets()  # outside p99 16 ms
    assert not _result(1, 8.0, 20.0, outside=2.0, embed=5.5).meets_targets()


def test_table_has_a_column_per_size_and_a_row_per_stage_and_json_the_same_figures():
    report = ScaleReport([_result(10_000, 8.0, 20.0), _result(1_000_000, 16.0, 30.0)], n_requests=300, concurrency=2)
    table = report.table()
    header = table.splitlines()[0]
    assert "10,000" in header and "1,000,000" in header
    rows = {line.split("  ")[0].strip(): line for line in table.splitlines()}
    assert {"understand", "union", "retrieve", "engine (bare)", "outside", "http"} <= rows.keys()
    assert "20.00 / 80.00" in rows["http"] and "30.00 / 120.00" in rows["http"]
    assert "12.00 (1.50×)" in table and "14.00 (0.88×)" in table
    data = report.to_dict()
    assert [s["entities"] for s in data["sizes"]] == [10_000, 1_000_000]
    assert data["sizes"][1]["overhead_ratio"] == pytest.approx(14 / 16) and data["sizes"][0]["meets_targets"]


def test_the_plot_is_a_log_log_png(tmp_path):
    pytest.importorskip("matplotlib")
    report = ScaleReport([_result(2_000, 8.0, 20.0), _result(20_000, 16.0, 30.0)], n_requests=10, concurrency=1)
    path = report.plot(tmp_path / "plots")
    assert path.name == "scale-stages.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_bare_engine_gets_every_arm_body_of_each_query(small_searcher):
    sent = []
    engine = small_searcher.engine

    class Recording:
        flavor = engine.flavor

        def msearch(self, bodies):
            sent.append(len(bodies))
            return engine.msearch(bodies)

    from dataclasses import replace

    searcher = replace(small_searcher, engine=Recording())
    times = bare_engine_ms(searcher, ["dance pop", "memories maroon 5"])
    assert len(times) == 2 and all(t > 0 for t in times)
    assert sent == [len(small_searcher.arm_bodies(q)) for q in ("dance pop", "memories maroon 5")] and min(sent) >= 3


def test_a_step_without_its_own_progress_bar_says_it_is_still_running():
    import time

    from es_ltrr.ops.bench.scale_data import heartbeat

    said = []
    with heartbeat(said.append, "indexing", every_s=0.05):
        time.sleep(0.3)
    assert said[0] == "indexing" and len(said) >= 3 and said[1].startswith("indexing… ")
    count = len(said)
    time.sleep(0.15)
    assert len(said) == count  # stopped with the block


def test_outside_is_what_the_sidecar_adds_around_the_engine_and_the_model_per_request():
    from es_ltrr.ops.bench.scale import outside_parts

    stages = {"understand": [0.5, 1.0], "embed": [3.0, 0.0], "retrieve": [10.0, 20.0], "rank": [0.5, 1.0],
              "total": [15.0, 23.0]}
    parts = outside_parts([18.0, 30.0], stages)
    assert parts["outside"] == [5.0, 10.0]  # HTTP − retrieve − embed, request by request
    assert parts["after rank"] == [1.0, 1.0] and parts["http − total"] == [3.0, 7.0]


def test_the_slope_says_how_a_stage_grows_with_the_catalog():
    small, large = _result(10_000, 8.0, 20.0), _result(1_000_000, 16.0, 30.0)
    small.p50["retrieve"], large.p50["retrieve"] = 2.0, 200.0  # 100× entities, 100× time: linear
    report = ScaleReport([small, large], n_requests=10, concurrency=1)
    assert report.slope("retrieve") == pytest.approx(1.0) and report.slope("understand") == 0.0
    assert report.slope("engine (bare)") == pytest.approx(math.log(2) / math.log(100))  # 2× for 100×
    assert math.isnan(ScaleReport([small], 10, 1).slope("retrieve"))
    assert report.to_dict()["slopes"]["retrieve"] == pytest.approx(1.0)


def test_a_cluster_of_several_hosts_has_a_column_per_size_and_topology_with_each_nodes_figures():
    nodes = [{"node": f"n{i}", "heap_used_mb": 200 + i, "heap_max_mb": 512, "index_mb": 10.0 * i} for i in range(3)]
    results = []
    for size in (62_000, 250_000):
        for topology, retrieve in (("1 node", 10.0), ("3 nodes", 30.0)):
            r = _result(size, 8.0, 20.0)
            r.topology, r.cluster_build_s, r.nodes = topology, 41.0, nodes
            r.p50["retrieve"] = retrieve * size / 62_000
            results.append(r)
    report = ScaleReport(results, n_requests=10, concurrency=1)
    table = report.table()
    header = table.splitlines()[0]
    assert "62,000 1 node" in header and "250,000 3 nodes" in header
    rows = {line.split("  ")[0].strip(): line for line in table.splitlines()}
    assert "200/512, 201/512, 202/512" in rows["heap used / max MB per node"]
    assert "0.0, 10.0, 20.0" in rows["index MB per node"] and "41" in rows["cluster index build s"]
    assert "(per node: n0, n1, n2;" in table
    assert report.slope("retrieve") == pytest.approx(1.0)  # within one topology, not across them
    assert report.to_dict()["sizes"][1]["topology"] == "3 nodes"
