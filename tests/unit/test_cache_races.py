"""Shared caches under concurrent use: no KeyError when another thread evicts or clears.

Waitress serves searches from several threads that share one gazetteer and one encoder.
A check-then-use cache (`in` then `[]`, `get` then `move_to_end`) raises KeyError when
another thread evicts the key in between. `SlowKey` hashes through Python code that yields
the GIL, which opens exactly that window on every lookup, so a racy cache fails at once.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from es_ltrr.catalog import read_spotify
from es_ltrr.retrieval.embedding import DIM, Encoder
from es_ltrr.understanding import Gazetteer

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "spotify_small.csv"
THREADS = 8
CALLS = 300


class SlowKey(str):
    """A str whose hashing lets other threads run (a cache lookup becomes a switch point)."""

    def __hash__(self) -> int:
        time.sleep(0)
        return str.__hash__(self)


def hammer(call: Callable[[str], object], keys: list[str]) -> list[BaseException]:
    """Run `call` over `keys` from many threads at once; the exceptions raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(offset: int) -> None:
        start.wait()
        try:
            for n in range(CALLS):
                call(keys[(offset + n) % len(keys)])
        except BaseException as exc:  # noqa: BLE001 - every failure is the finding
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_gazetteer_fuzzy_cache_survives_concurrent_eviction():
    entities = read_spotify(FIXTURE, progress=False).entities
    gaz = Gazetteer.from_entities(entities, fuzzy_cache_size=2)
    keys = [SlowKey(k) for k in ("tayler", "metalica", "beyonse", "swifft", "rockk", "happpy")]
    expected = {k: Gazetteer.from_entities(entities).fuzzy(str(k)) for k in keys}
    assert expected[keys[0]] is not None  # the keys do reach the fuzzy index
    errors = hammer(gaz.fuzzy, keys)
    assert errors == []
    assert {k: gaz.fuzzy(k) for k in keys} == expected


class FakeModel:
    """Stands in for the query model: a vector derived from the text, no graph."""

    def encode(self, batch: list[str], **_: object) -> np.ndarray:
        out = np.zeros((len(batch), DIM), dtype=np.float32)
        for i, text in enumerate(batch):
            out[i, sum(map(ord, text)) % DIM] = 1.0
        return out


def test_encoder_query_cache_survives_concurrent_eviction(tmp_path):
    encoder = Encoder(cache_size=2, cache_dir=tmp_path)
    encoder._query_model = FakeModel().encode
    keys = [SlowKey(f"query {i}") for i in range(5)]
    errors = hammer(encoder.encode_query, keys)
    assert errors == []
    for key in keys:
        np.testing.assert_array_equal(encoder.encode_query(key), FakeModel().encode([key])[0])


@pytest.mark.parametrize("size", [1, 3])
def test_encoder_cache_keeps_recent_queries(size, tmp_path):
    encoder = Encoder(cache_size=size, cache_dir=tmp_path)
    encoder._query_model = FakeModel().encode
    first = encoder.encode_query("a")
    assert encoder.encode_query("a") is first  # a hit returns the cached vector
    for text in "bcd":
        encoder.encode_query(text)
    assert encoder.encode_query("a") is not first  # evicted by `size` newer queries
