"""`es-ltrr bench --entities`: end to end on the small catalog (a sample and an expansion)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from es_ltrr.cli import main


@pytest.mark.slow
def test_bench_entities_measures_each_size_caches_the_builds_and_plots(small_catalog, tmp_path, monkeypatch):
    monkeypatch.setenv("ES_LTRR_CACHE_DIR", str(tmp_path / "cache"))  # the spawned children read it too
    base = ["--catalog", str(small_catalog), "--data-dir", str(tmp_path / "d"), "--no-embed"]
    run = CliRunner().invoke(main, [*base, "bench", "--entities", "300,2.5k", "--requests", "12", "--json",
                                    "--plots", str(tmp_path / "plots"), "--out", str(tmp_path / "out.json")])
    assert run.exit_code == 0, run.output
    data = json.loads(run.stdout)
    assert data == json.loads((tmp_path / "out.json").read_text())
    small, large = data["sizes"]
    assert (small["entities"], large["entities"]) == (300, 2500)
    assert small["derived"] == 0 and large["derived"] > 1000  # a sample, then an expansion
    for size in (small, large):
        assert size["errors"] == 0 and size["qps"] > 0 and size["engine"] == "embedded"
        assert {"understand", "choose", "render", "retrieve", "union", "rank", "http", "engine (bare)",
                "outside"} <= size["p50"].keys()
        assert size["p50"]["engine (bare)"] > 0 and size["index_mb"] > 0 and not size["reused"]
        assert size["overhead_ratio"] == pytest.approx(size["overhead_ms"] / size["p50"]["engine (bare)"])
    assert large["index_mb"] > small["index_mb"]
    assert (tmp_path / "plots" / "scale-stages.png").stat().st_size > 0
    builds = sorted(p.name.split("-")[0] for p in (tmp_path / "cache" / "scale").iterdir())
    assert builds == ["2500", "300"]

    again = CliRunner().invoke(main, [*base, "bench", "--entities", "300", "--requests", "5", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["sizes"][0]["reused"] is True


def test_bench_entities_refuses_bad_sizes_and_plots_without_sizes(small_catalog, tmp_path):
    base = ["--catalog", str(small_catalog), "--data-dir", str(tmp_path / "d"), "--no-embed", "bench"]
    bad = CliRunner().invoke(main, [*base, "--entities", "10q"])
    assert bad.exit_code == 2 and "'10q' is not a size" in bad.output
    lonely = CliRunner().invoke(main, [*base, "--plots", str(tmp_path / "p")])
    assert lonely.exit_code == 2 and "need --entities" in lonely.output
    assert not (tmp_path / "d").exists()  # refused before any work
