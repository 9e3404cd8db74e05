"""The gazetteer on disk: save/load round trip, and clear errors for files it cannot read."""

from __future__ import annotations

import gc
import gzip
import json
import pickle
from pathlib import Path

import pytest

from es_ltrr.catalog import load_catalog
from es_ltrr.understanding import Gazetteer, understand
from es_ltrr.understanding.gazetteer_file import FORMAT, VERSION

MISSPELT = ["tayler swift", "metalica", "beyonse", "ed sheran", "dance pop songs", "80s rock",
            "happy songs", "chill playlist", "the weeknd blinding lights", "xyzzy", ""]


@pytest.fixture(scope="module")
def entities(small_catalog) -> list[dict]:
    return load_catalog(small_catalog)


@pytest.fixture(scope="module")
def saved(entities, tmp_path_factory) -> tuple[Gazetteer, Path]:
    gaz = Gazetteer.from_entities(entities)
    path = tmp_path_factory.mktemp("gaz") / "gazetteer.json.gz"
    gaz.save(path)
    return gaz, path


def test_round_trip_understands_alike(entities, saved):
    original, path = saved
    loaded = Gazetteer.load(path)
    assert loaded.tables() == original.tables()
    queries = MISSPELT + [q for e in entities[::7] for q in e["q2e_queries"][:4]]
    assert len(queries) > 500
    for q in queries:
        assert understand(q, loaded) == understand(q, original), q


def test_the_file_is_documented_gzip_json(saved):
    _, path = saved
    doc = json.loads(gzip.decompress(path.read_bytes()))
    assert (doc["format"], doc["version"]) == (FORMAT, VERSION) == ("es-ltrr-gazetteer", 1)
    assert set(doc) == {"format", "version", "kinds", "entries", "exact", "fuzzy",
                        "artist_titles", "artist_albums"}


def test_save_is_deterministic_and_leaves_no_temporary_file(saved, tmp_path):
    gaz, path = saved
    again = tmp_path / "g.json.gz"
    gaz.save(again)
    Gazetteer.load(again).save(again)  # a loaded gazetteer saves the same bytes
    assert again.read_bytes() == path.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["g.json.gz"]


def test_load_takes_a_fuzzy_cache_size(saved):
    assert Gazetteer.load(saved[1], fuzzy_cache_size=3).fuzzy_cache_size == 3


def rewrite(change):
    """A bad file made from the good one: its JSON document changed by `change`."""

    def make(src: Path, dst: Path) -> Path:
        doc = json.loads(gzip.decompress(src.read_bytes()))
        change(doc)
        return put(dst, gzip.compress(json.dumps(doc).encode()))

    return make


def put(dst: Path, data: bytes) -> Path:
    dst.write_bytes(data)
    return dst


def corrupt(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]


@pytest.mark.parametrize(
    "make, reason",
    [
        (rewrite(lambda d: d.update(version=2)), "format version 2"),
        (rewrite(lambda d: d.update(format="other")), "not an es-ltrr"),
        (rewrite(lambda d: d.pop("fuzzy")), "malformed"),
        (rewrite(lambda d: d["kinds"].append("venue")), "malformed"),
        (rewrite(lambda d: d["entries"][0].pop()), "malformed"),
        (rewrite(lambda d: d["exact"].update(x=[10**9])), "malformed"),
        (lambda src, dst: put(dst, src.read_bytes()[: src.stat().st_size // 2]), "not gzip'd JSON"),
        (lambda src, dst: put(dst, corrupt(src.read_bytes())), "not gzip'd JSON"),
        (lambda src, dst: put(dst, gzip.compress(b'{"format": ')), "not gzip'd JSON"),
        (lambda src, dst: put(dst, b""), "not gzip'd JSON"),
        (lambda src, dst: put(dst, gzip.compress(b"[1, 2]")), "not an es-ltrr"),
    ],
    ids=["version", "format", "missing-table", "unknown-kind", "short-row", "bad-index",
         "truncated", "corrupt", "truncated-json", "empty", "not-an-object"],
)
def test_unreadable_files_say_to_rebuild(saved, tmp_path, make, reason):
    bad = make(saved[1], tmp_path / "bad.json.gz")
    with pytest.raises(ValueError) as err:
        Gazetteer.load(bad)
    message = str(err.value)
    assert reason in message and str(bad) in message and "es-ltrr index" in message


def test_an_old_pickle_is_not_mistaken_for_the_format(saved, tmp_path):
    path = tmp_path / "gazetteer.pkl"
    path.write_bytes(pickle.dumps({"exact": {}, "tables": [1, 2]}))  # what gazetteer.pkl files held
    with pytest.raises(ValueError, match="es-ltrr index"):
        Gazetteer.load(path)


def test_a_missing_file_is_not_a_format_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        Gazetteer.load(tmp_path / "absent.json.gz")


def test_loading_leaves_the_garbage_collector_as_it_was(saved, tmp_path):
    Gazetteer.load(saved[1])
    with pytest.raises(ValueError):
        Gazetteer.load(put(tmp_path / "bad.json.gz", b"not gzip"))
    assert gc.isenabled()
    gc.disable()
    try:
        Gazetteer.load(saved[1])
        assert not gc.isenabled()
    finally:
        gc.enable()
