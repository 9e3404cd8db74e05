"""`es-ltrr bench`: what the served search costs.

* `latency.py` — latency per stage (p50/p99) and QPS of `POST /search` on 127.0.0.1;
* `soak.py` — `--soak`: searches and feedback for minutes: errors, latency per quarter, memory, fds;
* `scale.py` — `--entities`: the same stages as the catalog grows (docs/scale.md);
* `scale_data.py` — the cached per-size data dirs and cluster aliases `scale.py` measures.
"""
