"""`es-ltrr bench`: the HTTP endpoint under a bounded load on 127.0.0.1.

Two scenarios run in the same process, on the same catalog and query sample:

* baseline — the lexical arm alone, RRF (what a plain BM25 search costs through the sidecar);
* es-ltrr  — the static policy with every applicable arm (incl. query embedding).

Then each arm's cost alone: the same queries, every chosen arm's body sent by itself (one
msearch per body, one client), timed in the client and by the engine (`took`): what a policy
pays for choosing that arm.

Queries are sampled (seeded) from the catalog's generated cold-start queries — titles,
artist + title, misspellings, genre and mood phrases — so they look like a real mix.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator

import numpy as np
from tabulate import tabulate

from ...common.extras import require
from ...retrieval.policy import StaticPolicy
from ...search.pipeline import Searcher

STAGES = ("understand", "choose", "embed", "render", "retrieve", "union", "rank", "total")


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
class ArmCost:
    """One arm's body alone: client wall time of its msearch and the engine's `took`."""

    arm: str
    wall_ms: list[float] = field(default_factory=list)
    took_ms: list[float] = field(default_factory=list)
    errors: int = 0


@dataclass
class BenchReport:
    scenarios: list[Scenario]
    n_requests: int
    concurrency: int
    arms: list[ArmCost] = field(default_factory=list)

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
        return f"{latency}\n\n{qps}\n(concurrency {self.concurrency}, 127.0.0.1)" + self._arm_table()

    def _arm_table(self) -> str:
        if not self.arms:
            return ""
        rows = [[a.arm, len(a.wall_ms), a.errors, _pct(a.wall_ms, 50), _pct(a.wall_ms, 99),
                 _pct(a.took_ms, 50), _pct(a.took_ms, 99)] for a in self.arms]
        heads = ["arm alone", "queries", "errors", "p50 ms", "p99 ms", "took p50", "took p99"]
        return "\n\n" + tabulate(rows, headers=heads, floatfmt=".2f") + "\n(one body per msearch, one client)"

    def to_dict(self) -> dict[str, Any]:
        return {
            s.name: {
                "qps": s.qps(),
                "errors": s.errors,
                "p50_ms": {k: _pct(v, 50) for k, v in s.stages.items()} | {"http": _pct(s.client_ms, 50)},
                "p99_ms": {k: _pct(v, 99) for k, v in s.stages.items()} | {"http": _pct(s.client_ms, 99)},
            }
            for s in self.scenarios
        } | {
            "arms": {a.arm: {"queries": len(a.wall_ms), "errors": a.errors,
                             "p50_ms": _pct(a.wall_ms, 50), "p99_ms": _pct(a.wall_ms, 99),
                             "took_p50_ms": _pct(a.took_ms, 50), "took_p99_ms": _pct(a.took_ms, 99)}
                     for a in self.arms}
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
    say(f"bench: each arm alone: {len(queries)} queries, one client")
    return BenchReport(results, n_requests, concurrency, arm_costs(searcher, queries))


def arm_costs(searcher: Searcher, queries: list[str]) -> list[ArmCost]:
    """Every chosen arm's body for each query, sent alone and timed (sequential)."""
    costs: dict[str, ArmCost] = {}
    # render (and embed) everything first: torch's threads spin for a while after an
    # embedding and would slow whichever arm is timed next
    rendered = [searcher.arm_bodies(query) for query in queries]
    for bodies in rendered:
        for arm, body in bodies.items():
            cost = costs.setdefault(arm, ArmCost(arm))
            start = time.perf_counter()
            response = searcher.engine.msearch([body])[0]
            elapsed = (time.perf_counter() - start) * 1000
            if "error" in response:
                cost.errors += 1
                continue
            cost.wall_ms.append(elapsed)
            cost.took_ms.append(float(response.get("took", 0)))
    return list(costs.values())


@contextmanager
def quiet_waitress() -> Iterator[None]:
    """Mute waitress's "Task queue depth" warnings, which a bounded load triggers by design
    (requests queue behind busy threads) and which would interleave with the tables."""
    logger = logging.getLogger("waitress.queue")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


#: Seconds the bench server's loop waits for its sockets before it checks whether to stop.
POLL_S = 0.05


@contextmanager
def local_server(app: Any, threads: int) -> Iterator[str]:
    """`app` on waitress at 127.0.0.1 on a free port, in a daemon thread: yields its base URL,
    closes the server after (the HTTP machinery of `bench` and `bench --soak`).

    The server's loop runs in short polls and, once told to stop, shuts the server down in its
    own thread — its worker threads first, then every socket: closing it from here while the
    loop or a worker still used its sockets ended `bench` with `OSError: [Errno 9] Bad file
    descriptor` from one of those threads."""
    waitress = require("waitress.server", "server", "es-ltrr bench")
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=threads)
    stop = threading.Event()

    def run() -> None:
        try:
            while not stop.is_set():
                server.asyncore.loop(timeout=POLL_S, map=server._map, count=1)
        finally:
            server.task_dispatcher.shutdown()  # the workers, which wake the loop through its trigger
            server.asyncore.close_all(server._map)  # the connections, the trigger, the listening socket

    thread = threading.Thread(target=run, name="es-ltrr-bench-server", daemon=True)
    thread.start()
    with quiet_waitress():
        try:
            yield f"http://127.0.0.1:{server.effective_port}"
        finally:
            stop.set()
            thread.join(timeout=10)


def _run_scenario(name: str, searcher: Searcher, queries: list[str], concurrency: int, say: Callable[[str], None]) -> Scenario:
    requests = require("requests", "server", "es-ltrr bench")
    from ...serving.http import create_app

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

    with local_server(create_app(searcher), threads=max(2, concurrency)) as base:
        url = f"{base}/search"
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
    return scenario
