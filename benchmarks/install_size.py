"""Disk size of what each extra installs, from the installed distributions' file records.

    python benchmarks/install_size.py

Reads the requirements of the installed es-ltrr (so run it after `pip install -e ".[all]"`
of this checkout) and sums the files of every distribution each extra pulls in, transitively,
beyond the core — the figures docs/results.md ("What the install costs") states; an extra
whose distributions are not installed here (e.g. `torch`, outside `all`) names them.
"""

from __future__ import annotations

import importlib.metadata as md

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from tabulate import tabulate

EXTRAS = ("embedding", "server", "cluster", "ltr", "ann", "simulate", "torch")


def closure(requirements: list[str], extras: set[str]) -> set[str]:
    """Installed distributions `requirements` pull in (with `extras` asked for), transitively."""
    seen: set[str] = set()
    todo = [(r, extras) for r in requirements]
    while todo:
        text, asked = todo.pop()
        req = Requirement(text)
        envs = [{"extra": e} for e in (*asked, "")]
        if req.marker is not None and not any(req.marker.evaluate(env) for env in envs):
            continue
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            todo += [(r, set(req.extras)) for r in md.requires(name) or []]
        except md.PackageNotFoundError:
            pass
    return seen


def size_mb(name: str) -> float:
    dist = md.distribution(name)
    total = 0
    for f in dist.files or []:
        try:
            total += f.locate().stat().st_size
        except OSError:
            pass
    return total / 1e6


def installed(name: str) -> bool:
    try:
        md.distribution(name)
        return True
    except md.PackageNotFoundError:
        return False


def main() -> int:
    own = md.requires("es-ltrr") or []
    core = {n for n in closure(own, set()) if installed(n)} - {"es-ltrr"}
    rows = [["(core)", sum(size_mb(n) for n in core), ", ".join(sorted(core))]]
    everything = set(core)
    for extra in EXTRAS:
        extra_only = closure(own, {extra}) - core - {"es-ltrr"}
        missing = sorted(n for n in extra_only if not installed(n))
        if missing:  # a partial sum would be another extra's size
            rows.append([extra, None, f"not installed: {', '.join(missing)}"])
            continue
        everything |= extra_only
        biggest = ", ".join(f"{n} {size_mb(n):.0f}" for n in sorted(extra_only, key=size_mb, reverse=True)[:4])
        rows.append([extra, sum(size_mb(n) for n in extra_only), biggest])
    rows.append(["(everything installed)", sum(size_mb(n) for n in everything), f"{len(everything)} distributions"])
    print(tabulate(rows, ["extra", "MB beyond core", "largest distributions (MB)"], floatfmt=".0f", missingval="-"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
