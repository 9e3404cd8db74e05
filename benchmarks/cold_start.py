"""Cold start: wall time of a CLI search from a fresh process, and of `es-ltrr serve` until
/healthz answers ok, then its first search — for this checkout and a baseline checkout.

    python benchmarks/cold_start.py --data-dir DIR [--baseline-src /work/main --baseline-data-dir DIR0] [--runs 5]

Each variant runs `python -m es_ltrr.cli` in its source tree (cwd and PYTHONPATH: `-m` puts
the cwd first on sys.path); the data dirs differ when the index format differs. A baseline
tree of another commit: `git archive COMMIT | tar -x -C /tmp/base`. Prints median/min/max per figure (issue 9 item 2).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
QUERY = "tayler love"


def cli(src: Path, data_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "es_ltrr.cli", "--data-dir", str(data_dir), *args]


def env_for(src: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(src)}


def cold_search(src: Path, data_dir: Path) -> float:
    """Seconds from process start to exit of `es-ltrr search QUERY`."""
    start = time.perf_counter()
    subprocess.run(cli(src, data_dir, "search", QUERY), env=env_for(src), cwd=src, check=True, capture_output=True)
    return time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_ready(src: Path, data_dir: Path) -> tuple[float, float]:
    """(seconds until /healthz is ok, seconds of the first POST /search after that)."""
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen(cli(src, data_dir, "serve", "--port", str(port)), env=env_for(src), cwd=src,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"serve exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.05)
        ready = time.perf_counter() - start
        body = json.dumps({"query": QUERY}).encode()
        request = urllib.request.Request(f"{url}/search", body, {"Content-Type": "application/json"})
        first = time.perf_counter()
        urllib.request.urlopen(request, timeout=120).read()
        return ready, time.perf_counter() - first
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def summary(values: list[float]) -> list[float]:
    return [statistics.median(values), min(values), max(values)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="a data dir with a built index")
    parser.add_argument("--baseline-src", type=Path, help="another checkout's root (its es_ltrr runs)")
    parser.add_argument("--baseline-data-dir", type=Path, help="the baseline's data dir (default: --data-dir)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    variants = [("this checkout", ROOT, args.data_dir)]
    if args.baseline_src:
        variants.insert(0, ("baseline " + str(args.baseline_src), args.baseline_src, args.baseline_data_dir or args.data_dir))
    rows = []
    for name, src, data_dir in variants:
        searches = [cold_search(src, data_dir) for _ in range(args.runs)]
        serves = [serve_ready(src, data_dir) for _ in range(max(1, args.runs // 2))]
        rows.append([name, "cold `search` wall s", *summary(searches)])
        rows.append([name, "`serve` until /healthz ok s", *summary([r for r, _ in serves])])
        rows.append([name, "then first POST /search s", *summary([f for _, f in serves])])
    print(f"query {QUERY!r}, {args.runs} runs, load {os.getloadavg()[0]:.2f} (1-min average at the end)")
    print(tabulate(rows, ["variant", "figure", "median", "min", "max"], floatfmt=".2f"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
