"""What a client sees while a cluster fails: page latency and status per fault, against the
healthy node measured in the same run (docs/reliability.md).

    python benchmarks/faults.py [--rows 400] [--searches 40] [--arm-budget-ms 500]

Runs on a scratch OpenSearch node (a copy of the assembled test distribution on its own port,
256 MB heap; `es_ltrr.ops.devnode.scratch`), never on the shared test nodes. The first `--rows`
rows of the shipped catalog are indexed without vectors; searches go through the HTTP app
(Flask, in process) with `arm_timeout_ms` = `--arm-budget-ms` and a breaker of 3 failures,
1 s cooldown. Scenarios, in order: healthy; one arm slow (a script the node cannot stop at
its `timeout`); one arm failing; the node frozen (SIGSTOP: connections accepted, nothing
answered); after SIGCONT; the node killed (SIGKILL); after a restart on the same data.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

from es_ltrr.catalog.spotify import write_head
from es_ltrr.common.schema import MUSIC
from es_ltrr.common.settings import Settings
from es_ltrr.ops.apply import apply
from es_ltrr.ops.devnode import lifecycle
from es_ltrr.ops.devnode.host import node_pid, signal_group
from es_ltrr.ops.devnode.scratch import kill, scratch_node
from es_ltrr.ranking.ltr import default_featureset
from es_ltrr.retrieval.arms import ARMS, Arm
from es_ltrr.retrieval.engines.cluster import CircuitBreaker
from es_ltrr.retrieval.engines.factory import cluster_engine
from es_ltrr.retrieval.indexing import build_index
from es_ltrr.retrieval.policy import StaticPolicy
from es_ltrr.serving.http import create_app
from es_ltrr.serving.wiring import build_searcher

QUERIES = ["love", "ed sheeran", "dance pop", "memories", "summer", "happy songs", "remix", "party"]
#: The script of tests/integration/test_faults.py: quadratic string building per document,
#: which the node cannot interrupt on a segment of fewer than 1,024 documents.
SLOW_BODY = {"query": {"script_score": {"query": {"match_all": {}}, "script": {
    "source": "String s = ''; for (int i = 0; i < params.n; ++i) { s += 'a'; } return s.length();",
    "params": {"n": 12000}}}}}
FAILING_BODY = {"query": {"no_such_clause": {}}}


@dataclass(frozen=True)
class FaultyArm(Arm):
    """The explore arm sending `body` instead of its template (fault injection)."""

    body: dict = None  # type: ignore[assignment]

    def render(self, inp, size, flavor="embedded") -> dict[str, Any] | None:
        return {"size": size, **self.body}


def faulty(body: dict) -> FaultyArm:
    explore = ARMS["explore"]
    return FaultyArm(explore.name, explore.family, explore.build_params, explore.default_depth, body=body)


def searches(client, n: int | None = None, seconds: float | None = None) -> list[tuple[int, float, dict]]:
    """(status, ms, body) of `n` searches, or of as many as fit in `seconds`."""
    out, stop = [], time.monotonic() + (seconds or 0)
    while (n is not None and len(out) < n) or (seconds is not None and time.monotonic() < stop):
        start = time.perf_counter()
        response = client.post("/search", json={"query": QUERIES[len(out) % len(QUERIES)]})
        out.append((response.status_code, (time.perf_counter() - start) * 1000, response.get_json()))
    return out


def until_served(client, timeout_s: float = 120) -> float:
    """Seconds until a search answers 200 with a whole page."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        status, _, body = searches(client, n=1)[0]
        if status == 200 and body["hits"] and not body["partial"]:
            return time.monotonic() - start
        time.sleep(0.05)
    raise RuntimeError(f"no served page within {timeout_s} s")


def row(name: str, answers: list[tuple[int, float, dict]]) -> list[Any]:
    ms = np.array([a[1] for a in answers])
    statuses = Counter(a[0] for a in answers)
    partial = sum(1 for status, _, body in answers if status == 200 and body.get("partial"))
    return [name, len(answers), ", ".join(f"{s}×{n}" for s, n in sorted(statuses.items())), partial,
            f"{np.percentile(ms, 50):.0f}", f"{np.percentile(ms, 99):.0f}", f"{ms.max():.0f}"]


def run(node, args, work: Path) -> None:
    settings = Settings.load(env={}, cluster_url=node.url, flavor="opensearch", index=f"es-ltrr-bench-{uuid.uuid4().hex[:8]}",
                             catalog=write_head(work / "catalog.csv.gz", args.rows), data_dir=work / "data", embed=False,
                             arm_timeout_ms=args.arm_budget_ms)
    apply(cluster_engine(settings), MUSIC, [default_featureset()], ltr=False, say=lambda _: None)
    build_index(settings, None, say=lambda m: print(m, file=sys.stderr))
    searcher = replace(build_searcher(settings, say=lambda _: None), policy=StaticPolicy())
    searcher.engine.breaker = CircuitBreaker(threshold=3, cooldown_s=1.0)
    client = create_app(searcher).test_client()
    searches(client, n=10)  # warm-up
    deadline = searcher.engine.search_deadline_s
    rows, events = [], []
    rows.append(row("healthy (baseline)", searches(client, n=args.searches)))
    failing = create_app(replace(searcher, arms={**searcher.arms, "explore": faulty(FAILING_BODY)})).test_client()
    rows.append(row("one arm failing (bad query)", searches(failing, n=args.searches)))
    slow = create_app(replace(searcher, arms={**searcher.arms, "explore": faulty(SLOW_BODY)})).test_client()
    slow_answers, drains = [], []
    for _ in range(3):  # one at a time: the node keeps running a script the client gave up on
        slow_answers += searches(slow, n=1)
        drains.append(until_served(client))
    rows.append(row("one arm slow (script), one at a time", slow_answers))
    events.append(["node busy after one slow-arm search (until a whole page)", f"{max(drains):.1f} s (max of 3)"])
    burst = searches(slow, n=4)  # back to back: the abandoned scripts pile up on the node
    rows.append(row("one arm slow (script), 4 back to back", burst))
    events.append(["node busy after 4 slow-arm searches (until a whole page)", f"{until_served(client):.1f} s"])
    pid = node_pid(node)
    signal_group(pid, signal.SIGSTOP)
    rows.append(row("node frozen (SIGSTOP)", searches(client, seconds=8)))
    signal_group(pid, signal.SIGCONT)
    events.append(["first whole page after SIGCONT", f"{until_served(client):.1f} s"])
    kill(node)
    rows.append(row("node killed (SIGKILL)", searches(client, seconds=5)))
    start = time.monotonic()
    lifecycle.start(node, progress=lambda _: None)
    events.append(["node restart (healthy)", f"{time.monotonic() - start:.1f} s"])
    events.append(["first whole page after the restart", f"{until_served(client):.1f} s"])
    rows.append(row("after the restart", searches(client, n=args.searches)))
    print(f"arm budget {args.arm_budget_ms} ms, search deadline {deadline:g} s (bound on a page: "
          f"{2 * deadline:g} s), breaker 3 failures / 1 s; {args.rows} catalog rows\n")
    print(tabulate(rows, headers=["scenario", "searches", "statuses", "200 partial", "p50 ms", "p99 ms", "max ms"],
                   tablefmt="github"))
    print()
    print(tabulate(events, headers=["event", "time"], tablefmt="github"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=400, help="catalog rows indexed (default 400)")
    parser.add_argument("--searches", type=int, default=40, help="searches per steady scenario")
    parser.add_argument("--arm-budget-ms", type=int, default=500)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work, scratch_node(progress=lambda m: print(m, file=sys.stderr)) as node:
        run(node, args, Path(work))
    return 0


if __name__ == "__main__":
    sys.exit(main())
