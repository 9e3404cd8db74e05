"""Measuring what users see: judged query sets, `es-ltrr evaluate`, simulated users, off-policy checks.

* `judged/` — judged query sets: the loader and the hand-labelled `hand.jsonl` (ground truth);
* `whole_page.py` — precision@10 of a page against catalog truth (the quality benchmark);
* `systems.py` — what a user would run instead (bm25, hybrid, rrf_all_arms, all_arms_ltr) and
  es-ltrr, each a timed run over judged queries;
* `cluster_fusion.py` — the fused baselines as the node itself executes them, where it can;
* `metrics.py` — nDCG@10, MRR, recall@100, candidates, latency, by intent, paired t-tests;
* `report.py`, `plots.py` — one `es-ltrr evaluate` over the judged sets, its tables and PNGs;
* `simulation/` — simulated users (queries, typos, clicks) and `es-ltrr simulate`;
* `ope_simulated.py` — `es-ltrr ope`: off-policy estimates checked against the simulator's truth;
* `ope_logged.py` — `es-ltrr ope --from-log`: the same estimators on the real feedback log.

The estimators themselves live with the policies they evaluate (`retrieval/policy/ope.py`).
"""
