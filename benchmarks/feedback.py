"""Throughput of `POST /feedback` against the bare SQLite insert rate, in the same run.

    python benchmarks/feedback.py [--events 2000] [--batch 100] [--concurrency 2]

Baselines: plain `sqlite3` inserts into a WAL table with `synchronous = FULL`, one commit
per event and one per batch (what durability costs on this disk). Then the sidecar:
`FeedbackStore.add_events` directly, and `POST /feedback` over HTTP on 127.0.0.1 (waitress,
the server `es-ltrr serve` runs) with one event per request and `--batch` per request,
`--concurrency` client threads. The searcher is the small catalog slice (first 400 rows,
no embedding); every event answers one of its logged searches and folds into a Thompson
policy, as in serving. Prints events/s and request latency p50/p99.
"""

from __future__ import annotations

import argparse
import json
import socket
import sqlite3
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tabulate import tabulate

from es_ltrr.catalog.spotify import write_head
from es_ltrr.common.settings import Settings
from es_ltrr.feedback import FeedbackLoop, FeedbackStore, parse_event
from es_ltrr.serving.contract import parse_search_request
from es_ltrr.serving.http import create_app
from es_ltrr.serving.wiring import build_searcher


def small_catalog(tmp: Path, rows: int = 400) -> Path:
    return write_head(tmp / "small.csv", rows)


def bare_sqlite(path: Path, n: int, batch: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY AUTOINCREMENT, k TEXT UNIQUE, body TEXT)")
    start = time.perf_counter()
    for i in range(0, n, batch):
        conn.execute("BEGIN IMMEDIATE")
        for j in range(i, min(n, i + batch)):
            conn.execute("INSERT OR IGNORE INTO t (k, body) VALUES (?, ?)", (f"k{j}", '{"x": 1}'))
        conn.execute("COMMIT")
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args(argv)
    import waitress

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        rows = [["bare sqlite3, 1 event per commit", f"{bare_sqlite(tmp / 'a.db', args.events, 1):.0f}", "", ""],
                [f"bare sqlite3, {args.batch} events per commit", f"{bare_sqlite(tmp / 'b.db', args.events, args.batch):.0f}", "", ""]]
        settings = Settings.load(env={}, catalog=small_catalog(tmp), data_dir=tmp / "data", embed=False)
        searcher = build_searcher(settings, say=lambda _: None)
        loop = FeedbackLoop(FeedbackStore(tmp / "feedback.sqlite3"), searcher.policy)
        pages = []
        for query in ("rock", "memories", "happy songs", "love"):
            result = searcher.search(parse_search_request({"query": query}))
            loop.log_search(result)
            pages.append((result.impression_id, result.ids))

        def event(i: int, tag: str) -> dict:
            qid, ids = pages[i % len(pages)]
            return {"query_id": qid, "action_name": "click", "object_id": ids[i % len(ids)], "event_id": f"{tag}-{i}"}

        start = time.perf_counter()
        for i in range(args.events):
            loop.store.add_events([parse_event(event(i, "direct"))])
        rows.append(["FeedbackStore.add_events, 1 per commit", f"{args.events / (time.perf_counter() - start):.0f}", "", ""])

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = waitress.create_server(create_app(searcher, loop), host="127.0.0.1", port=port, threads=4)
        threading.Thread(target=server.run, daemon=True).start()
        url = f"http://127.0.0.1:{port}/feedback"
        for name, per_request in (("POST /feedback, 1 event per request", 1),
                                  (f"POST /feedback, {args.batch} events per request", args.batch)):
            bodies = [[event(i, f"http{per_request}") for i in range(j, min(args.events, j + per_request))]
                      for j in range(0, args.events, per_request)]
            times: list[float] = []

            def send(body: list[dict]) -> None:
                payload = json.dumps(body[0] if per_request == 1 else body).encode()
                t = time.perf_counter()
                request = urllib.request.Request(url, payload, {"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=30) as response:
                    assert response.status == 200
                times.append((time.perf_counter() - t) * 1000)

            start = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                list(pool.map(send, bodies))
            rate = args.events / (time.perf_counter() - start)
            rows.append([name, f"{rate:.0f}", f"{np.percentile(times, 50):.2f}", f"{np.percentile(times, 99):.2f}"])
        server.close()
        counts = loop.store.counts()
    print(tabulate(rows, headers=["path", "events/s", "request p50 (ms)", "request p99 (ms)"]))
    print(f"logged: {counts}; policy updates folded: {loop.policy.n_updates_}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
