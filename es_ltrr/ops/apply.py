"""`es-ltrr apply`: bring a cluster to the state es-ltrr needs, idempotently.

1. check plugins/modules (k-NN on OpenSearch, the LTR plugin unless `ltr=False`) and read
   the cluster's `Capabilities`: without mapper-extras an Elasticsearch ≥ 8.11 stores the Q2E
   memory as `sparse_vector` (OpenSearch has no such type: an error), without analysis-common
   the analyzers are core-only;
2. a versioned index `<alias>-v<hash of settings+mappings>` behind the alias: unchanged if
   the alias already points at it; otherwise create it, `_reindex` from the old version (or,
   without the reindex module, a scroll + bulk copy through the sidecar) and
   swap the alias atomically (no downtime; the old index is kept for rollback). The shard
   count is part of the hash (it cannot change in place); the replica count is not (it is
   updated in place). Neither given: the live index's layout, or 1 shard and 0 replicas;
3. the arm templates as stored mustache scripts `<alias>-<arm>` (when lang-mustache exists);
4. the LTR feature store and the featuresets (`es_ltrr.ranking.ltr.featureset`).

`plan` computes the changes without making them (`--dry-run` prints it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable

from ..common.schema import Capabilities, Schema
from ..ranking.ltr import FeatureSet
from ..ranking.ltr.plugin import LtrPlugin
from ..retrieval.arms import ARMS
from ..retrieval.engines.cluster import ClusterEngine, ClusterError


class ApplyError(RuntimeError):
    """The cluster cannot be brought to the wanted state; the message says why and what to do."""


@dataclass(frozen=True)
class Layout:
    """An index's primary shards and replicas per shard.

    >>> str(Layout(3, 1)), str(Layout(1, 0))
    ('3 shards, 1 replica', '1 shard, 0 replicas')
    """

    shards: int = 1
    replicas: int = 0

    def __str__(self) -> str:
        return (f"{self.shards} shard{'' if self.shards == 1 else 's'}, "
                f"{self.replicas} replica{'' if self.replicas == 1 else 's'}")

    def check(self) -> "Layout":
        if not (isinstance(self.shards, int) and 1 <= self.shards <= 1024):
            raise ApplyError(f"shards must be an integer in 1..1024, not {self.shards!r}")
        if not (isinstance(self.replicas, int) and 0 <= self.replicas <= 64):
            raise ApplyError(f"replicas must be an integer in 0..64, not {self.replicas!r}")
        return self


@dataclass(frozen=True)
class Change:
    action: str  # create | reindex | swap-alias | store | unchanged | skip
    target: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.action:<11} {self.target}" + (f"  ({self.detail})" if self.detail else "")


def index_version(schema: Schema, flavor: str, shards: int = 1, capabilities: Capabilities = Capabilities()) -> str:
    """8 hex of the index body's hash: mappings, analysis and the shard count, not the replicas
    (which change in place; with 1 shard the version is the one before layouts existed). The
    capabilities are in the body (a module installed later gives a new version: reindexed)."""
    body = json.dumps(schema.index_body(flavor, shards, capabilities=capabilities), sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:8]


def live_layout(engine: ClusterEngine, index: str) -> Layout:
    """The shards and replicas `index` has on the cluster."""
    found = engine.request("GET", f"/{index}/_settings")
    settings = next(iter(found.values()))["settings"]["index"]
    return Layout(int(settings["number_of_shards"]), int(settings.get("number_of_replicas", 0)))


def wanted_layout(engine: ClusterEngine, current: str | None, shards: int | None, replicas: int | None) -> Layout:
    """The layout asked for, each count not given taken from the live index (or 1 and 0)."""
    live = live_layout(engine, current) if current and (shards is None or replicas is None) else Layout()
    return Layout(live.shards if shards is None else shards, live.replicas if replicas is None else replicas).check()


def installed_components(engine: ClusterEngine) -> set[str]:
    """Names of installed plugins and modules on every node (intersection)."""
    return engine.components()


def _ltr_installed(components: set[str]) -> bool:
    return bool(components & {"ltr", "opensearch-ltr", "opensearch-learning-to-rank", "elasticsearch-learning-to-rank"})


def check_plugins(engine: ClusterEngine, ltr: bool) -> set[str]:
    components = installed_components(engine)
    missing = []
    if engine.capabilities.memory is None:
        missing.append("mapper-extras (rank_features / rank_feature for the Q2E memory; only an "
                       "Elasticsearch ≥ 8.11 can store it without, as sparse_vector)")
    if engine.flavor == "opensearch" and "opensearch-knn" not in components:
        missing.append("opensearch-knn (knn_vector for the semantic arm)")
    if ltr and not _ltr_installed(components):
        missing.append("the LTR plugin (opensearch-ltr / o19s ltr) — or pass --no-ltr to rank in the sidecar")
    if missing:
        raise ApplyError("cluster lacks: " + "; ".join(missing))
    return components


def _alias_target(engine: ClusterEngine, alias: str) -> str | None:
    """The index the alias points at; ApplyError if `alias` is a concrete index."""
    try:
        found = engine.request("GET", f"/_alias/{alias}")
    except ClusterError as exc:
        if exc.status == 404 or "not_found" in str(exc) or "missing" in str(exc):
            found = {}
        else:
            raise
    if found:
        return sorted(found)[-1]
    if engine.request("HEAD", f"/{alias}") is True:
        raise ApplyError(
            f"{alias!r} exists as a concrete index, not an alias: es-ltrr manages versioned indices "
            f"behind an alias of that name. Reindex it into another name and delete it, or use --index."
        )
    return None


def _exists(engine: ClusterEngine, path: str) -> bool:
    return engine.request("HEAD", path) is True


def plan_index(engine: ClusterEngine, schema: Schema, shards: int | None = None,
               replicas: int | None = None) -> list[Change]:
    alias = engine.index_name
    current = _alias_target(engine, alias)
    layout = wanted_layout(engine, current, shards, replicas)
    capabilities = engine.capabilities
    target = f"{alias}-v{index_version(schema, engine.flavor, layout.shards, capabilities)}"
    if current == target:
        live = live_layout(engine, target)
        changes = [Change("unchanged", f"index {target}", f"alias {alias}; {live}")]
        if live.replicas != layout.replicas:
            changes.append(Change("replicas", f"index {target}", f"{live.replicas} → {layout.replicas} per shard"))
        return changes
    changes = [Change("create", f"index {target}",
                      "; ".join(["settings + mappings from schema", str(layout), *capabilities.gaps]))]
    if current:
        copy = "" if "reindex" in engine.components() else "no reindex module: copied by the sidecar (scroll + bulk)"
        changes.append(Change("reindex", f"{current} → {target}", copy))
    changes.append(Change("swap-alias", f"{alias} → {target}", f"was {current}" if current else "new alias"))
    return changes


def plan_templates(engine: ClusterEngine, components: set[str]) -> list[Change]:
    if "lang-mustache" not in components:
        return [Change("skip", "search templates", "lang-mustache is not installed; the sidecar renders templates")]
    changes = []
    for name, arm in ARMS.items():
        script_id = f"{engine.index_name}-{name}"  # per alias: deployments stay independent
        source = arm.template(engine.flavor)
        try:
            stored = engine.request("GET", f"/_scripts/{script_id}").get("script", {}).get("source")
        except ClusterError:
            stored = None
        changes.append(Change("unchanged" if stored == source else "store", f"script {script_id}"))
    return changes


def plan_ltr(engine: ClusterEngine, featuresets: list[FeatureSet], ltr: bool) -> list[Change]:
    if not ltr:
        return [Change("skip", "LTR feature store", "--no-ltr: features are logged and scored in the sidecar")]
    plugin = LtrPlugin(engine)
    changes = [Change("unchanged" if plugin.store_exists() else "create", "LTR feature store _ltr")]
    for fs in featuresets:
        action = "unchanged" if plugin.featureset_matches(fs) else "store"
        changes.append(Change(action, f"featureset {fs.name}", f"{len(fs.features)} features"))
    return changes


def plan(engine: ClusterEngine, schema: Schema, featuresets: list[FeatureSet], ltr: bool = True,
         shards: int | None = None, replicas: int | None = None) -> list[Change]:
    components = check_plugins(engine, ltr)
    return (plan_index(engine, schema, shards, replicas) + plan_templates(engine, components)
            + plan_ltr(engine, featuresets, ltr))


def apply(engine: ClusterEngine, schema: Schema, featuresets: list[FeatureSet], ltr: bool = True,
          dry_run: bool = False, say: Callable[[str], None] = print, shards: int | None = None,
          replicas: int | None = None) -> list[Change]:
    """Make the planned changes (or only print them when `dry_run`). `shards`/`replicas`: the
    index's layout (None: as the live index has it, or 1 shard and 0 replicas)."""
    changes = plan(engine, schema, featuresets, ltr, shards, replicas)
    for change in changes:
        say(("would " if dry_run and change.action not in ("unchanged", "skip") else "") + str(change))
    if dry_run:
        return changes
    _apply_index(engine, schema, changes, wanted_layout(engine, _alias_target(engine, engine.index_name),
                                                        shards, replicas))
    _apply_templates(engine, changes)
    _apply_ltr(engine, featuresets, changes)
    return changes


def _apply_index(engine: ClusterEngine, schema: Schema, changes: list[Change], layout: Layout) -> None:
    alias = engine.index_name
    capabilities = engine.capabilities
    target = f"{alias}-v{index_version(schema, engine.flavor, layout.shards, capabilities)}"
    for change in changes:
        if change.action == "replicas":
            engine.request("PUT", f"/{target}/_settings", {"index": {"number_of_replicas": layout.replicas}})
    actions = {c.action for c in changes if c.target.startswith(("index", alias)) or c.action == "reindex"}
    if "create" not in actions:
        return
    current = _alias_target(engine, alias)
    if current and _exists(engine, f"/{target}"):
        # an older copy of this version (e.g. a schema change rolled back): rebuild it from the
        # live documents — reindexing over it would keep documents deleted since and leave
        # every overwritten one counted in the term statistics (BM25 scores drift by ~2 %)
        engine.request("DELETE", f"/{target}")
    if not _exists(engine, f"/{target}"):
        engine.request("PUT", f"/{target}", schema.index_body(engine.flavor, layout.shards, layout.replicas,
                                                               capabilities))
    if current and any(c.action == "reindex" and c.detail for c in changes):
        copy_documents(engine, current, target)
    elif current:
        engine.request("POST", "/_reindex", {"source": {"index": current}, "dest": {"index": target}},
                       {"wait_for_completion": "true", "refresh": "true"})
    swap: list[dict[str, Any]] = [{"add": {"index": target, "alias": alias}}]
    if current:
        swap.insert(0, {"remove": {"index": current, "alias": alias}})
    engine.request("POST", "/_aliases", {"actions": swap})


def copy_documents(engine: ClusterEngine, source: str, target: str, batch: int = 500) -> int:
    """`_reindex` without the reindex module: scroll over `source` and bulk-index each page
    into `target` (same ids, same sources), then refresh; how many documents were copied."""
    page = engine.request("POST", f"/{source}/_search", {"size": batch, "sort": ["_doc"]}, {"scroll": "2m"})
    copied = 0
    try:
        while page["hits"]["hits"]:
            lines: list[str] = []
            for hit in page["hits"]["hits"]:
                lines.append(json.dumps({"index": {"_index": target, "_id": hit["_id"]}}))
                lines.append(json.dumps(hit["_source"]))
            result = engine.request("POST", "/_bulk", "\n".join(lines) + "\n")
            if result.get("errors"):
                failed = [item for item in result["items"] if item["index"].get("error")]
                raise ApplyError(f"copying {source} → {target} failed for {len(failed)} document(s), e.g. "
                                 f"{failed[0]['index']['_id']}: {failed[0]['index']['error']}")
            copied += len(page["hits"]["hits"])
            page = engine.request("POST", "/_search/scroll", {"scroll": "2m", "scroll_id": page["_scroll_id"]})
    finally:
        engine.request("DELETE", "/_search/scroll", {"scroll_id": [page["_scroll_id"]]})
    engine.request("POST", f"/{target}/_refresh")
    return copied


def _apply_templates(engine: ClusterEngine, changes: list[Change]) -> None:
    for change in changes:
        if change.action == "store" and change.target.startswith("script "):
            script_id = change.target.split(" ", 1)[1]
            arm = ARMS[script_id.removeprefix(f"{engine.index_name}-")]
            engine.request("PUT", f"/_scripts/{script_id}",
                           {"script": {"lang": "mustache", "source": arm.template(engine.flavor)}})


def apply_ltr(engine: ClusterEngine, featuresets: list[FeatureSet], dry_run: bool = False,
              say: Callable[[str], None] = print) -> list[Change]:
    """Only step 4: the feature store and the featuresets (a node whose index is managed elsewhere)."""
    changes = plan_ltr(engine, featuresets, ltr=True)
    for change in changes:
        say(("would " if dry_run and change.action != "unchanged" else "") + str(change))
    if not dry_run:
        _apply_ltr(engine, featuresets, changes)
    return changes


def _apply_ltr(engine: ClusterEngine, featuresets: list[FeatureSet], changes: list[Change]) -> None:
    plugin = LtrPlugin(engine)
    for change in changes:
        if change.target == "LTR feature store _ltr" and change.action == "create":
            plugin.create_store()
    by_name = {fs.name: fs for fs in featuresets}
    for change in changes:
        if change.action == "store" and change.target.startswith("featureset "):
            plugin.put_featureset(by_name[change.target.split(" ", 1)[1]])
