"""Cost of one policy decision (`choose`): Thompson sampling against the static allocation,
on the contexts of real queries, in the same run.

    python benchmarks/policy_choice.py [--queries 500] [--learned 2000] [--data-dir D]

The learning policies first take `--learned` updates from synthetic rewards (so their
posteriors are not at the prior; the cost does not depend on what they learned), then every
query's context is decided once per policy, single-threaded. Prints p50/p99 in ms.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from types import SimpleNamespace

import numpy as np
from tabulate import tabulate

from es_ltrr.catalog import load_catalog
from es_ltrr.common.settings import Settings
from es_ltrr.ops.bench.latency import sample_queries
from es_ltrr.retrieval.arms import ARMS
from es_ltrr.retrieval.policy import StaticPolicy, ThompsonPolicy, UCBPolicy
from es_ltrr.retrieval.union import ArmResult
from es_ltrr.search.pipeline import policy_context
from es_ltrr.search.request import SearchRequest
from es_ltrr.serving.wiring import build_searcher
from es_ltrr.understanding import understand


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--learned", type=int, default=2000)
    parser.add_argument("--data-dir", type=str, default=None)
    args = parser.parse_args(argv)
    settings = Settings.load(data_dir=args.data_dir) if args.data_dir else Settings.load()
    searcher = build_searcher(settings, say=lambda _: None)
    queries = sample_queries(load_catalog(settings.catalog, progress=False), args.queries, seed=3)
    contexts = [policy_context(understand(q, searcher.gazetteer), SearchRequest(q), 1.7e9 + 977 * i)
                for i, q in enumerate(queries)]
    arms = list(ARMS)
    rows = []
    for name, policy in [("static (baseline)", StaticPolicy()), ("thompson, 256 draws", ThompsonPolicy(seed=1)),
                         ("thompson, 64 draws", ThompsonPolicy(seed=1, draws=64)), ("ucb", UCBPolicy(seed=1))]:
        _teach(policy, contexts, args.learned)
        times = []
        for context in contexts:
            start = time.perf_counter()
            policy.choose(context, arms)
            times.append((time.perf_counter() - start) * 1000)
        rows.append([name, f"{np.percentile(times, 50):.3f}", f"{np.percentile(times, 99):.3f}"])
    print(tabulate(rows, headers=["policy", "choose p50 (ms)", "choose p99 (ms)"]))
    return 0


def _teach(policy, contexts, n: int) -> None:
    """`n` updates with random per-arm lists and one engaged entity (cost is what is measured)."""
    if not hasattr(policy, "n_updates_"):
        return
    rng = random.Random(0)
    for i in range(n):
        context = contexts[i % len(contexts)]
        decision = policy.choose(context, list(ARMS))
        results = {a: ArmResult(a, d, tuple(f"e{rng.randrange(400)}" for _ in range(d)))
                   for a, d in decision.allocations.items() if d}
        record = SimpleNamespace(context=context, decision=decision, arm_result=results.get)
        policy.update(record, {f"e{rng.randrange(400)}": 1.0})


if __name__ == "__main__":
    sys.exit(main())
