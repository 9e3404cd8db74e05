"""`es-ltrr bench --soak`: a bounded soak of the sidecar on 127.0.0.1.

N searches and N feedback events (one event per served page, on one of its hits) through
`POST /search` and `POST /feedback` of the app `serve` runs (waitress, the feedback loop
folding every event into the policy, the Q2E memory relearned on its timer), at the rate
`--concurrency` client threads sustain, stopped at the time cap. It reports what a long run
would reveal and a short benchmark hides:

* the error rate (any non-200 answer or failed request);
* p50/p99 of each quarter of the run, per endpoint: a p99 that climbs from the first
  quarter to the last is a leak or a growing structure;
* the process's resident memory and open file descriptors after warm-up and at the end;
* events acknowledged (`accepted` in the answers) against events in the log afterwards.

The feedback log and policy state go to a scratch directory, never the data dir's log: a
soak must not teach the served policy 20,000 synthetic clicks.
"""

from __future__ import annotations

import os
import random
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tabulate import tabulate

from ...common.datadir import DataDir
from ...common.extras import require
from ...feedback import FeedbackLoop
from ...retrieval.engines.cluster import ClusterEngine
from ...search.pipeline import Searcher
from ...serving.process import MEMORY_INTERVAL_S
from .latency import _pct, local_server

#: Longest soak (seconds): the run stops submitting at the cap and reports what it did.
MAX_SECONDS = 300.0
#: Actions of the synthetic feedback, drawn per event (weights > 0 and a skip).
ACTIONS = ("click", "click", "play", "add_to_playlist", "skip")


@dataclass
class Call:
    """One request: which endpoint, when it finished (s from the start), its latency, if it failed."""

    kind: str
    done_s: float
    ms: float
    ok: bool


@dataclass
class SoakReport:
    requested: int
    concurrency: int
    calls: list[Call] = field(default_factory=list)
    wall_s: float = 0.0
    stopped_at_cap: bool = False
    rss_mb: tuple[float | None, float | None] = (None, None)
    rss_peak_mb: float | None = None
    #: (seconds from the start, MB) once a second: whether memory levels off or keeps climbing
    rss_samples: list[tuple[float, float]] = field(default_factory=list)
    fds: tuple[int | None, int | None] = (None, None)
    acknowledged: int = 0
    duplicates: int = 0
    logged: int = 0

    def count(self, kind: str) -> int:
        return sum(c.kind == kind for c in self.calls)

    @property
    def errors(self) -> int:
        return sum(not c.ok for c in self.calls)

    @property
    def error_rate(self) -> float:
        return self.errors / len(self.calls) if self.calls else 0.0

    @property
    def rss_growth(self) -> float | None:
        start, end = self.rss_mb
        return (end - start) / start if start and end is not None else None

    def rss_by_quarter(self) -> list[float | None]:
        """RSS (MB) at the end of each quarter of the wall time (the last sample before it)."""
        out: list[float | None] = []
        for i in range(1, 5):
            before = [mb for t, mb in self.rss_samples if t <= self.wall_s * i / 4]
            out.append(before[-1] if before else None)
        return out

    @property
    def rss_growth_after_q1(self) -> float | None:
        """Growth from the end of the first quarter to the end: bounded caches are full by
        then, so what still grows is what keeps growing."""
        q1, end = self.rss_by_quarter()[0], self.rss_mb[1]
        return (end - q1) / q1 if q1 and end is not None else None

    def quarters(self, kind: str) -> list[dict[str, float]]:
        """p50/p99 (ms) of the `kind` calls in each quarter of the run, in completion order."""
        ms = [c.ms for c in sorted(self.calls, key=lambda c: c.done_s) if c.kind == kind and c.ok]
        size = max(1, len(ms) // 4)
        parts = [ms[i * size:(i + 1) * size] if i < 3 else ms[3 * size:] for i in range(4)]
        return [{"n": len(p), "p50_ms": _pct(p, 50), "p99_ms": _pct(p, 99)} for p in parts]

    def p99_ratio(self, kind: str) -> float:
        """Last quarter's p99 over the first's: ~1 is stable."""
        q = self.quarters(kind)
        return q[3]["p99_ms"] / q[0]["p99_ms"] if q[0]["p99_ms"] else float("nan")

    def table(self) -> str:
        rows = []
        for kind in ("search", "feedback"):
            for i, q in enumerate(self.quarters(kind), start=1):
                rows.append([kind, f"Q{i}", q["n"], q["p50_ms"], q["p99_ms"]])
        latency = tabulate(rows, headers=["endpoint", "quarter", "requests", "p50 ms", "p99 ms"], floatfmt=".2f")
        rss0, rss1 = self.rss_mb
        growth = self.rss_growth
        summary = [
            ["searches / events", f"{self.count('search'):,} / {self.count('feedback'):,} "
                                  f"(asked {self.requested:,} each{', stopped at the time cap' if self.stopped_at_cap else ''})"],
            ["wall time, rate", f"{self.wall_s:.1f} s, {len(self.calls) / self.wall_s if self.wall_s else 0:.1f} requests/s"],
            ["errors", f"{self.errors} ({self.error_rate:.3%})"],
            ["p99 last/first quarter", f"search {self.p99_ratio('search'):.2f}, feedback {self.p99_ratio('feedback'):.2f}"],
            ["RSS start → end (peak)", f"{_mb(rss0)} → {_mb(rss1)} ({_mb(self.rss_peak_mb)}), "
                                       f"growth {_growth(growth)}"],
            ["RSS at the end of Q1..Q4", " → ".join(_mb(mb) for mb in self.rss_by_quarter())
             + f", growth after Q1 {_growth(self.rss_growth_after_q1)}"],
            ["open fds start → end", f"{self.fds[0]} → {self.fds[1]}"],
            ["events acknowledged / in the log", f"{self.acknowledged:,} / {self.logged:,} "
                                                 f"({self.duplicates} duplicates)"],
        ]
        return f"{latency}\n\n{tabulate(summary, tablefmt='plain')}\n(concurrency {self.concurrency}, 127.0.0.1)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "requested": self.requested, "concurrency": self.concurrency, "wall_s": self.wall_s,
            "stopped_at_cap": self.stopped_at_cap, "searches": self.count("search"),
            "events": self.count("feedback"), "errors": self.errors, "error_rate": self.error_rate,
            "quarters": {kind: self.quarters(kind) for kind in ("search", "feedback")},
            "p99_last_over_first": {kind: self.p99_ratio(kind) for kind in ("search", "feedback")},
            "rss_mb": {"start": self.rss_mb[0], "end": self.rss_mb[1], "peak": self.rss_peak_mb,
                       "growth": self.rss_growth, "quarters": self.rss_by_quarter(),
                       "growth_after_q1": self.rss_growth_after_q1},
            "open_fds": {"start": self.fds[0], "end": self.fds[1]},
            "events_acknowledged": self.acknowledged, "events_logged": self.logged, "duplicates": self.duplicates,
        }


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MB"


def _growth(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1%}"


def rss_mb() -> float | None:
    """This process's resident memory (psutil if installed, else /proc/self/status)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        pass
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def open_fds() -> int | None:
    """Open file descriptors of this process (/proc/self/fd), None where there is no /proc."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def run_soak(searcher: Searcher, queries: list[str], n: int, concurrency: int, max_seconds: float = MAX_SECONDS,
             seed: int = 7, say: Callable[[str], None] = print) -> SoakReport:
    """`n` searches, each followed by one feedback event on one of its hits, from `concurrency`
    client threads against the app on waitress (127.0.0.1), stopped at `max_seconds`."""
    with tempfile.TemporaryDirectory(prefix="es-ltrr-soak-") as scratch:
        loop = FeedbackLoop.open(DataDir(Path(scratch)), searcher.policy,
                                 engine=None if isinstance(searcher.engine, ClusterEngine) else searcher.engine)
        try:
            return _soak(searcher, loop, queries, n, concurrency, max_seconds, seed, say)
        finally:
            loop.store.close()


def _soak(searcher: Searcher, loop: FeedbackLoop, queries: list[str], n: int, concurrency: int,
          max_seconds: float, seed: int, say: Callable[[str], None]) -> SoakReport:
    requests = require("requests", "server", "es-ltrr bench --soak")
    from ...serving.http import create_app

    report = SoakReport(n, concurrency)
    lock, local, stop = threading.Lock(), threading.local(), threading.Event()

    def session():
        local.session = getattr(local, "session", None) or requests.Session()
        return local.session

    def call(kind: str, url: str, body: Any, start0: float) -> dict[str, Any] | None:
        start = time.perf_counter()
        try:
            resp = session().post(url, json=body, timeout=60)
            ok, payload = resp.status_code == 200, resp.json()
        except (requests.RequestException, ValueError):
            ok, payload = False, None
        end = time.perf_counter()
        with lock:
            report.calls.append(Call(kind, end - start0, (end - start) * 1000, ok))
        return payload if ok else None

    def one(i: int, base: str, start0: float) -> None:
        if time.perf_counter() - start0 > max_seconds:
            report.stopped_at_cap = True
            return
        rng = random.Random(seed * 1_000_003 + i)
        page = call("search", f"{base}/search", {"query": queries[i % len(queries)], "k": 10}, start0)
        hits = page["hits"] if page else []
        if page and not hits:
            return  # an empty page shows nothing to act on (feedback names a shown entity, docs/feedback.md)
        event = {"query_id": page["impression_id"] if page else f"missing-{i}", "event_id": f"soak-{seed}-{i}",
                 "action_name": rng.choice(ACTIONS), "object_id": rng.choice(hits)["id"] if hits else "none",
                 "event_attributes": {"position": {"ordinal": rng.randrange(len(hits)) if hits else 0}}}
        answer = call("feedback", f"{base}/feedback", event, start0)
        if answer:
            with lock:
                report.acknowledged += answer["accepted"]
                report.duplicates += answer["duplicates"]

    app = create_app(searcher, loop)
    with local_server(app, threads=max(2, concurrency)) as base:
        for q in queries[:20]:  # warm-up: caches, connections, the first fold
            session().post(f"{base}/search", json={"query": q, "k": 10}, timeout=60)
        report.rss_mb, report.fds = (rss_mb(), None), (open_fds(), None)
        say(f"bench --soak: {n:,} searches + {n:,} events, concurrency {concurrency}, at most {max_seconds:.0f} s")
        start0 = time.perf_counter()
        monitor = threading.Thread(target=_watch, args=(loop, report, stop, start0), daemon=True)
        monitor.start()
        with ThreadPoolExecutor(concurrency) as pool:
            for done, _ in enumerate(pool.map(lambda i: one(i, base, start0), range(n)), start=1):
                if done % 1000 == 0:
                    say(f"  {done:,}/{n:,} ({time.perf_counter() - start0:.0f} s, {report.errors} errors)")
        report.wall_s = time.perf_counter() - start0
        stop.set()
        monitor.join()
    loop.learn_memory()
    report.rss_mb, report.fds = (report.rss_mb[0], rss_mb()), (report.fds[0], open_fds())
    report.logged = loop.store.counts()["events"]
    return report


def _watch(loop: FeedbackLoop, report: SoakReport, stop: threading.Event, start0: float) -> None:
    """Memory once a second, and the Q2E memory relearned on the server's timer."""
    last_memory = time.monotonic()
    while not stop.wait(1.0):
        rss = rss_mb()
        if rss is not None:
            report.rss_peak_mb = max(report.rss_peak_mb or 0.0, rss)
            report.rss_samples.append((time.perf_counter() - start0, rss))
        if time.monotonic() - last_memory >= MEMORY_INTERVAL_S:
            last_memory = time.monotonic()
            loop.learn_memory()

