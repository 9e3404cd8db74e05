"""One evaluation: every system over every judged set, measured per set and pooled, and the
terminal tables."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from .judged import load_judged, on_catalog
from .metrics import measure
from .simulation.users import QueryGenerator
from .systems import System, run_system, subset

Progress = Callable[[str, int], Any]  # (system name, queries) → a context manager with update(n)


def judged_sets(entities: Sequence[Mapping[str, Any]], which: str = "both", queries: int = 500, seed: int = 2,
                say: Callable[[str], None] = print) -> dict[str, list[Any]]:
    """The judged query sets of `which` ("hand", "simulated" or "both") for a catalog of
    `entities`: the shipped hand-labelled set, kept to the queries this catalog can answer,
    and `queries` simulated users with held-out targets (their grades from the catalog).
    A JudgedSetError when the hand set is unreadable; a ValueError when fewer than 2 of its
    queries fit this catalog."""
    sets: dict[str, list[Any]] = {}
    if which in ("hand", "both"):
        hand = load_judged()
        sets["hand"] = on_catalog(hand, {d["id"] for d in entities})
        say(f"hand set: {len(sets['hand'])} of {len(hand)} queries judge entities of this catalog")
        if len(sets["hand"]) < 2:
            raise ValueError("fewer than 2 hand-labelled queries judge entities of this catalog: "
                             "use the simulated judged queries only")
    if which in ("simulated", "both"):
        sets["simulated"] = QueryGenerator(entities, seed=seed).generate(queries, holdout=True, seed=seed)
    return sets


def evaluate(system_list: Sequence[System], sets: Mapping[str, Sequence[Any]], progress: Progress | None = None,
             before_each: Callable[[], Any] | None = None) -> dict[str, Any]:
    """{"systems": pooled over every judged query, "sets": {set: measure}, "fusion": who fused
    each system and why not the node, ...}; each system searches every query once, after
    `before_each` (the CLI empties the query-vector cache: each system pays its own embedding)."""
    queries = [q for qs in sets.values() for q in qs]
    runs = {}
    for system in system_list:
        if before_each:
            before_each()
        if progress:
            with progress(system.name, len(queries)) as bar:
                runs[system.name] = run_system(system, queries, bar.update)
        else:
            runs[system.name] = run_system(system, queries)
    document = measure(runs, queries)
    document["sets"], start = {}, 0
    for name, qs in sets.items():
        positions = list(range(start, start + len(qs)))
        start += len(qs)
        document["sets"][name] = measure({n: subset(r, positions) for n, r in runs.items()}, qs)
    document["fusion"] = {s.name: {"executed_by": s.executed_by, **({"reason": s.reason} if s.reason else {})}
                          for s in system_list}
    return document


def tables(document: Mapping[str, Any]) -> str:
    """The terminal report: per set the systems' table and nDCG@10 per intent; then the pooled
    table when there are several sets; then who fused what."""
    from tabulate import tabulate

    parts = []
    for name, report in document["sets"].items():
        parts.append(f"{name} set: {report['queries']} judged queries")
        parts.append(_systems_table(tabulate, report))
        names = list(report["systems"])
        rows = [[intent, report["by_intent"][intent][names[0]]["queries"],
                 *(f"{report['by_intent'][intent][n]['ndcg10']:.3f}" for n in names)] for intent in report["by_intent"]]
        parts.append("nDCG@10 per intent\n" + tabulate(rows, headers=["intent", "queries", *names]))
    if len(document["sets"]) > 1:
        parts.append(f"all judged queries ({document['queries']})\n" + _systems_table(tabulate, document))
    fusion = [f"  {n}: {f['executed_by']}" + (f" ({f['reason']})" if f.get("reason") else "")
              for n, f in document["fusion"].items() if n in ("hybrid", "rrf_all_arms")]
    parts.append("fusion executed by\n" + "\n".join(fusion))
    return "\n\n".join(parts)


def _systems_table(tabulate: Any, report: Mapping[str, Any]) -> str:
    def delta(name: str) -> str:
        s = report["significance"].get(name)
        if s is None:
            return ""
        return f"{s['delta_ndcg10']:+.3f} (p={s['p_value']:.2g})" if s["p_value"] is not None else f"{s['delta_ndcg10']:+.3f}"

    rows = [[name, f"{m['ndcg10']:.3f}", f"{m['mrr']:.3f}", f"{m['recall100']:.3f}", f"{m['candidates']:.1f}",
             f"{m['p50_ms']:.1f}", f"{m['p99_ms']:.1f}", m["executed_by"], delta(name)]
            for name, m in report["systems"].items()]
    return tabulate(rows, headers=["system", "nDCG@10", "MRR", "recall@100", "candidates", "p50 ms", "p99 ms",
                                   "fused by", "es-ltrr − system"])
