"""One learning period, end to end, and what it did to the pages: the README's commands on a
fresh data dir, then `es-ltrr evaluate` before and after, against rrf_all_arms.

    python benchmarks/learning_period.py --data-dir D [--queries 5000] [--more 2000] [--port 8095]
                                         [--seed 1] [--eval-seeds 2,3] [--out DIR]
                                         [--catalog F] [--cluster URL --index ALIAS]

Steps (each an `es-ltrr` command, as a user runs them):

1. `index` into D (a fresh data dir; on a `--cluster`, `apply` first), and `evaluate` the
   fresh install (before);
2. `serve` D and `simulate --http` the learning users (`--queries`, seed `--seed`): the
   policy learns from every search (the guard decides when its choice serves), the log fills;
3. `train`: the ranker learns from the logged pages and clicks (gate on judged queries;
   the running server follows an activated model within seconds);
4. `simulate --http` `--more` users again: the learning curve goes on with the model;
5. stop the server; `evaluate --judged both` (hand set + simulated users, seed 2) and
   `evaluate --judged simulated` with each other `--eval-seeds` (after).

Prints the systems' nDCG@10, candidates and per-intent deltas against rrf_all_arms, before
and after, and the learning curve (page nDCG@10 per 500 searches, served vs the static
allocation); writes every command's JSON and the plots into `--out` (default D/../period).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tabulate import tabulate

ES_LTRR = [sys.executable, "-m", "es_ltrr.cli"]


def run(args: list[str], out: Path | None = None) -> dict | None:
    """One es-ltrr command; its stdout parsed as JSON when `out` is given (and saved there)."""
    print("$ es-ltrr " + " ".join(args), file=sys.stderr, flush=True)
    done = subprocess.run([*ES_LTRR, *args], stdout=subprocess.PIPE if out else None, text=True, check=True)
    if out is None:
        return None
    out.write_text(done.stdout)
    return json.loads(done.stdout)


def serve(base: list[str], port: int, log: Path) -> subprocess.Popen:
    process = subprocess.Popen([*ES_LTRR, *base, "serve", "--port", str(port),
                                "--engagement-window", "5"], stdout=log.open("w"), stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except OSError:
            time.sleep(1)
    process.kill()
    raise SystemExit(f"the server did not start: see {log}")


def summary(before: dict, after: dict, name: str) -> list[list[str]]:
    rows = []
    for label, doc in (("before", before), ("after", after)):
        systems = doc["sets"][name]["systems"] if name in doc["sets"] else None
        if systems is None:
            continue
        rrf = systems["rrf_all_arms"]
        for system in ("rrf_all_arms", "all_arms_ltr", "es-ltrr"):
            if system in systems:
                m = systems[system]
                rows.append([label, system, f"{m['ndcg10']:.3f}", f"{m['ndcg10'] / rrf['ndcg10']:.3f}×",
                             f"{m['candidates']:.1f}", f"{m['candidates'] / rrf['candidates']:.0%}"])
    return rows


def intents(doc: dict, name: str) -> list[list[str]]:
    report = doc["sets"][name]
    return [[intent, m["es-ltrr"]["queries"], f"{m['rrf_all_arms']['ndcg10']:.3f}", f"{m['es-ltrr']['ndcg10']:.3f}",
             f"{m['es-ltrr']['ndcg10'] - m['rrf_all_arms']['ndcg10']:+.3f}"]
            for intent, m in report["by_intent"].items()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="a fresh (empty or missing) data dir")
    parser.add_argument("--queries", type=int, default=5000, help="learning users before training")
    parser.add_argument("--more", type=int, default=2000, help="learning users after training")
    parser.add_argument("--port", type=int, default=8095)
    parser.add_argument("--seed", type=int, default=1, help="seed of the learning users")
    parser.add_argument("--eval-seeds", default="2,3", help="seeds of the simulated judged users (2 with the hand set)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--catalog", type=Path, help="a catalog of its own (e.g. `es-ltrr catalog slice`)")
    parser.add_argument("--cluster", help="run every step on this cluster (searches ranked by sltr once a model serves)")
    parser.add_argument("--index", help="the alias on the --cluster")
    args = parser.parse_args()
    data, out = args.data_dir, args.out or args.data_dir.parent / f"{args.data_dir.name}-period"
    out.mkdir(parents=True, exist_ok=True)
    catalog = ["--catalog", str(args.catalog)] if args.catalog else []
    base = ["--data-dir", str(data), *catalog,
            *(["--cluster", args.cluster] if args.cluster else []), *(["--index", args.index] if args.index else [])]
    seeds = [int(s) for s in args.eval_seeds.split(",")]
    started = time.time()
    # the simulated users (and simulate's in-process all_arms and oracle) run on an embedded
    # index of the same catalog: on a cluster, a data dir of their own beside D
    users = base if not args.cluster else ["--data-dir", f"{data}-users", *catalog]
    if args.cluster:
        run([*base, "apply"])
        run([*users, "index"])
    run([*base, "index"])
    before = run([*base, "evaluate", "--judged", "both", "--seed", str(seeds[0]), "--json"], out / "evaluate-before.json")
    server = serve(base, args.port, out / "serve.log")
    try:
        url = f"http://127.0.0.1:{args.port}"
        first = run([*users, "simulate", "--http", url, "--queries", str(args.queries), "--report-queries", "200",
                     "--seed", str(args.seed), "--plots", str(out / "learning"), "--json"], out / "simulate-1.json")
        trained = run([*base, "train", "--json"], out / "train.json")
        time.sleep(5)  # the server follows an activated model within its fold interval
        second = run([*users, "simulate", "--http", url, "--queries", str(args.more), "--report-queries", "200",
                      "--seed", str(args.seed + 100), "--plots", str(out / "with-model"), "--json"],
                     out / "simulate-2.json") if args.more else None
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
    after = run([*base, "evaluate", "--judged", "both", "--seed", str(seeds[0]), "--json", "--plots", str(out / "evaluate")],
                out / "evaluate-after.json")
    others = {s: run([*base, "evaluate", "--judged", "simulated", "--seed", str(s), "--json"],
                     out / f"evaluate-after-seed{s}.json") for s in seeds[1:]}
    print(f"learning period: {args.queries} + {args.more} users, {time.time() - started:.0f} s; train: "
          f"{'activated ' + trained['model'] if trained['activated'] else 'kept ' + str(trained['active_model'])} "
          f"(judged nDCG@10 new {trained['ndcg10_new']:.3f}, fusion {trained['ndcg10_none']:.3f})\n")
    headers = ["", "system", "nDCG@10", "× rrf", "candidates", "of rrf's"]
    for name in ("hand", "simulated"):
        print(f"{name} set (seed {seeds[0]})\n" + tabulate(summary(before, after, name), headers=headers) + "\n")
    for seed, doc in others.items():
        print(f"simulated set (seed {seed}), after\n"
              + tabulate(summary(doc, doc, "simulated")[len(summary(doc, doc, 'simulated')) // 2:], headers=headers)
              + "\n")
    for name in ("hand", "simulated"):
        print(f"es-ltrr − rrf_all_arms per intent, {name} set, after\n"
              + tabulate(intents(after, name), headers=["intent", "queries", "rrf", "es-ltrr", "Δ"]) + "\n")
    for label, doc in (("before training", first), ("with the model", second)):
        if doc:
            curve = doc["learning_curve"]["ndcg10"]
            rows = [[f"{(i + 1) * doc['learning_curve']['window']}", *(f"{curve[n][i]:.3f}" for n in curve)]
                    for i in range(min(len(v) for v in curve.values()))]
            print(f"page nDCG@10 per {doc['learning_curve']['window']} searches, {label}\n"
                  + tabulate(rows, headers=["searches", *curve]) + "\n")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
