"""The memory that learns what no arm finds (issue 22), measured over HTTP: nickname,
abbreviation and vague-reference queries (`es_ltrr/evaluation/judged/reformulations.jsonl`),
simulated users who reformulate, this es-ltrr against today's rule, in the same run.

    python benchmarks/reformulations.py --base D [--rounds 12] [--users 3] [--baseline-code DIR]
                                        [--spam "taylor swift"] [--port 8097] [--out DIR]
                                        [--cluster URL --flavor opensearch --index ALIAS]

Each run copies the indexed data dir `--base` (never written), starts `es-ltrr serve` on the
copy (`--memory-interval 2`) and runs `es-ltrr simulate --http URL --reformulations` against
it (`--settle 4` s a round): every round, 3 new users per query (each a client of its own,
each task a session) search the query, play the target when they see it, else reformulate
with the canonical wording and play it there; one spammer client posts ~1,000 plays of the
spam query's 10th hit. Runs:

* **sessions** — this code: sessions, reformulation credit by agreement, capped clients,
  confirmed pairs at rank 1;
* **today's rule** — the server of `--baseline-code` (a checkout without sessions, e.g. the
  main branch) with the same users, whose searches carry no `client_id`/`session_id`; its
  round 0 is the memory off (nothing learned yet).

With `--cluster`, the server serves that cluster's alias instead of the embedded engine (a
slice of the queries with `--slice N`, the baseline skipped unless `--baseline-code` is
given). Prints a table (rank-1 share, MRR@10, target on page 1, reformulations at rank 1,
the spam query's top 3), the per-query ranks that moved, and writes `reformulations.png` (the
rank-1 share against rounds) and each run's JSON into `--out`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def es_ltrr(code: Path) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    return [sys.executable, "-m", "es_ltrr.cli"], env


def serve(code: Path, data: Path, port: int, log: Path, cluster: list[str], policy: list[str]) -> subprocess.Popen:
    cmd, env = es_ltrr(code)
    args = [*cmd, "--data-dir", str(data), *cluster, *policy, "serve", "--port", str(port), "--memory-interval", "2"]
    print("$ " + " ".join(args[2:]), f"  (PYTHONPATH={code})", file=sys.stderr, flush=True)
    process = subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(1)
    process.kill()
    raise SystemExit(f"the server did not start: see {log}")


def simulate(port: int, label: str, out: Path, rounds: int, users: int, spam: str | None, sessions: bool,
             slice_: int | None) -> dict:
    cmd, env = es_ltrr(ROOT)
    args = [*cmd, "simulate", "--http", f"http://127.0.0.1:{port}", "--reformulations", "--rounds", str(rounds),
            "--users", str(users), "--settle", "4", "--label", label, "--json", "--out", str(out)]
    if spam:
        args += ["--spam", spam]
    if not sessions:
        args.append("--no-sessions")
    if slice_:
        args += ["--slice", str(slice_)]
    print("$ " + " ".join(args[2:]), file=sys.stderr, flush=True)
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def run(name: str, code: Path, args: argparse.Namespace, port: int, sessions: bool) -> dict:
    if name in args.reuse:
        return json.loads((args.out / f"{name}.json").read_text())
    data = args.out / f"data-{name}"
    if args.cluster:  # the data dir of the alias's `es-ltrr index` (--base), or a fresh one
        data = args.base or data
        data.mkdir(parents=True, exist_ok=True)
        cluster = ["--cluster", args.cluster, "--flavor", args.flavor, "--index", args.index, "--no-embed"]
    else:
        if data.exists():
            shutil.rmtree(data)
        shutil.copytree(args.base, data, symlinks=True)
        cluster = []
    server = serve(code, data, port, args.out / f"serve-{name}.log", cluster,
                   ["--policy", args.policy] if args.policy else [])
    try:
        return simulate(port, name, args.out / f"{name}.json", args.rounds, args.users, args.spam, sessions,
                        args.slice)
    finally:
        server.terminate()
        server.wait(60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, help="an indexed data dir (copied, never written; with --cluster: the "
                        "data dir `es-ltrr --cluster URL --index ALIAS index` wrote, used as it is)")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--users", type=int, default=3)
    parser.add_argument("--spam", default="taylor swift")
    parser.add_argument("--baseline-code", type=Path, default=None,
                        help="a checkout of es-ltrr before sessions (today's rule); default: /work/main if present")
    parser.add_argument("--port", type=int, default=8097)
    parser.add_argument("--out", type=Path, default=Path("reformulations-bench"))
    parser.add_argument("--cluster", default=None)
    parser.add_argument("--flavor", default="opensearch")
    parser.add_argument("--index", default="es-ltrr-reform")
    parser.add_argument("--slice", type=int, default=None, help="the first N queries of the set only")
    parser.add_argument("--policy", default=None, help="the servers' --policy (default: the served one, thompson); "
                        "static keeps the arms' depths fixed, so only the memory moves pages")
    parser.add_argument("--runs", default="sessions,today's rule", help="which runs (comma-separated)")
    parser.add_argument("--reuse", action="append", default=[], metavar="RUN",
                        help="take RUN's result (sessions, today's rule) from --out instead of running it again")
    args = parser.parse_args()
    if not args.cluster and args.base is None:
        parser.error("--base is required without --cluster")
    args.out.mkdir(parents=True, exist_ok=True)
    baseline = args.baseline_code
    if baseline is None and not args.cluster and Path("/work/main/es_ltrr").is_dir():
        baseline = Path("/work/main")

    sys.path.insert(0, str(ROOT))
    from es_ltrr.evaluation.simulation.sessions import RoundsResult, curve_plot, table

    wanted = {r.strip() for r in args.runs.split(",")}
    results = [run("sessions", ROOT, args, args.port, sessions=True)] if "sessions" in wanted else []
    if baseline is not None and "today's rule" in wanted:
        results.append(run("today's rule", baseline, args, args.port + 1, sessions=False))
    runs = []
    for doc in results:
        res = RoundsResult(**doc)
        runs.append(res)
    print(table(runs))
    print()
    for res in runs:
        moved = {k: (res.ranks_before[k], res.ranks_after[k]) for k in res.ranks_before
                 if k.endswith(":reformulation") and res.ranks_before[k] != res.ranks_after[k]}
        print(f"{res.label}: reformulations whose target rank moved (before → after): "
              + (", ".join(f"{k.split(':')[0]} {a} → {b}" for k, (a, b) in moved.items()) or "none"))
        print(f"{res.label}: users per round (first search / reformulated / gave up): "
              + "; ".join(f"{o['first']}/{o['reformulated']}/{o['gave_up']}" for o in res.outcomes))
    print(f"\nwrote {curve_plot(runs, args.out / 'reformulations.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
