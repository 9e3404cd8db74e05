"""What an operator runs besides searching: the cluster's plan, training, benchmarks, the dev node.

* `apply.py` — `es-ltrr apply`: mappings, stored templates and LTR featuresets, plan then apply;
* `train.py` — `es-ltrr train`: feedback → judgments → features → XGBoost → gate → activate;
* `engine_parity.py` — `es-ltrr parity`: per-arm top-k overlap between two engines;
* `bench/` — `es-ltrr bench`: latency per stage and QPS, the soak, scale with catalog size;
* `devnode/` — a real OpenSearch or Elasticsearch node from Maven artifacts, with the LTR
  plugin built from vendored source (tests and development; imports nothing of es_ltrr).
"""
