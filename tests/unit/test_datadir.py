"""The data dir: its manifest, the checks on open, models and policy state."""

from __future__ import annotations

import gzip
import json
import shutil
from dataclasses import replace

import pytest

from es_ltrr.common.datadir import FORMAT, DataDir, DataDirError, schema_digest
from es_ltrr.common.schema import MUSIC, Field
from es_ltrr.common.settings import Settings
from es_ltrr.retrieval.indexing import index_exists
from es_ltrr.retrieval.policy import StaticPolicy
from es_ltrr.serving.wiring import build_searcher


@pytest.fixture(scope="module")
def built(small_catalog, tmp_path_factory):
    """A finished build of the small catalog (no vectors)."""
    settings = Settings.load(env={}, catalog=small_catalog, data_dir=tmp_path_factory.mktemp("built"), embed=False)
    build_searcher(settings, say=lambda _: None)
    return settings


@pytest.fixture
def copy(built, tmp_path):
    """A private copy of the built data dir, free to damage."""
    shutil.copytree(built.data_dir, tmp_path / "data")
    return replace(built, data_dir=tmp_path / "data")


def test_layout_and_manifest(built):
    data = DataDir(built.data_dir)
    assert {p.name for p in built.data_dir.iterdir()} == {"manifest.json", "index", "gazetteer.json.gz", "catalog_stats.json"}
    m = data.check(MUSIC, built.catalog)
    assert m.format == FORMAT and m.schema == schema_digest(MUSIC) and m.entities > 400


def test_an_interrupted_build_is_rebuilt(copy):
    DataDir(copy.data_dir).manifest_path.unlink()  # the manifest is written last
    assert not index_exists(copy)
    build_searcher(copy, say=lambda _: None)
    assert index_exists(copy)


def test_another_format_is_refused(copy):
    path = DataDir(copy.data_dir).manifest_path
    path.write_text(json.dumps({**json.loads(path.read_text()), "format": FORMAT + 1}))
    with pytest.raises(DataDirError, match="format .*es-ltrr index"):
        build_searcher(copy, say=lambda _: None)


def test_another_schema_is_refused(copy):
    other = replace(MUSIC, fields=(*MUSIC.fields, Field("mood_score", "float")))
    with pytest.raises(DataDirError, match="another schema"):
        DataDir(copy.data_dir).check(other, copy.catalog)


def test_another_catalog_is_refused_the_same_one_elsewhere_is_not(copy, tmp_path):
    moved = tmp_path / "same.csv.gz"
    shutil.copy(copy.catalog, moved)
    DataDir(copy.data_dir).check(MUSIC, moved)  # same bytes, other path: fine
    with gzip.open(copy.catalog, "rt") as src, gzip.open(tmp_path / "other.csv.gz", "wt") as dst:
        dst.writelines(list(src)[:50])
    with pytest.raises(DataDirError, match="was built from"):
        build_searcher(replace(copy, catalog=tmp_path / "other.csv.gz"), say=lambda _: None)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_artifact_names_the_file(copy, damage):
    path = DataDir(copy.data_dir).gazetteer_path
    path.write_bytes(path.read_bytes()[:100] if damage == "truncate" else b"not a gazetteer")
    with pytest.raises(ValueError, match="gazetteer.json.gz.*es-ltrr index"):
        build_searcher(copy, say=lambda _: None)


def test_models_and_the_active_one(tmp_path):
    data = DataDir(tmp_path)
    assert data.active_model() is None
    with pytest.raises(DataDirError, match="no model"):
        data.activate_model("v1")
    data.model_dir("v1").mkdir(parents=True)
    data.activate_model("v1")
    assert data.active_model() == tmp_path / "models" / "v1"
    for bad in ("", "../up", ".hidden", "a/b"):
        with pytest.raises(ValueError, match="invalid model name"):
            data.model_dir(bad)


def test_deleting_models_spares_the_active_one_and_rollback_targets(tmp_path):
    """`models --delete/--prune` (issue 23, item 10): the active model is never deleted, a model
    `rollback_model` can return to only when told, and then it leaves HISTORY too."""
    data = DataDir(tmp_path)
    for name in ("v1", "v2", "v3", "v4"):
        data.model_dir(name).mkdir(parents=True)
    data.activate_model("v1")
    data.activate_model("v2")  # HISTORY: fusion, v1
    assert data.model_names() == ["v1", "v2", "v3", "v4"] and data.history() == ["v1"]
    with pytest.raises(DataDirError, match="v2 is the active model"):
        data.delete_model("v2", history=True)
    with pytest.raises(DataDirError, match="v1 is in .*HISTORY.*--force"):
        data.delete_model("v1")
    with pytest.raises(DataDirError, match="no model 'v9'"):
        data.delete_model("v9")
    data.delete_model("v3")
    assert data.model_names() == ["v1", "v2", "v4"]
    data.delete_model("v1", history=True)
    assert data.model_names() == ["v2", "v4"] and data.history() == []
    assert data.rollback_model() is None and data.active_model() is None  # back to fusion, skipping v1


def test_policy_state_round_trip_and_corruption(tmp_path):
    data = DataDir(tmp_path)
    policy = StaticPolicy(seed=3)
    assert data.policy_state("static") is None
    data.save_policy_state(policy.state())
    resumed = StaticPolicy(seed=99)
    resumed.load_state(data.policy_state("static"))
    assert resumed.state() == policy.state()
    data.policy_state_path("static").write_text("{oops")
    with pytest.raises(DataDirError, match="static.json is corrupt"):
        data.policy_state("static")


@pytest.mark.parametrize("name", ["meta.json", "arrays/id_hash.npy", "sources.jsonl", "sources.offsets.npy"])
def test_a_damaged_index_file_names_the_index(copy, name):
    from es_ltrr.retrieval.engines import EngineError

    path = DataDir(copy.data_dir).index_dir / name
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(EngineError, match="index.*unreadable.*es-ltrr index"):
        build_searcher(copy, say=lambda _: None)
