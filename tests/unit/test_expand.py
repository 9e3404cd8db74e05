"""`catalog/expand.py`: a catalog resized to N entities — seeded, valid for the schema, unit vectors."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from es_ltrr.catalog import load_catalog
from es_ltrr.catalog.entities import AUDIO_FEATURES
from es_ltrr.catalog.expand import FIXED_TYPES, expand
from es_ltrr.common.schema import MUSIC
from es_ltrr.ops.bench.scale_data import write_jsonl


@pytest.fixture(scope="module")
def base(small_catalog):
    """The small real catalog and fake unit vectors (the expansion only mixes them)."""
    entities = load_catalog(small_catalog, progress=False)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((len(entities), 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return entities, vectors


def _ids(entities):
    return [e["id"] for e in entities]


@pytest.mark.parametrize("factor", [0.5, 4.0])
def test_the_same_seed_gives_the_same_catalog_and_another_seed_another(base, factor):
    entities, vectors = base
    size = int(len(entities) * factor)
    a, b, c = (expand(entities, vectors, size, seed=s) for s in (3, 3, 4))
    assert a.entities == b.entities and np.array_equal(a.vectors, b.vectors)
    assert _ids(a.entities) != _ids(c.entities) or [e.get("name") for e in a.entities] != [e.get("name") for e in c.entities]


@pytest.mark.parametrize("factor", [0.05, 0.5, 1.0, 3.0])
def test_the_size_is_exact_and_ids_are_unique(base, factor):
    entities, vectors = base
    size = max(1, int(len(entities) * factor))
    grown = expand(entities, vectors, size, seed=1)
    assert len(grown.entities) == size == len(grown.vectors)
    assert len(set(_ids(grown.entities))) == size
    assert grown.derived == max(0, size - len(entities))


def test_growing_keeps_every_real_entity_first_and_the_type_mix(base):
    entities, vectors = base
    grown = expand(entities, vectors, 5 * len(entities), seed=2)
    assert grown.entities[: len(entities)] == entities
    assert np.array_equal(grown.vectors[: len(entities)], vectors)
    real, new = Counter(e["type"] for e in entities), Counter(e["type"] for e in grown.entities[len(entities):])
    assert not set(new) & set(FIXED_TYPES)
    for kind in ("track", "album", "artist"):  # the derived mix follows the real one (±5 points)
        share_real = real[kind] / sum(real[t] for t in ("track", "album", "artist", "playlist"))
        assert abs(new[kind] / grown.derived - share_real) < 0.05


def test_a_sample_is_stratified_and_keeps_every_genre(base):
    entities, vectors = base
    sample = expand(entities, vectors, len(entities) // 3, seed=5)
    kept = Counter(e["type"] for e in sample.entities)
    real = Counter(e["type"] for e in entities)
    assert all(kept[t] == real[t] for t in FIXED_TYPES)
    assert abs(kept["track"] / real["track"] - kept["album"] / real["album"]) < 0.02
    rows = [_ids(entities).index(i) for i in _ids(sample.entities)]
    assert rows == sorted(rows) and np.array_equal(sample.vectors, vectors[rows])


def test_derived_entities_are_valid_documents_of_the_schema(base, tmp_path):
    entities, vectors = base
    grown = expand(entities, vectors, 4 * len(entities), seed=7)
    path = tmp_path / "grown.jsonl.gz"
    write_jsonl(grown.entities, path)
    loaded = load_catalog(path)  # validates keys against the schema, required fields, unique ids
    assert loaded == grown.entities
    fields = {f.name for f in MUSIC.fields}
    real_artists = {e["name"] for e in entities if e["type"] == "artist"}
    pops = [e["popularity"] for e in entities if e["type"] == "track"]
    assert len(grown.entities) == 4 * len(entities)
    for doc in grown.entities[len(entities):]:
        assert set(doc) <= fields and doc["description"] and doc["q2e"]
        assert all(0.0 <= doc[f] <= 1.0 for f in AUDIO_FEATURES if f != "tempo")
        assert 40.0 <= doc["tempo"] <= 240.0 and doc["genres"]
        if doc["type"] == "track":
            assert doc["artist"] in real_artists and min(pops) <= doc["popularity"] <= max(pops)
            assert doc["release_date"] <= max(e["release_date"] for e in entities if e.get("release_date"))


def test_derived_vectors_are_unit_length_and_near_their_sources(base):
    entities, vectors = base
    grown = expand(entities, vectors, 3 * len(entities), seed=9)
    norms = np.linalg.norm(grown.vectors, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5) and grown.vectors.dtype == np.float32
    by_name = {e["name"]: i for i, e in enumerate(entities) if e["type"] == "album"}
    editions = [(i, by_name[e["name"].rsplit(" (", 1)[0]]) for i, e in enumerate(grown.entities)
                if i >= len(entities) and e["type"] == "album" and e["name"].rsplit(" (", 1)[0] in by_name]
    assert editions  # an edition's vector is its album's plus noise: far closer than a random pair
    cos = np.array([float(grown.vectors[i] @ vectors[j]) for i, j in editions])
    # (a few names match by chance: a new album titled like a real one, two albums of one name)
    assert np.mean(cos > 0.9) > 0.8 and abs(float(np.median(vectors[1:] @ vectors[0]))) < 0.3


def test_without_vectors_and_bad_sizes(base):
    entities, _ = base
    assert expand(entities, None, 2 * len(entities)).vectors is None
    with pytest.raises(ValueError, match="at least 1"):
        expand(entities, None, 0)
    with pytest.raises(ValueError, match="vectors for"):
        expand(entities, np.zeros((3, 4), np.float32), 10)
