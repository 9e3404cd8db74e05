"""The README's first command on a fresh machine: install into a new virtualenv, then the
first search with empty data and cache dirs, timed, with what the install weighs.

    python benchmarks/fresh_install.py [--baseline-src DIR] [--extras all] [--no-search]

Per variant (the baseline first when `--baseline-src` names a checkout of another commit,
e.g. `git archive main | tar -x -C /tmp/base`, then this checkout), in the same run:

* `python -m venv` in a temporary dir (its bundled pip, as a new user has it), then
  `pip install --no-cache-dir -e "SRC[EXTRAS]"`
  (nothing from pip's cache; what the machine's `PIP_FIND_LINKS` dirs supplied is counted
  from pip's output), timed, with the bytes the network interfaces received meanwhile
  (/proc/net/dev: another job's downloads would count too);
* the virtualenv's size on disk (`du`) and `benchmarks/install_size.py` run inside it;
* `es-ltrr search "tayler love"` with fresh `XDG_DATA_HOME` / `XDG_CACHE_HOME` (the catalog
  indexed and embedded, the embedding model fetched or exported: everything a new user waits
  for), then once more (the index built).

Other jobs may share the machine: the load average is printed with each step.
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
CATALOG = ROOT.parent / "shared" / "data" / "spotify_songs" / "spotify_songs.csv.gz"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def received_bytes() -> int:
    """Bytes received on every interface but loopback, from /proc/net/dev (0 elsewhere)."""
    try:
        lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    except OSError:
        return 0
    return sum(int(line.split(":", 1)[1].split()[0]) for line in lines if line.split(":", 1)[0].strip() != "lo")


def du_mb(path: Path) -> float:
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0]) / 1024


def install(src: Path, venv: Path, extras: str) -> dict:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    before, start = received_bytes(), time.perf_counter()
    run = subprocess.run([*pip, "install", "--no-cache-dir", "--progress-bar", "off", "-e", f"{src}[{extras}]"],
                         capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if run.returncode != 0:
        sys.exit(f"pip install failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    links = [d for d in os.environ.get("PIP_FIND_LINKS", "").split() if d]
    local = [line for line in run.stdout.splitlines()  # "Processing /opt/wheels/x.whl", not "Looking in links"
             if any(d in line for d in links) and not line.startswith("Looking in links")]
    return {"install_s": seconds, "received_mb": (received_bytes() - before) / 1e6, "find_links": links,
            "from_find_links": len(local), "venv_mb": du_mb(venv)}


def search(venv: Path, home: Path, query: str) -> float:
    env = {**os.environ, "XDG_DATA_HOME": str(home / "data"), "XDG_CACHE_HOME": str(home / "cache"),
           "ES_LTRR_CATALOG": str(CATALOG)}
    env.pop("PYTHONPATH", None)
    env.pop("ES_LTRR_CACHE_DIR", None)
    env.pop("ES_LTRR_DATA_DIR", None)
    start = time.perf_counter()
    subprocess.run([str(venv / "bin" / "es-ltrr"), "search", query], cwd=home, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline-src", type=Path, help="a checkout to measure first, in the same run")
    parser.add_argument("--extras", default="all")
    parser.add_argument("--query", default="tayler love")
    parser.add_argument("--no-search", action="store_true", help="measure the install only")
    args = parser.parse_args(argv)
    variants = ([("baseline", args.baseline_src.resolve())] if args.baseline_src else []) + [("this checkout", ROOT)]
    rows = []
    for name, src in variants:
        with tempfile.TemporaryDirectory(prefix="es-ltrr-fresh-") as tmp:
            venv = Path(tmp) / "venv"
            print(f"== {name} ({src}): pip install --no-cache-dir -e '.[{args.extras}]', load {load()}", file=sys.stderr)
            got = install(src, venv, args.extras)
            print(f"   {got['install_s']:.1f} s, {got['venv_mb']:.0f} MB installed, {got['received_mb']:.0f} MB "
                  f"received, {got['from_find_links']} from {got['find_links'] or 'no find-links dir'}; load {load()}",
                  file=sys.stderr)
            sizes = subprocess.run([str(venv / "bin" / "python"), str(ROOT / "benchmarks" / "install_size.py")],
                                   capture_output=True, text=True, cwd=tmp)
            print(sizes.stdout or sizes.stderr[-2000:], file=sys.stderr)
            first = second = float("nan")
            if not args.no_search:
                print(f"== {name}: es-ltrr search {args.query!r}, empty data and cache dirs, load {load()}", file=sys.stderr)
                first = search(venv, Path(tmp), args.query)
                print(f"   {first:.1f} s; once more (index built), load {load()}", file=sys.stderr)
                second = search(venv, Path(tmp), args.query)
            rows.append([name, f"{got['venv_mb'] / 1024:.2f}", f"{got['received_mb']:.0f}", f"{got['install_s']:.0f}",
                         f"{first:.0f}", f"{(got['install_s'] + first) / 60:.1f}", f"{second:.1f}"])
    print(tabulate(rows, headers=["variant", "venv GB", "downloaded MB", "install s", "first search s",
                                  "both (min)", "next search s"]))
    print(f"cores: {os.cpu_count()}   load average after: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
