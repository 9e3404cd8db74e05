"""Finding candidates: the first tier of learning to rank *and retrieve*.

* `arms/` — the arm registry: one module per retrieval strategy + its mustache template;
* `policy/` — which arms run and how deep, per query (static, contextual Thompson sampling,
  the baselines), and the off-policy estimators that evaluate a policy from logs;
* `engines/` — the `Engine` protocol: the embedded engine and the cluster client;
* `embedding.py`, `embedding_onnx.py` — MiniLM query and catalog vectors (ONNX Runtime for queries);
* `union.py` — the arms' results as one candidate list with provenance;
* `indexing.py` — a catalog → vectors → index + gazetteer + catalog stats (`es-ltrr index`).
"""
