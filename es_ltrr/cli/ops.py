"""es-ltrr commands that build and ship: index, apply, upload-model, mappings."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import click

from ..common.console import say
from ..serving.contract import parse_search_request
from .group import Ctx, fail, main, searcher_for, settings_options


@main.command()
@settings_options()
@click.pass_obj
def index(obj: Ctx) -> None:
    """Index the catalog: into the embedded engine, or with --cluster into the cluster's alias.

    Catalog vectors are cached outside the data dir ($XDG_CACHE_HOME/es-ltrr, on Linux by
    default ~/.cache/es-ltrr; or ES_LTRR_CACHE_DIR), so re-indexing the same catalog is fast.
    """
    from ..retrieval.embedding import Encoder
    from ..retrieval.engines import EngineError
    from ..retrieval.indexing import build_index

    settings = obj.settings()
    if not settings.catalog.exists():
        fail(f"catalog not found: {settings.catalog}")
    try:
        engine = build_index(settings, Encoder.for_settings(settings, say) if settings.embed else None, say)
    except (EngineError, ValueError) as exc:
        fail(str(exc))
    click.echo(json.dumps(engine.health()))


@main.command()
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
@click.option("--no-ltr", is_flag=True, help="Skip the LTR feature store (rank in the sidecar instead).")
@click.option("--shards", type=click.IntRange(1, 1024), help="Primary shards of the index (or `shards` in the "
              "settings; default: as the live index, a new one 1). A change reindexes into a new version.")
@click.option("--replicas", type=click.IntRange(0, 64), help="Copies of each shard on other nodes (or `replicas` "
              "in the settings; default: as the live index, a new one 0). Changed in place.")
@settings_options()
@click.pass_obj
def apply(obj: Ctx, dry_run: bool, no_ltr: bool, shards: int | None, replicas: int | None) -> None:
    """Create/upgrade the versioned index behind the alias, store arm templates and LTR featuresets."""
    from ..common.schema import MUSIC
    from ..ops.apply import ApplyError
    from ..ops.apply import apply as apply_changes
    from ..ranking.ltr import default_featureset
    from ..retrieval.engines import EngineError
    from ..retrieval.engines.factory import cluster_engine

    settings = obj.settings()
    try:
        engine = cluster_engine(settings)
        apply_changes(engine, MUSIC, [default_featureset()], ltr=not no_ltr, dry_run=dry_run, say=click.echo,
                      shards=settings.shards if shards is None else shards,
                      replicas=settings.replicas if replicas is None else replicas)
    except (ApplyError, EngineError, ValueError) as exc:
        fail(str(exc))


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
    A model the data dir already holds (same sha256, e.g. one `es-ltrr train` saved) keeps
    its name: uploaded once, never a second copy under another name.
    """
    from ..catalog import load_catalog
    from ..common.datadir import DataDir
    from ..ops.bench.latency import sample_queries
    from ..ranking.ltr import default_featureset
    from ..ranking.ltr.plugin import LtrPlugin
    from ..ranking.ltr.upload import ParityCase, UploadError
    from ..ranking.ltr.upload import upload_model as upload
    from ..retrieval.engines import EngineError

    settings = obj.settings()
    if not settings.cluster_url:
        fail("upload-model stores the model in a cluster's LTR plugin: pass --cluster URL")
    searcher = searcher_for(obj, replace(settings, ltr_model=None))
    data = DataDir(settings.data_dir)
    queries = [q[:200] for q in sample_queries(load_catalog(settings.catalog), 5, seed=11)]
    results = [searcher.search(parse_search_request({"query": q})) for q in queries]
    cases = [ParityCase.of(r.request.query, r.understanding, r.candidates, r.vector, searcher.engine.flavor,
                           searcher.engine.capabilities.memory) for r in results]
    before = set(data.model_names())
    try:
        done = upload(LtrPlugin(searcher.engine), model_file, default_featureset(), cases, data.model_dir, name,
                      stored=[data.model_dir(n) for n in sorted(before)])
        if activate:
            data.activate_model(done.name)
    except (UploadError, EngineError, ValueError) as exc:
        fail(str(exc))
    report = {"name": done.name, "featureset": done.featureset, "parity_max_abs_diff": done.parity_max_abs_diff,
              "active": activate, "created": done.created, "stored_before": done.name in before}
    if as_json:
        click.echo(json.dumps(report))
    else:
        click.echo(("the data dir held this model already: " if done.name in before else "")
                   + f"uploaded {done.name} (featureset {done.featureset}): sltr = XGBoost within "
                   f"{done.parity_max_abs_diff:.2g} over {done.documents} documents"
                   + ("; active" if activate else "") + ("" if done.created else "; it was already on the node"))


@main.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("mappings"), show_default=True,
              help="Directory the mapping files are written to (with --check: compared with).")
@click.option("--check", is_flag=True, help="Exit 1 if the files differ from what the schema generates.")
def mappings(out: Path, check: bool) -> None:
    """Write mappings/<flavor>.json generated from the schema."""
    import tempfile

    from ..common.schema import MUSIC, write_mappings

    if not check:
        for path in write_mappings(MUSIC, out):
            click.echo(str(path))
        return
    with tempfile.TemporaryDirectory() as tmp:
        stale = [p.name for p in write_mappings(MUSIC, Path(tmp)) if not (out / p.name).exists() or (out / p.name).read_text() != p.read_text()]
    if stale:
        fail(f"stale mappings: {', '.join(stale)} (run `es-ltrr mappings`)")
    click.echo("mappings are up to date")


@main.command()
@click.option("--queries", "n_queries", default=200, show_default=True, help="Sampled catalog queries.")
@click.option("--k", default=10, show_default=True, help="Depth compared per arm.")
@click.option("--seed", default=11, show_default=True, help="Seed of the sampled catalog queries.")
@click.option("--against-index", metavar="ALIAS", help="Compare the --cluster's --index with this alias (e.g. the "
              "same documents in 3 shards) instead of the embedded index.")
@click.option("--against-cluster", metavar="URL", help="With --against-index: the alias lives on this cluster "
              "(default: the --cluster).")
@settings_options()
@click.pass_obj
def parity(obj: Ctx, n_queries: int, k: int, seed: int, against_index: str | None,
           against_cluster: str | None) -> None:
    """Per-arm top-k overlap: embedded engine (DATA_DIR) vs the --cluster, same corpus; with
    --against-index, the --cluster's alias vs another alias (shards, replicas, search_type)."""
    from tqdm import tqdm

    from ..catalog import load_catalog
    from ..common.redact import redact_url
    from ..ops.bench.latency import sample_queries
    from ..ops.engine_parity import measure, table
    from ..retrieval.engines import EngineError
    from ..retrieval.engines.factory import cluster_engine

    settings = obj.settings()
    if not settings.cluster_url:
        fail("parity compares the embedded index with a cluster: pass --cluster URL")
    if against_cluster and not against_index:
        fail("--against-cluster names where --against-index lives: give --against-index too")
    right = replace(settings, index=against_index or settings.index,
                    cluster_url=against_cluster or settings.cluster_url)
    try:
        other = cluster_engine(right)
    except (EngineError, ValueError) as exc:
        fail(str(exc))
    if against_index:  # both sides on clusters: the searcher (understanding, vectors) on the --cluster
        searcher = searcher_for(obj, replace(settings, ltr_model=None))
        left = f"{searcher.engine.flavor} {redact_url(settings.cluster_url)} {settings.index}"
        right_label = f"{other.flavor} {redact_url(right.cluster_url)} {right.index}"
    else:  # the searcher side runs on the embedded index in DATA_DIR
        searcher = searcher_for(obj, replace(settings, cluster_url=None, flavor=None, ltr_model=None))
        left, right_label = "embedded", f"{other.flavor} {redact_url(settings.cluster_url)}"
    queries = sample_queries(load_catalog(settings.catalog), n_queries, seed)
    with tqdm(total=len(queries), desc="parity", unit="query", mininterval=2.0, file=sys.stderr) as bar:
        results = measure(searcher, other, queries, k, progress=bar.update)
    click.echo(table(results, k, left, right_label))
