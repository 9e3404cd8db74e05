"""`es-ltrr bench`: latency per stage and QPS, the soak, scale with catalog size."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..common.console import say
from ..common.extras import require
from .group import Ctx, fail, main, searcher_for, settings_options


@main.command()
@click.option("--requests", "n_requests", default=300, show_default=True, help="Measured requests per scenario.")
@click.option("--concurrency", default=2, show_default=True, help="Client threads.")
@click.option("--seed", default=7, show_default=True, help="Seed of the query sample.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the results as JSON.")
@click.option("--soak", is_flag=True, help="Soak: --soak-requests searches and as many feedback events, error rate, "
              "p50/p99 per quarter, memory and file descriptors at start and end (docs/reliability.md).")
@click.option("--soak-requests", default=20_000, show_default=True, type=click.IntRange(1, 1_000_000),
              help="With --soak: searches (each followed by one feedback event).")
@click.option("--soak-seconds", default=300.0, show_default=True, type=click.FloatRange(1, 300),
              help="With --soak: time cap; the soak stops submitting there and reports what it did.")
@click.option("--entities", "sizes", metavar="SIZES", help="Scale run: catalog sizes, e.g. 10k,62k,250k,1m "
              "(sampled or expanded from the catalog, built once under the cache dir; docs/scale.md).")
@click.option("--catalog-seed", default=0, show_default=True, help="With --entities: seed of the sample/expansion.")
@click.option("--plots", type=click.Path(file_okay=False, path_type=Path), help="With --entities: write a "
              "log-log plot of each stage's p50 against entities (scale-stages.png) here.")
@click.option("--json", "as_json", is_flag=True, help="With --entities: print the results as JSON, not tables.")
@settings_options()
@click.pass_obj
def bench(obj: Ctx, n_requests: int, concurrency: int, seed: int, out: Path | None, soak: bool,
          soak_requests: int, soak_seconds: float, sizes: str | None, catalog_seed: int, plots: Path | None,
          as_json: bool) -> None:
    """Latency per stage (p50/p99) and QPS of POST /search on 127.0.0.1, against a baseline.

    With --soak: a bounded soak of POST /search and POST /feedback (feedback logged in a
    scratch directory, not the data dir's log). With --entities: the same per catalog size,
    plus the bare engine time for the same requests, the sidecar's overhead over it, memory
    and build time (docs/scale.md)."""
    from ..catalog import load_catalog
    from ..ops.bench.latency import run_bench, sample_queries

    require("waitress", "server", "es-ltrr bench")  # before the searcher: a first run indexes for minutes
    if not 1 <= n_requests <= 20000 or not 1 <= concurrency <= 16:
        fail("--requests must be in 1..20000 and --concurrency in 1..16")
    if soak and (sizes is not None or plots or as_json):
        fail("--soak and --entities are separate runs: give one of them")
    if soak:
        return _bench_soak(obj, soak_requests, soak_seconds, concurrency, seed, out)
    if sizes is not None or plots or as_json:
        return _bench_scale(obj, sizes, catalog_seed, n_requests, concurrency, seed, out, plots, as_json)
    searcher = searcher_for(obj)
    queries = sample_queries(load_catalog(obj.settings().catalog), n_requests, seed)
    report = run_bench(searcher, queries, concurrency, say=say)
    click.echo(report.table())
    if out:
        out.write_text(json.dumps(report.to_dict(), indent=2))


def _bench_soak(obj: Ctx, n: int, seconds: float, concurrency: int, seed: int, out: Path | None) -> None:
    """`bench --soak`: es_ltrr.ops.bench.soak on the configured searcher and catalog queries."""
    from ..catalog import load_catalog
    from ..ops.bench.latency import sample_queries
    from ..ops.bench.soak import run_soak

    searcher = searcher_for(obj)
    queries = sample_queries(load_catalog(obj.settings().catalog, progress=False), min(n, 5000), seed)
    report = run_soak(searcher, queries, n, concurrency, seconds, seed, say=say)
    click.echo(report.table())
    if out:
        out.write_text(json.dumps(report.to_dict(), indent=2))


def _bench_scale(obj: Ctx, sizes: str | None, catalog_seed: int, n_requests: int, concurrency: int, seed: int,
                 out: Path | None, plots: Path | None, as_json: bool) -> None:
    """`bench --entities`: es_ltrr.ops.bench.scale on each size (queries from the configured catalog)."""
    from ..catalog import load_catalog
    from ..ops.bench.latency import sample_queries
    from ..ops.bench.scale import parse_sizes, run_scale

    if sizes is None:
        fail("--plots and --json need --entities SIZES")
    try:
        parsed = parse_sizes(sizes)
    except ValueError as exc:
        fail(str(exc))
    settings = obj.settings()
    try:
        queries = sample_queries(load_catalog(settings.catalog), n_requests, seed)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    report = run_scale(settings, parsed, catalog_seed, queries, concurrency, say=say)
    data = report.to_dict()
    click.echo(json.dumps(data, indent=2) if as_json else report.table())
    if out:
        out.write_text(json.dumps(data, indent=2))
    if plots and report.results:
        say(f"plot: {report.plot(plots)}")
