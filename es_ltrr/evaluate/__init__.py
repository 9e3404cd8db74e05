"""What a user would run instead of es-ltrr, measured side by side on the same judged queries
(`es-ltrr evaluate`, docs/evaluation.md).

* `runs.py` — the systems (bm25, hybrid, rrf_all_arms, all_arms_ltr, es-ltrr) and their timed runs;
* `node.py` — the fused baselines as the node executes them, where it can;
* `metrics.py` — nDCG@10, MRR, recall@100, candidates, latency, by intent, paired t-tests;
* `report.py` — one evaluation over the judged sets, and its terminal tables;
* `plots.py` — `--plots`.
"""

from .metrics import SYSTEM_KEYS, measure
from .node import NodeFusion, probe
from .report import evaluate, tables
from .runs import System, SystemRun, run_system, systems

__all__ = ["SYSTEM_KEYS", "NodeFusion", "System", "SystemRun", "evaluate", "measure", "probe", "run_system",
           "systems", "tables"]
