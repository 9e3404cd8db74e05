"""Damaged state files are found at start: `es-ltrr search` and `es-ltrr serve` stop with one
`error:` line naming the file and how to get a good one back (exit 2, no traceback).

Every file a search reads at start is truncated to half or garbled (every 7th byte replaced,
seeded): the manifest, the catalog stats, the gazetteer, the embedded index's meta, sources,
offsets and arrays, the policy state, the active model's booster and metadata. The feedback
log (read by `serve` only) runs as a real `es-ltrr serve` process. The vector cache heals
itself instead (tests/unit/test_vector_cache.py). The same detection covers a cluster data dir
(manifest, gazetteer, stats, policy, models are local files there too).
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from es_ltrr.cli import main
from es_ltrr.common.datadir import DataDir
from es_ltrr.feedback.store import FeedbackStore
from es_ltrr.ranking.ltr import LtrModel, default_featureset

#: file in the data dir → what the message must say to get a good one back
FILES = {
    "manifest.json": "es-ltrr index",
    "catalog_stats.json": "es-ltrr index",
    "gazetteer.json.gz": "es-ltrr index",
    "index/meta.json": "es-ltrr index",
    "index/sources.jsonl": "es-ltrr index",
    "index/sources.offsets.npy": "es-ltrr index",
    "index/arrays/name/indices.npy": "es-ltrr index",
    "index/arrays/id_hash.npy": "es-ltrr index",
    "policy/thompson.json": "delete it",
    "models/m1/model.json": "es-ltrr train",
    "models/m1/metadata.json": "es-ltrr train",
}


def damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncate":
        data = data[: len(data) // 2]
    else:
        rng = random.Random(1)
        for i in range(0, len(data), 7):
            data[i] = rng.randrange(256)
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def built(small_catalog, tmp_path_factory) -> Path:
    """A data dir with every state file: index, policy state, an active model, a feedback log."""
    import xgboost as xgb

    from es_ltrr.serving.wiring import make_policy

    data = tmp_path_factory.mktemp("state") / "d"
    result = CliRunner().invoke(main, ["--catalog", str(small_catalog), "--data-dir", str(data), "--no-embed", "index"])
    assert result.exit_code == 0, result.output
    dd = DataDir(data)
    dd.save_policy_state(make_policy("thompson").state())
    fs = default_featureset()
    x = np.random.default_rng(1).random((40, len(fs.names)))
    booster = xgb.train({"objective": "rank:ndcg"}, xgb.DMatrix(x, label=(x[:, 0] > 0.5).astype(float),
                                                                 feature_names=fs.names), 3)
    LtrModel(booster, fs, "m1").save(dd.model_dir("m1"))
    dd.activate_model("m1")
    FeedbackStore(dd.feedback_log).close()
    return data


def _search(catalog: Path, data: Path):
    return CliRunner().invoke(main, ["--catalog", str(catalog), "--data-dir", str(data), "--no-embed", "search", "love"])


def test_the_intact_data_dir_searches(built, small_catalog):
    result = _search(small_catalog, built)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("how", ["truncate", "garble"])
@pytest.mark.parametrize("name", FILES)
def test_a_damaged_file_is_named_with_the_way_to_rebuild_it(built, small_catalog, tmp_path, name, how):
    data = tmp_path / "d"
    shutil.copytree(built, data)
    damage(data / name, how)
    result = _search(small_catalog, data)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and "Traceback" not in result.output
    assert str(data / name) in result.stderr, result.stderr
    assert FILES[name] in result.stderr, result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("how", ["truncate", "garble"])
def test_a_damaged_feedback_log_stops_serve_with_the_way_out(built, small_catalog, tmp_path, how):
    data = tmp_path / "d"
    shutil.copytree(built, data)
    log = data / "logs" / "feedback.sqlite3"
    damage(log, how)
    run = subprocess.run([sys.executable, "-m", "es_ltrr.cli", "--catalog", str(small_catalog), "--data-dir", str(data),
                          "--no-embed", "serve", "--port", "0"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    error = run.stderr.strip().splitlines()[-1]
    assert error.startswith("error: cannot open the feedback log") and str(log) in error, run.stderr
    assert "move it aside" in error and "Traceback" not in run.stderr
