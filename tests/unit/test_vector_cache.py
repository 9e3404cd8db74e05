"""The catalog vector cache: per-text keys, resume after an interruption, order restored.

A fake encoder (no torch) makes each text's vector a function of the text, so a vector in
the wrong row, or a text embedded twice, is visible.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pytest

from es_ltrr.catalog.texts import embedding_text, embedding_texts, tags
from es_ltrr.retrieval import embedding
from es_ltrr.retrieval.embedding import DIM, VectorCache, embed_catalog


def vector_of(text: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


class FakeEncoder:
    """Records every text and batch it encodes; raises after `fail_after` texts if set."""

    def __init__(self, fail_after: int | None = None):
        self.fail_after = fail_after
        self.seen: list[str] = []
        self.batches: list[list[str]] = []

    def encode(self, texts: Sequence[str], batch_size: int = 64,
               progress: Callable[[int], None] | None = None) -> np.ndarray:
        out = []
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            if self.fail_after is not None and len(self.seen) + len(batch) > self.fail_after:
                raise KeyboardInterrupt("interrupted")
            self.seen += batch
            self.batches.append(batch)
            out += [vector_of(t) for t in batch]
            if progress:
                progress(len(batch))
        return np.stack(out)


def catalog(n: int) -> list[str]:
    """Texts of varied lengths, not in length order."""
    return [f"text {i} " + "word " * ((i * 7) % 13) for i in range(n)]


@pytest.fixture
def small_shards(monkeypatch):
    monkeypatch.setattr(embedding, "SHARD_TEXTS", 10)
    monkeypatch.setattr(embedding, "CATALOG_BATCH", 4)


def test_vectors_come_back_in_catalog_order(tmp_path: Path, small_shards):
    texts = catalog(37)
    encoder = FakeEncoder()
    vectors = embed_catalog(encoder, texts, tmp_path)
    assert np.array_equal(vectors, np.stack([vector_of(t) for t in texts]))
    lengths = [len(t) for t in encoder.seen]
    assert lengths == sorted(lengths), "texts are embedded shortest first"
    assert lengths != [len(t) for t in texts]


def test_interrupted_run_resumes_from_the_written_shards(tmp_path: Path, small_shards):
    texts = catalog(37)
    first = FakeEncoder(fail_after=25)
    with pytest.raises(KeyboardInterrupt):
        embed_catalog(first, texts, tmp_path)
    assert len(first.seen) == 24  # six batches of 4; shards of 10 written: 20 texts kept
    second = FakeEncoder()
    vectors = embed_catalog(second, texts, tmp_path)
    assert len(second.seen) == 37 - 20
    assert not set(second.seen) & set(first.seen[:20])
    assert np.array_equal(vectors, np.stack([vector_of(t) for t in texts]))


def test_a_changed_catalog_embeds_only_the_changed_texts(tmp_path: Path, small_shards):
    texts = catalog(30)
    embed_catalog(FakeEncoder(), texts, tmp_path)
    changed = list(texts)
    changed[3], changed[17] = "a new text", "another new text"
    encoder = FakeEncoder()
    progress: list[int] = []
    vectors = embed_catalog(encoder, changed + ["a new text"], tmp_path, progress=progress.append)
    assert sorted(encoder.seen) == ["a new text", "another new text"]  # a repeat is embedded once
    assert sum(progress) == 31
    assert np.array_equal(vectors[17], vector_of("another new text"))
    assert np.array_equal(vectors[30], vectors[3])


def test_cache_compacts_to_one_shard_and_keeps_every_vector(tmp_path: Path, small_shards):
    embed_catalog(FakeEncoder(), catalog(95), tmp_path)  # ten shards > MAX_SHARDS
    assert len(list((tmp_path / "vectors").rglob("shard-*.npz"))) == 1
    encoder = FakeEncoder()
    embed_catalog(encoder, catalog(95), tmp_path)
    assert encoder.seen == []


@pytest.mark.parametrize("damage", ["replace", "truncate", "garble"])
def test_a_damaged_shard_is_named_moved_aside_and_embedded_again(tmp_path: Path, small_shards, caplog, damage):
    texts = catalog(8)
    embed_catalog(FakeEncoder(), texts, tmp_path)
    (shard,) = (tmp_path / "vectors").rglob("shard-*.npz")
    data = bytearray(shard.read_bytes())
    if damage == "replace":
        data = bytearray(b"not a zip")
    elif damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 3 : len(data) // 3 + 64] = bytes(64)  # zeros over a member's bytes
    shard.write_bytes(bytes(data))
    encoder = FakeEncoder()
    assert np.array_equal(embed_catalog(encoder, texts, tmp_path), np.stack([vector_of(t) for t in texts]))
    assert len(encoder.seen) == 8
    assert len(VectorCache(tmp_path)._rows) == 8
    assert f"vector cache shard {shard} is damaged" in caplog.text
    assert shard.with_name(shard.name + ".damaged").is_file() and not shard.exists()


def test_embedding_text_keeps_name_artist_type_tags_and_moods():
    track = {"type": "track", "name": "Lover", "artist": "Taylor Swift", "album": "Lover", "release_year": 2019,
             "genres": ["pop", "rock"], "subgenres": ["dance pop", "electropop", "post-teen pop", "pop rock"],
             "moods": ["happy", "danceable", "acoustic"], "description": "Lover — song by Taylor Swift …"}
    assert embedding_text(track) == "Lover by Taylor Swift. dance pop, electropop, post-teen pop, happy, danceable"
    assert tags({"genres": ["rap"], "subgenres": ["trap"]}) == ["trap", "rap"]  # "rap" is not a word of "trap"
    other = {"type": "book", "name": "Dune", "description": "Dune — a novel"}
    assert embedding_text(other) == "Dune — a novel"


def test_artists_are_known_for_their_most_popular_titles():
    tracks = [{"type": "track", "name": n, "artist": "Queen", "popularity": p}
              for n, p in [("Bohemian Rhapsody - 2011 Mix", 80), ("Bohemian Rhapsody", 70), ("Under Pressure", 75), ("Other", 10)]]
    artist = {"id": "artist:queen", "type": "artist", "name": "Queen"}
    assert embedding_texts(tracks + [artist])[-1] == "Queen, artist. Known for Bohemian Rhapsody, Under Pressure"
