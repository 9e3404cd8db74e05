"""`es-ltrr train` against the real node: simulated traffic on the cluster, features through
the plugin's ltr_log, upload with parity, activation (searches rescore with sltr), a model
that does not beat the active one stays inactive, rollback."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from es_ltrr.common.datadir import DataDir
from es_ltrr.ops.apply import apply_ltr, installed_components
from es_ltrr.ops.train import TrainOptions, run_training
from es_ltrr.ranking.ltr import default_featureset
from es_ltrr.ranking.ltr.plugin import LtrPlugin
from es_ltrr.serving.contract import parse_search_request

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def stored_featureset(engine, alias, gaps):
    if not any("ltr" in c for c in installed_components(engine)):
        pytest.skip("the node has no LTR plugin")
    plugin = LtrPlugin(engine)
    if not plugin.store_exists():
        plugin.create_store()
    fs = replace(default_featureset(), name=f"{alias}-train-fs")
    apply_ltr(engine, [fs], say=lambda _: None)
    yield fs
    engine.request("DELETE", f"/_ltr/_featureset/{fs.name}")


def test_train_uploads_activates_gates_and_rolls_back(settings, cluster_searcher, stored_featureset):
    from es_ltrr.serving.wiring import build_searcher

    plugin = LtrPlugin(cluster_searcher.engine)
    said: list[str] = []
    # margin -1: activate whatever the judged queries say (the small slice's model need not beat
    # fusion), so activation and sltr serving are exercised; the gate is checked below. The
    # simulated searches go into the serving log (--into-serving), so the UBI mirror gets them.
    report = run_training(settings, cluster_searcher,
                          TrainOptions(searches=400, margin=-1.0, progress=False, into_serving=True, gate_queries=60),
                          said.append, featureset=stored_featureset)
    print(f"\ntrain on the node: {report}")
    names = [report["model"]]
    try:
        assert any("no feedback logged yet" in line for line in said)
        assert report["parity_max_abs_diff"] is not None and report["parity_max_abs_diff"] <= 1e-4
        data = DataDir(settings.data_dir)
        assert (data.model_dir(report["model"]) / "metrics.json").is_file()
        assert report["activated"] and report["active_model"] == report["model"]
        served = build_searcher(settings, say=lambda _: None)
        result = served.search(parse_search_request({"query": "maroon 5"}))
        assert result.ranker == f"sltr:{report['model']}"
        # --no-activate (margin -1: the gate would activate it): trained, saved, not uploaded —
        # `train --no-activate` uploaded every model, and models piled up (issue 23, item 10)
        again = run_training(settings, cluster_searcher,
                             TrainOptions(margin=-1.0, activate=False, progress=False, seed=2, gate_queries=60),
                             said.append, featureset=stored_featureset)
        names.append(again["model"])
        assert not again["activated"] and again["active_model"] == report["model"]
        assert again["parity_max_abs_diff"] is None and plugin.get_model(again["model"]) is None
        assert (data.model_dir(again["model"]) / "model.json").is_file()
        assert any("not uploaded" in line and "upload-model" in line for line in said)
        # uploading it later keeps its name: stored once, under the name train gave it
        from es_ltrr.ranking.ltr.upload import ParityCase, upload_model

        result = cluster_searcher.search(parse_search_request({"query": "maroon 5"}))
        case = ParityCase.of("maroon 5", result.understanding, result.candidates, result.vector,
                             cluster_searcher.engine.flavor, cluster_searcher.engine.capabilities.memory)
        stored = [data.model_dir(n) for n in data.model_names()]
        up = upload_model(plugin, data.model_dir(again["model"]) / "model.json", stored_featureset, [case],
                          data.model_dir, stored=stored)
        assert up.name == again["model"] and up.created and plugin.get_model(again["model"]) is not None
        assert "gate" in json.loads((data.model_dir(again["model"]) / "metrics.json").read_text())  # report kept
        cluster_searcher.engine.request("POST", "/ubi_queries,ubi_events/_refresh")
        from_ubi = run_training(settings, cluster_searcher, TrainOptions(source="ubi", margin=1.0, progress=False, gate_queries=60),
                                said.append, featureset=stored_featureset)
        names.append(from_ubi["model"])
        assert any("UBI indices" in line for line in said) and from_ubi["judged_queries"] > 0
        assert not from_ubi["activated"] and plugin.get_model(from_ubi["model"]) is None  # lost the gate: not uploaded
        assert data.rollback_model() is None and data.active_model() is None
    finally:
        for name in names:
            plugin.delete_model(name)
