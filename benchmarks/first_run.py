"""First run: wall time of the quickstart search on an empty data dir *and* an empty cache dir.

    python benchmarks/first_run.py [--baseline-src DIR] [--query "tayler love"]

Runs `python -m es_ltrr.cli search QUERY` with fresh `XDG_DATA_HOME` / `XDG_CACHE_HOME`, so
everything a new user waits for is inside the figure: catalog load, the ONNX export, catalog
embedding, indexing, the gazetteer and the search. Then runs the same command once more
(the index built) for the cold-search figure. With `--baseline-src` (a checkout of another
commit: `git archive COMMIT | tar -x -C /tmp/base`) the baseline runs first in the same run.
Stage lines (tqdm's final bars) are printed as they come, so the time of each stage shows.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]


def run(src: Path, query: str, home: Path) -> float:
    """Seconds for one `es-ltrr search` in `src` with its dirs under `home`."""
    env = {**os.environ, "PYTHONPATH": str(src), "XDG_DATA_HOME": str(home / "data"),
           "XDG_CACHE_HOME": str(home / "cache")}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "es_ltrr.cli", "search", query], cwd=src, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--query", default="tayler love")
    parser.add_argument("--baseline-src", type=Path, help="a checkout to measure first, in the same run")
    args = parser.parse_args(argv)
    variants = ([("baseline", args.baseline_src)] if args.baseline_src else []) + [("this checkout", ROOT)]
    rows = []
    for name, src in variants:
        with tempfile.TemporaryDirectory(prefix="es-ltrr-first-run-") as home:
            print(f"== {name}: first run (empty data and cache dirs), load {os.getloadavg()[0]:.2f}", file=sys.stderr)
            first = run(src, args.query, Path(home))
            print(f"== {name}: second run (index built)", file=sys.stderr)
            second = run(src, args.query, Path(home))
        rows.append([name, f"{first:.1f}", f"{first / 60:.2f}", f"{second:.2f}"])
    print(tabulate(rows, headers=["variant", "first run (s)", "first run (min)", "next run (s)"]))
    print(f"cores: {os.cpu_count()}   load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
