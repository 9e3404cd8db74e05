"""`es-ltrr` command line: one command per stage, each runnable alone.

    es-ltrr apply            mappings, templates and LTR featuresets to a cluster (idempotent)
    es-ltrr index            index a catalog (embedded engine, or --cluster) with progress
    es-ltrr search QUERY     search and print a table (or --json, the HTTP response)
    es-ltrr render ARM QUERY print the DSL an arm sends for a query
    es-ltrr serve            run the HTTP sidecar on a production WSGI server (waitress)
    es-ltrr bench            latency per stage and QPS of the HTTP endpoint (127.0.0.1 only)
    es-ltrr parity           per-arm top-k overlap, embedded engine vs a cluster
    es-ltrr upload-model F   an XGBoost model to the cluster's LTR plugin, parity-checked
    es-ltrr mappings         write (or --check) the generated mappings/ files
    es-ltrr node start|stop|status|assemble   a local OpenSearch (or --distribution elasticsearch) node for tests
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from ._extras import MissingExtra, require
from .api import BadRequest, decode_json, parse_search_request, search_response
from .arms import ARMS
from .config import MAX_K, MAX_QUERY_CHARS, Settings


class Ctx:
    """Settings shared by subcommands, built once from flags + env + config file."""

    def __init__(self, **options: Any):
        self.options: dict[str, Any] = dict(options)

    def settings(self, **more: Any) -> Settings:
        options = {**self.options, **more}
        return Settings.load(options.pop("config", None), **options)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _say(message: str) -> None:
    click.echo(message, err=True)


class _Group(click.Group):
    """Commands whose optional dependency is not installed end like bad input: `error:`, exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MissingExtra as exc:
            _fail(str(exc))


#: Settings every command may take, before or after its name (`es-ltrr --cluster URL apply`
#: and `es-ltrr apply --cluster URL` are the same): (option declarations, settings key,
#: value when the flag is given (None: the option's value), click keyword arguments).
_SETTINGS_OPTIONS: list[tuple[tuple[str, ...], str, Any, dict[str, Any]]] = [
    (("--config",), "config", None, dict(type=click.Path(dir_okay=False, path_type=Path), help="TOML settings file (or ES_LTRR_CONFIG).")),
    (("--data-dir",), "data_dir", None, dict(type=click.Path(file_okay=False, path_type=Path), help="Where the index, models and policy state live (or ES_LTRR_DATA_DIR); default: the "
         "platform's data dir, $XDG_DATA_HOME/es-ltrr or ~/.local/share/es-ltrr on Linux, "
         "the same from every working directory.")),
    (("--catalog",), "catalog", None, dict(type=click.Path(dir_okay=False, path_type=Path), help="Catalog file: Spotify CSV(.gz) or entity JSONL(.gz) (default: the shipped Spotify catalog).")),
    (("--no-embed",), "embed", False, dict(is_flag=True, help="Run without the embedding model (no semantic arm).")),
    (("--cluster",), "cluster_url", None, dict(metavar="URL", help="Elasticsearch/OpenSearch URL (or ES_LTRR_CLUSTER_URL); default: the embedded engine.")),
    (("--flavor",), "flavor", None, dict(type=click.Choice(["opensearch", "elasticsearch"]), help="Cluster flavor (detected from the root endpoint if omitted).")),
    (("--index",), "index", None, dict(metavar="ALIAS", help="Index alias on the cluster (default es-ltrr-entities).")),
    (("--username",), "username", None, dict(help="Basic-auth user (password from ES_LTRR_PASSWORD).")),
    (("--ca-certs",), "ca_certs", None, dict(type=click.Path(dir_okay=False), help="CA bundle for TLS.")),
    (("--insecure",), "verify_certs", False, dict(is_flag=True, help="Do not verify TLS certificates.")),
    (("--ltr-model",), "ltr_model", None, dict(metavar="NAME", help="Rank with this model stored in the cluster's LTR plugin (sltr).")),
]


def settings_options(*, skip: tuple[str, ...] = ()):
    """Add the settings options to a group or command; given values land in the shared `Ctx`.

    A value given after the command overrides one given before it. `skip` leaves out options
    a command defines with another meaning (`render --flavor` includes "embedded").
    """
    def store(key: str, flag_value: Any):
        def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
            if value is None or value is False:
                return  # not given: keep what an outer level or the environment says
            ctx.ensure_object(Ctx).options[key] = value if flag_value is None else flag_value
        return callback

    def decorate(f):
        for decls, key, flag_value, kwargs in reversed(_SETTINGS_OPTIONS):
            if decls[0] not in skip:
                f = click.option(*decls, expose_value=False,
                                 callback=store(key, flag_value), **kwargs)(f)
        return f
    return decorate


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="es-ltrr", prog_name="es-ltrr", message="%(prog)s %(version)s")
@settings_options()
@click.pass_context
def main(ctx: click.Context) -> None:
    """es-ltrr: learning to rank *and retrieve* for Elasticsearch/OpenSearch.

    Settings options (--cluster, --data-dir, ...) may stand before or after the command.
    """
    ctx.ensure_object(Ctx)


@main.command()
@settings_options()
@click.pass_obj
def index(obj: Ctx) -> None:
    """Index the catalog: into the embedded engine, or with --cluster into the cluster's alias.

    Catalog vectors are cached outside the data dir ($XDG_CACHE_HOME/es-ltrr, on Linux by
    default ~/.cache/es-ltrr; or ES_LTRR_CACHE_DIR), so re-indexing the same catalog is fast.
    """
    from .embedding import Encoder
    from .indexing import build_index

    from .engines import EngineError

    settings = obj.settings()
    if not settings.catalog.exists():
        _fail(f"catalog not found: {settings.catalog}")
    try:
        engine = build_index(settings, Encoder(cache_dir=settings.cache_dir) if settings.embed else None, _say)
    except (EngineError, ValueError) as exc:
        _fail(str(exc))
    click.echo(json.dumps(engine.health()))


def _searcher(obj: Ctx, settings: Settings | None = None):
    from .app import build_searcher
    from .datadir import DataDir
    from .engines import EngineError

    settings = settings or obj.settings()
    if not settings.catalog.exists() and not DataDir(settings.data_dir).exists():
        _fail(f"catalog not found: {settings.catalog}")
    try:
        return build_searcher(settings, say=_say)
    except (FileNotFoundError, ValueError, EngineError) as exc:
        _fail(str(exc))


@main.command()
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
@click.option("--no-ltr", is_flag=True, help="Skip the LTR feature store (rank in the sidecar instead).")
@settings_options()
@click.pass_obj
def apply(obj: Ctx, dry_run: bool, no_ltr: bool) -> None:
    """Create/upgrade the versioned index behind the alias, store arm templates and LTR featuresets."""
    from .apply import ApplyError, apply as apply_changes
    from .engines import EngineError
    from .engines.factory import cluster_engine
    from .ltr import default_featureset
    from .schema import MUSIC

    settings = obj.settings()
    try:
        engine = cluster_engine(settings)
        apply_changes(engine, MUSIC, [default_featureset()], ltr=not no_ltr, dry_run=dry_run, say=click.echo)
    except (ApplyError, EngineError, ValueError) as exc:
        _fail(str(exc))


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
        _fail(str(exc))
    response = search_response(_searcher(obj).search(request))
    if as_json:
        click.echo(json.dumps(response, ensure_ascii=False, indent=2))
    else:
        click.echo(format_table(response))


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
@click.option("--size", default=10, show_default=True, help="Candidates the arm draws.")
@click.option("--flavor", type=click.Choice(["embedded", "opensearch", "elasticsearch"]), default="opensearch", show_default=True)
@click.option("--short-vectors", is_flag=True, help="Abbreviate query vectors in the output (not what is sent).")
@settings_options(skip=("--flavor",))
@click.pass_obj
def render(obj: Ctx, arm: str, query: str, size: int, flavor: str, short_vectors: bool) -> None:
    from .arms import ArmInput
    from .understanding import understand

    if arm not in ARMS:
        _fail(f"unknown arm {arm!r}; arms: {', '.join(ARMS)}")
    try:
        query = parse_search_request({"query": query}).query
    except BadRequest as exc:
        _fail(str(exc))
    searcher = _searcher(obj)
    vector = searcher.encoder.encode_query(query) if ARMS[arm].needs_vector and searcher.encoder else None
    inp = ArmInput(query, understand(query, searcher.gazetteer), vector, 0, searcher.catalog)
    body = ARMS[arm].render(inp, size, flavor)
    if body is None:
        _fail(f"arm {arm!r} does not apply to {query!r} (no slots / no vector / empty key)")
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
@click.option("--port", default=8080, show_default=True)
@click.option("--threads", default=4, show_default=True, help="WSGI worker threads.")
@settings_options()
@click.pass_obj
def serve(obj: Ctx, host: str, port: int, threads: int) -> None:
    """Run the sidecar (POST /search, GET /healthz) on waitress."""
    from .server import create_app

    waitress = require("waitress", "server", "es-ltrr serve")
    searcher = _searcher(obj)
    searcher.warm()  # the first request must not pay the model load
    app = create_app(searcher)
    _say(f"serving on http://{host}:{port}")
    waitress.serve(app, host=host, port=port, threads=threads, ident="es-ltrr")


@main.command()
@click.option("--requests", "n_requests", default=300, show_default=True, help="Measured requests per scenario.")
@click.option("--concurrency", default=2, show_default=True, help="Client threads.")
@click.option("--seed", default=7, show_default=True, help="Seed of the query sample.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the results as JSON.")
@settings_options()
@click.pass_obj
def bench(obj: Ctx, n_requests: int, concurrency: int, seed: int, out: Path | None) -> None:
    """Latency per stage (p50/p99) and QPS of POST /search on 127.0.0.1, against a baseline."""
    from .bench import run_bench, sample_queries
    from .catalog import load_catalog

    require("waitress", "server", "es-ltrr bench")  # before the searcher: a first run indexes for minutes
    if not 1 <= n_requests <= 20000 or not 1 <= concurrency <= 16:
        _fail("--requests must be in 1..20000 and --concurrency in 1..16")
    searcher = _searcher(obj)
    queries = sample_queries(load_catalog(obj.settings().catalog), n_requests, seed)
    report = run_bench(searcher, queries, concurrency, say=_say)
    click.echo(report.table())
    if out:
        out.write_text(json.dumps(report.to_dict(), indent=2))


@main.command()
@click.option("--queries", "n_queries", default=200, show_default=True, help="Sampled catalog queries.")
@click.option("--k", default=10, show_default=True, help="Depth compared per arm.")
@click.option("--seed", default=11, show_default=True)
@settings_options()
@click.pass_obj
def parity(obj: Ctx, n_queries: int, k: int, seed: int) -> None:
    """Per-arm top-k overlap: embedded engine (DATA_DIR) vs the --cluster, same corpus."""
    from tqdm import tqdm

    from .bench import sample_queries
    from .catalog import load_catalog
    from .engines.factory import cluster_engine
    from .parity import measure, table

    settings = obj.settings()
    if not settings.cluster_url:
        _fail("parity compares the embedded index with a cluster: pass --cluster URL")
    other = cluster_engine(settings)
    # the searcher side runs on the embedded index in DATA_DIR
    searcher = _searcher(obj, replace(settings, cluster_url=None, flavor=None, ltr_model=None))
    queries = sample_queries(load_catalog(settings.catalog), n_queries, seed)
    with tqdm(total=len(queries), desc="parity", unit="query", mininterval=2.0, file=sys.stderr) as bar:
        results = measure(searcher, other, queries, k, progress=bar.update)
    click.echo(table(results, k, "embedded", f"{other.flavor} {settings.cluster_url}"))


@main.command("upload-model")
@click.argument("model_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="Model name on the node and in the data dir (default: <featureset>-<sha8 of MODEL_FILE>).")
@click.option("--activate", is_flag=True, help="Make it the active model: searches on this cluster rescore with sltr.")
@click.option("--json", "as_json", is_flag=True, help="Print {name, featureset, parity_max_abs_diff, active} as JSON.")
@settings_options()
@click.pass_obj
def upload_model(obj: Ctx, model_file: Path, name: str | None, activate: bool, as_json: bool) -> None:
    """Upload MODEL_FILE (Booster.save_model JSON over the featureset) to the cluster's LTR plugin.

    Checks the feature names, converts to model/xgboost+json, creates it under a versioned
    name, compares sltr with local XGBoost on features logged for a few catalog queries
    (max |diff| <= 1e-4, else the model is deleted again) and saves it in models/<name>/.
    """
    from .bench import sample_queries
    from .catalog import load_catalog
    from .datadir import DataDir
    from .engines import EngineError
    from .ltr import default_featureset
    from .ltr.plugin import LtrPlugin
    from .ltr.upload import ParityCase, UploadError, upload_model as upload

    settings = obj.settings()
    if not settings.cluster_url:
        _fail("upload-model stores the model in a cluster's LTR plugin: pass --cluster URL")
    searcher = _searcher(obj, replace(settings, ltr_model=None))
    data = DataDir(settings.data_dir)
    queries = [q[:200] for q in sample_queries(load_catalog(settings.catalog), 5, seed=11)]
    results = [searcher.search(parse_search_request({"query": q})) for q in queries]
    cases = [ParityCase.of(r.request.query, r.understanding, r.candidates) for r in results]
    try:
        done = upload(LtrPlugin(searcher.engine), model_file, default_featureset(), cases, data.model_dir, name)
        if activate:
            data.activate_model(done.name)
    except (UploadError, EngineError, ValueError) as exc:
        _fail(str(exc))
    report = {"name": done.name, "featureset": done.featureset, "parity_max_abs_diff": done.parity_max_abs_diff,
              "active": activate}
    if as_json:
        click.echo(json.dumps(report))
    else:
        click.echo(f"uploaded {done.name} (featureset {done.featureset}): sltr = XGBoost within "
                   f"{done.parity_max_abs_diff:.2g} over {done.documents} documents"
                   + ("; active" if activate else "") + ("" if done.created else "; it was already on the node"))


@main.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("mappings"), show_default=True)
@click.option("--check", is_flag=True, help="Exit 1 if the files differ from what the schema generates.")
def mappings(out: Path, check: bool) -> None:
    """Write mappings/<flavor>.json generated from the schema."""
    import tempfile

    from .schema import MUSIC, write_mappings

    if not check:
        for path in write_mappings(MUSIC, out):
            click.echo(str(path))
        return
    with tempfile.TemporaryDirectory() as tmp:
        stale = [p.name for p in write_mappings(MUSIC, Path(tmp)) if not (out / p.name).exists() or (out / p.name).read_text() != p.read_text()]
    if stale:
        _fail(f"stale mappings: {', '.join(stale)} (run `es-ltrr mappings`)")
    click.echo("mappings are up to date")


@main.group()
def node() -> None:
    """A local single-node OpenSearch (k-NN, LTR) or Elasticsearch (LTR) assembled from Maven artifacts;
    the LTR plugin is built from the vendored upstream source."""


def _node_config(home: Path | None, port: int | None, distribution: str = "opensearch", no_ltr: bool = False):
    """The dev node's config: the environment read once here, the options winning."""
    from .devnode import NodeConfig

    return NodeConfig.from_env(distribution=distribution, home=home, port=port, ltr=False if no_ltr else None)


_distribution_option = click.option(
    "--distribution", type=click.Choice(["opensearch", "elasticsearch"]), default="opensearch", show_default=True,
    help="elasticsearch: the integ-test zip on port 9201 with its own home (no mapper-extras/lang-mustache/"
         "analysis-common/reindex: none is on Maven Central for 8.x).")
_no_ltr_option = click.option(
    "--no-ltr", is_flag=True, help="Leave the LTR plugin out (it is otherwise built from ../shared/vendor "
                                   "or taken from ES_LTRR_LTR_ZIP / ES_LTRR_ES_LTR_ZIP).")


@node.command("start")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), help="Node home (downloads, distribution, data, logs).")
@click.option("--port", type=int, help="HTTP port on 127.0.0.1.")
@_distribution_option
@_no_ltr_option
def node_start(home: Path | None, port: int | None, distribution: str, no_ltr: bool) -> None:
    """Assemble (cached) and start the node; prints its URL as the last line."""
    from .devnode import NodeError, start

    try:
        url = start(_node_config(home, port, distribution, no_ltr), progress=_say)
    except NodeError as exc:
        _fail(str(exc))
    click.echo(url)


@node.command("assemble")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path))
@_distribution_option
@_no_ltr_option
def node_assemble(home: Path | None, distribution: str, no_ltr: bool) -> None:
    """Assemble (cached: modules, plugins, the LTR build) without starting; prints the distribution dir."""
    from .devnode import NodeError, assemble

    try:
        click.echo(str(assemble(_node_config(home, None, distribution, no_ltr), progress=_say)))
    except NodeError as exc:
        _fail(str(exc))


@node.command("stop")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path))
@click.option("--port", type=int)
@_distribution_option
def node_stop(home: Path | None, port: int | None, distribution: str) -> None:
    """Stop the node started by `es-ltrr node start`."""
    from .devnode import NodeError, stop

    try:
        stopped = stop(_node_config(home, port, distribution))
    except NodeError as exc:
        _fail(str(exc))
    click.echo("stopped" if stopped else "no node was running")


@node.command("status")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path))
@click.option("--port", type=int)
@_distribution_option
def node_status(home: Path | None, port: int | None, distribution: str) -> None:
    """Print the node's status as JSON."""
    from .devnode import status

    click.echo(json.dumps(status(_node_config(home, port, distribution)), indent=2))


if __name__ == "__main__":
    main()
