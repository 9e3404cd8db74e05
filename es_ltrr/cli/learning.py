"""es-ltrr commands that learn and measure: simulate, replay, train, models, evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import Ctx, fail, main, say, searcher_for, settings_options


@main.command()
@click.option("--judged", type=click.Choice(["hand", "simulated", "both"]), default="both", show_default=True,
              help="Judged query sets: the hand-labelled set shipped in the package, simulated users with "
              "held-out targets, or both (reported per set and pooled).")
@click.option("--queries", default=500, show_default=True, help="Simulated judged queries (held-out targets).")
@click.option("--seed", default=2, show_default=True, help="Seed of the simulated judged queries.")
@click.option("--json", "as_json", is_flag=True, help='Print {"systems": {name: {ndcg10, mrr, recall100, candidates, '
              'p50_ms, p99_ms, executed_by}}, "by_intent", "significance", "sets": {set: the same}, "fusion"}.')
@click.option("--plots", type=click.Path(file_okay=False, path_type=Path),
              help="Write nDCG@10-per-intent, recall-vs-candidates and latency PNGs per judged set here.")
@settings_options()
@click.pass_obj
def evaluate(obj: Ctx, judged: str, queries: int, seed: int, as_json: bool, plots: Path | None) -> None:
    """es-ltrr against what a user would run instead — bm25, hybrid (min-max + linear, as
    OpenSearch's normalization processor), rrf_all_arms (as Elasticsearch's rrf retriever),
    all_arms_ltr (the active model) — on the same judged queries: nDCG@10, MRR, recall@100
    of the candidates, candidates per query, latency, by intent, and paired t-tests. With
    --cluster every system runs on the node, and hybrid/rrf_all_arms as the node's own fusion
    where it has it (else the sidecar fuses the node's arm results; the report says which)."""
    from tqdm import tqdm

    from ..catalog import load_catalog
    from ..engines import EngineError
    from ..evaluate import evaluate as run, probe, systems, tables
    from ..evaluate.plots import plots as write_plots
    from ..evaluation.judged import JudgedSetError, load_judged, on_catalog
    from ..simulation.users import QueryGenerator

    settings = obj.settings()
    if judged != "hand" and queries < 2:
        fail("--queries must be at least 2")
    searcher = searcher_for(obj, settings)
    catalog = load_catalog(settings.catalog, progress=False)
    sets = {}
    if judged in ("hand", "both"):
        try:
            hand = load_judged()
        except JudgedSetError as exc:
            fail(str(exc))
        sets["hand"] = on_catalog(hand, {d["id"] for d in catalog})
        say(f"hand set: {len(sets['hand'])} of {len(hand)} queries judge entities of this catalog")
        if len(sets["hand"]) < 2:
            fail("fewer than 2 hand-labelled queries judge entities of this catalog: use --judged simulated")
    if judged in ("simulated", "both"):
        sets["simulated"] = QueryGenerator(catalog, seed=seed).generate(queries, holdout=True, seed=seed)
    fusion = probe(searcher.engine) if settings.cluster_url else None
    try:
        searcher.warm()  # the query model and lazy tables load now, not inside the first timed search
        system_list = systems(searcher, None if searcher.ranker.kind == "rrf" else searcher.ranker, fusion)
        document = run(system_list, sets, lambda name, n: tqdm(total=n, desc=f"{name:>13}", unit="query",
                                                                mininterval=2.0),
                       searcher.encoder.forget_queries if searcher.encoder else None)
    except EngineError as exc:
        fail(str(exc))
    finally:
        if fusion is not None:
            fusion.close()
    if plots:
        for path in write_plots(document, plots):
            say(f"wrote {path}")
    click.echo(json.dumps(document, indent=2) if as_json else tables(document))
