"""`es-ltrr bench`: the HTTP endpoint under a bounded load on 127.0.0.1.

Two scenarios run in the same process, on the same catalog and query sample:

* baseline — the lexical arm alone, RRF (what a plain BM25 search costs through the sidecar);
* es-ltrr  — the static policy with every applicable arm (incl. query embedding).

Queries are sampled (seeded) from the catalog's generated cold-start queries — titles,
artist + title, misspellings, genre and mood phrases — so they look like a real mix.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
from tabulate import tabulate

from ._extras import require
from .policy import StaticPolicy
from .pipeline import Searcher

STAGES = ("understand", "choose", "embed", "retrieve", "rank", "total")


@dataclass
class Scenario:
    name: str
    client_ms: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=dict)
    wall_s: float = 0.0
    errors: int = 0

    def qps(self) -> float:
        return len(self.client_ms) / self.wall_s if self.wall_s else 0.0


@dataclass
class BenchReport:
    scenarios: list[Scenario]
    n_requests: int
    concurrency: int

    def table(self) -> str:
        rows = []
        for s in self.scenarios:
            for stage in (*STAGES, "http (client)"):
                values = s.client_ms if stage == "http (client)" else s.stages.get(stage, [])
                if values:
                    rows.append([s.name, stage, _pct(values, 50), _pct(values, 99)])
        latency = tabulate(rows, headers=["scenario", "stage", "p50 ms", "p99 ms"], floatfmt=".2f")
        qps = tabulate(
            [[s.name, len(s.client_ms), s.errors, f"{s.qps():.1f}"] for s in self.scenarios],
            headers=["scenario", "requests", "errors", "QPS"],
        )
        return f"{latency}\n\n{qps}\n(concurrency {self.concurrency}, 127.0.0.1)"

    def to_dict(self) -> dict[str, Any]:
        return {
            s.name: {
                "qps": s.qps(),
                "errors": s.errors,
                "p50_ms": {k: _pct(v, 50) for k, v in s.stages.items()} | {"http": _pct(s.client_ms, 50)},
                "p99_ms": {k: _pct(v, 99) for k, v in s.stages.items()} | {"http": _pct(s.client_ms, 99)},
            }
            for s in self.scenarios
        }


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def sample_queries(entities: list[dict], n: int, seed: int) -> list[str]:
    """`n` generated catalog queries (seeded sample of the entities' cold-start queries)."""
    rng = random.Random(seed)
    picked = rng.sample(entities, min(len(entities), max(n, 100)))
    pool = [q for e in picked for q in (e.get("q2e_queries") or [e.get("name") or ""]) if q.strip()]
    return [rng.choice(pool) for _ in range(n)]


def run_bench(searcher: Searcher, queries: list[str], concurrency: int, say: Callable[[str], None] = print) -> BenchReport:
    n_requests = len(queries)
    scenarios = [
        ("baseline: lexical only", replace(searcher, policy=StaticPolicy({"lexical": 50}))),
        ("es-ltrr: static, all arms", searcher),
    ]
    results = [_run_scenario(name, s, queries, concurrency, say) for name, s in scenarios]
    return BenchReport(results, n_requests, concurrency)


def _run_scenario(name: str, searcher: Searcher, queries: list[str], concurrency: int, say: Callable[[str], None]) -> Scenario:
    requests = require("requests", "server", "es-ltrr bench")
    create_server = require("waitress.server", "server", "es-ltrr bench").create_server
    from .server import create_app

    server = create_server(create_app(searcher), host="127.0.0.1", port=0, threads=max(2, concurrency))
    port = server.effective_port
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}/search"
    scenario = Scenario(name)
    lock = threading.Lock()
    local = threading.local()

    def one(query: str) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        start = time.perf_counter()
        resp = session.post(url, json={"query": query, "k": 10}, timeout=30)
        elapsed = (time.perf_counter() - start) * 1000
        with lock:
            if resp.status_code != 200:
                scenario.errors += 1
                return
            scenario.client_ms.append(elapsed)
            for stage, ms in resp.json()["timings_ms"].items():
                scenario.stages.setdefault(stage, []).append(ms)

    try:
        for q in queries[: min(20, len(queries))]:  # warm-up: model, caches, connections
            one(q)
        scenario.client_ms.clear(), scenario.stages.clear()
        say(f"bench: {name}: {len(queries)} requests, concurrency {concurrency}")
        start = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            for i, _ in enumerate(pool.map(one, queries), start=1):
                if i % 100 == 0:
                    say(f"  {i}/{len(queries)}")
        scenario.wall_s = time.perf_counter() - start
    finally:
        server.close()
    return scenario
