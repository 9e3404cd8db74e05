"""es-ltrr commands that search: search (and its table), render, serve, bench, parity."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from .._extras import require
from ..api import BadRequest, decode_json, parse_search_request, search_response
from ..arms import ARMS
from ..config import MAX_K, MAX_QUERY_CHARS

from . import Ctx, fail, main, say, searcher_for, settings_options


@main.command(help=f"""Search the catalog and print the ranked hits.

QUERY has at most {MAX_QUERY_CHARS} characters (Unicode code points): a longer one is refused
with an error, never silently cut.""")
@click.argument("query")
@click.option("--k", default=10, show_default=True, help=f"Hits to return (1..{MAX_K}).")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON response of POST /search.")
@click.option("--debug", is_flag=True, help="Include query understanding and per-arm results.")
@click.option("--context", "context_json", default=None, metavar="JSON", help="JSON object passed as the request context.")
@settings_options()
@click.pass_obj
def search(obj: Ctx, query: str, k: int, as_json: bool, debug: bool, context_json: str | None) -> None:
    try:
        context = _decode_context(context_json) if context_json else {}
        request = parse_search_request({"query": query, "k": k, "context": context, "debug": debug})
    except BadRequest as exc:
        fail(str(exc))
    settings = obj.settings()
    searcher = searcher_for(obj, settings)
    result = searcher.search(request)
    _log_impression(settings, result)
    response = search_response(result)
    _report_arm_errors(response)
    if as_json:
        click.echo(json.dumps(response, ensure_ascii=False, indent=2))
    else:
        click.echo(format_table(response))


def _report_arm_errors(response: dict[str, Any]) -> None:
    """A page is served when some arms fail (a warning says which); when every arm that ran
    failed, the engine is unreachable or refused (a certificate, a password): an error."""
    ran = [a for a in response["arms"] if a.get("status") != "not_applicable"]
    failed = [a for a in ran if a.get("status") == "error"]
    if ran and len(failed) == len(ran):
        fail(f"every arm failed; {failed[0]['arm']}: {failed[0].get('error')}")
    for arm in failed:
        say(f"warning: arm {arm['arm']} failed: {arm.get('error')}")


def _log_impression(settings, result) -> None:
    """Log the search as an impression, so feedback can name its `impression_id` (a log that
    cannot be written is a warning: the answer is still printed)."""
    from ..datadir import DataDir
    from ..feedback import FeedbackStore, Impression
    from ..feedback.store import FILENAME, StoreError

    try:
        store = FeedbackStore(DataDir(settings.data_dir).logs_dir / FILENAME)
        store.add_impression(Impression.from_result(result))
        store.close()
    except StoreError as exc:
        say(f"warning: impression not logged: {exc}")


_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


def _decode_context(text: str) -> Any:
    """`--context` JSON; an error about its text or type names the flag, not the JSON field.

    `null` means no context, as in the HTTP request.
    """
    context = decode_json(text, "--context")
    if context is not None and not isinstance(context, dict):
        got = _JSON_TYPES.get(type(context), type(context).__name__)
        raise BadRequest(f"--context must be a JSON object, e.g. '{{\"market\": \"US\"}}' (got {got})")
    return context


def format_table(response: dict[str, Any]) -> str:
    """A readable page: rank, type, name (+ versions), artist, album, year, score and the
    arms that found each hit; the header says when the page holds only guesses."""
    from tabulate import tabulate

    rows = [
        [
            i,
            hit.get("type"),
            _clip(hit.get("name"), 40) + (f" (+{len(hit['variants'])})" if hit.get("variants") else ""),
            _clip(hit.get("artist") or "", 24),
            _clip(hit.get("album") or "", 24) if hit.get("type") == "track" else "",
            (hit.get("release_year") or "") if hit.get("type") in ("track", "album") else "",
            f"{hit['score']:.4f}",
            ",".join(f"{a['arm']}#{a['rank']}" for a in hit["arms"]),
        ]
        for i, hit in enumerate(response["hits"], start=1)
    ]
    arms = ", ".join(f"{a['arm']}({a['returned']}/{a['requested']})" for a in response["arms"])
    verdict = "no match: these are guesses" if response.get("no_match") else f"confidence {response.get('confidence', 0):.2f}"
    header = (
        f"query: {response['query']!r}   ranker: {response['ranker']}   "
        f"candidates: {response['candidates']}   {response['timings_ms']['total']:.1f} ms   {verdict}\narms: {arms}\n"
    )
    return header + tabulate(rows, headers=["#", "type", "name (+versions)", "artist", "album", "year", "score",
                                            "found by (arm#rank)"])


def _clip(text: Any, width: int) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def _arms_help() -> str:
    """The arm registry as a help paragraph click does not rewrap (`\\b`)."""
    width = max(map(len, ARMS))
    return "\b\nARM is one of:\n" + "\n".join(f"  {name:<{width}}  {arm.description}" for name, arm in ARMS.items())


@main.command(help="Print the search body ARM sends for QUERY (exactly what reaches the engine).\n\n" + _arms_help())
@click.argument("arm")
@click.argument("query")
@click.option("--size", default=10, show_default=True, type=click.IntRange(1, 10_000), help="Candidates the arm draws.")
@click.option("--flavor", type=click.Choice(["embedded", "opensearch", "elasticsearch"]), default="opensearch", show_default=True)
@click.option("--short-vectors", is_flag=True, help="Abbreviate query vectors in the output (not what is sent).")
@settings_options(skip=("--flavor",))
@click.pass_obj
def render(obj: Ctx, arm: str, query: str, size: int, flavor: str, short_vectors: bool) -> None:
    from ..arms import ArmInput
    from ..understanding import understand

    if arm not in ARMS:
        fail(f"unknown arm {arm!r}; arms: {', '.join(ARMS)}")
    try:
        query = parse_search_request({"query": query}).query
    except BadRequest as exc:
        fail(str(exc))
    searcher = searcher_for(obj)
    vector = searcher.encoder.encode_query(query) if ARMS[arm].needs_vector and searcher.encoder else None
    inp = ArmInput(query, understand(query, searcher.gazetteer), vector, 0, searcher.catalog)
    body = ARMS[arm].render(inp, size, flavor)
    if body is None:
        fail(f"arm {arm!r} does not apply to {query!r} (no slots / no vector / empty key)")
    if short_vectors:
        body = _shorten_vectors(body)
    click.echo(json.dumps(body, indent=2, ensure_ascii=False))


def _shorten_vectors(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _shorten_vectors(v) for k, v in node.items()}
    if isinstance(node, list):
        if len(node) > 16 and all(isinstance(x, float) for x in node):
            return node[:3] + [f"... {len(node)} floats"]
        return [_shorten_vectors(v) for v in node]
    return node


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 1024), help="WSGI threads per process.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 256),
              help="Processes; more than one runs gunicorn, each process folding the shared feedback log.")
@click.option("--fold-interval", default=1.0, show_default=True,
              help="Seconds between folds of the events other processes logged.")
@click.option("--memory-interval", default=30.0, show_default=True,
              help="Seconds between Q2E memory updates from engagement (batched: each rebuilds the index's q2e field).")
@click.option("--admin-token-file", type=click.Path(dir_okay=False, path_type=Path),
              help="File holding the bearer token of the /admin API (or ES_LTRR_ADMIN_TOKEN); without "
                   "one the admin API answers 403.")
@click.option("--api-token-file", type=click.Path(dir_okay=False, path_type=Path),
              help="File holding a bearer token /search and /feedback then require (or ES_LTRR_API_TOKEN).")
@settings_options()
@click.pass_obj
def serve(obj: Ctx, host: str, port: int, threads: int, workers: int, fold_interval: float,
          memory_interval: float, admin_token_file: Path | None, api_token_file: Path | None) -> None:
    """Run the sidecar (POST /search, POST /feedback, GET /healthz, /admin/...): waitress in one
    process, or gunicorn with --workers N.

    Searches are logged as impressions and feedback events in <data dir>/logs/ (SQLite);
    events update the policy as they arrive (other processes' within --fold-interval) and
    the Q2E memory every --memory-interval; the policy state is saved at exit (and every
    500 events) with the log position it includes. The admin API (model activation and
    rollback, policy reset, reindex, state export; docs/security.md) needs an admin token."""
    from ..access import TokenError
    from ..engines import EngineError
    from ..feedback.store import StoreError

    if not (0 < fold_interval < 1e6 and 0 < memory_interval < 1e6):  # also refuses NaN
        fail("--fold-interval and --memory-interval must be positive numbers of seconds")
    require("waitress", "server", "es-ltrr serve")  # before any work: a missing extra is the first thing said
    if workers > 1:
        require("gunicorn", "server", "es-ltrr serve --workers")
    from ..serving import serve as run, settings_access

    settings = obj.settings(admin_token_file=admin_token_file, api_token_file=api_token_file)
    try:
        access = settings_access(settings, say if workers > 1 else lambda _: None)  # a bad token file stops here, before any indexing (build_app warns)
    except TokenError as exc:
        fail(str(exc))
    say(f"admin API: {'on' if access.admin_enabled else 'off (no admin token)'}; "
        f"/search and /feedback: {'token required' if access.api_protected else 'open'}")
    searcher = searcher_for(obj, settings)  # indexes a missing catalog and reports bad settings once
    try:
        run(settings, host, port, threads, workers, say, fold_interval, searcher if workers <= 1 else None,
            memory_interval)
    except (StoreError, FileNotFoundError, ValueError, EngineError) as exc:
        fail(str(exc))


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
    from ..bench import run_bench, sample_queries
    from ..catalog import load_catalog

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
    """`bench --soak`: es_ltrr.bench_soak on the configured searcher and catalog queries."""
    from ..bench import sample_queries
    from ..bench_soak import run_soak
    from ..catalog import load_catalog

    searcher = searcher_for(obj)
    queries = sample_queries(load_catalog(obj.settings().catalog, progress=False), min(n, 5000), seed)
    report = run_soak(searcher, queries, n, concurrency, seconds, seed, say=say)
    click.echo(report.table())
    if out:
        out.write_text(json.dumps(report.to_dict(), indent=2))


def _bench_scale(obj: Ctx, sizes: str | None, catalog_seed: int, n_requests: int, concurrency: int, seed: int,
                 out: Path | None, plots: Path | None, as_json: bool) -> None:
    """`bench --entities`: es_ltrr.bench_scale on each size (queries from the configured catalog)."""
    from ..bench import sample_queries
    from ..bench_scale import parse_sizes, run_scale
    from ..catalog import load_catalog

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


@main.command()
@click.option("--queries", "n_queries", default=200, show_default=True, help="Sampled catalog queries.")
@click.option("--k", default=10, show_default=True, help="Depth compared per arm.")
@click.option("--seed", default=11, show_default=True)
@settings_options()
@click.pass_obj
def parity(obj: Ctx, n_queries: int, k: int, seed: int) -> None:
    """Per-arm top-k overlap: embedded engine (DATA_DIR) vs the --cluster, same corpus."""
    from tqdm import tqdm

    from ..bench import sample_queries
    from ..catalog import load_catalog
    from ..engines import EngineError
    from ..engines.factory import cluster_engine
    from ..parity import measure, table
    from ..redact import redact_url

    settings = obj.settings()
    if not settings.cluster_url:
        fail("parity compares the embedded index with a cluster: pass --cluster URL")
    try:
        other = cluster_engine(settings)
    except (EngineError, ValueError) as exc:
        fail(str(exc))
    # the searcher side runs on the embedded index in DATA_DIR
    searcher = searcher_for(obj, replace(settings, cluster_url=None, flavor=None, ltr_model=None))
    queries = sample_queries(load_catalog(settings.catalog), n_queries, seed)
    with tqdm(total=len(queries), desc="parity", unit="query", mininterval=2.0, file=sys.stderr) as bar:
        results = measure(searcher, other, queries, k, progress=bar.update)
    click.echo(table(results, k, "embedded", f"{other.flavor} {redact_url(settings.cluster_url)}"))
