"""es-ltrr on a real 3-node OpenSearch cluster (issue 25; docs/cluster.md, "Several nodes").

The cluster is `es-ltrr node start --nodes 3` (k-NN and the LTR plugin on every node), started
once per run by scripts/test and named by ES_LTRR_TEST_MULTINODE (its URLs, comma-separated,
as `--cluster` takes them). One module holds every test of it, so the cluster's state is
built here in order: the small catalog in 3 shards with 1 replica and in 1 shard, an LTR
model uploaded through one node, then one node killed under load and brought back. The tests
that kill a node find the members' homes through the nodes' own settings (path.data) and the
`cluster.json` of `es-ltrr node start --nodes`, so they need the cluster to run on this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest

from es_ltrr.common.schema import MUSIC
from es_ltrr.common.settings import Settings
from es_ltrr.ops.apply import apply
from es_ltrr.ops.devnode import NodeConfig, cluster, lifecycle
from es_ltrr.ops.devnode.scratch import kill
from es_ltrr.ranking.ltr import LtrModel, PluginFeatureLogger, default_featureset
from es_ltrr.ranking.ltr.plugin import LtrPlugin
from es_ltrr.ranking.ltr.upload import PARITY_TOLERANCE, ParityCase, parity, upload_model
from es_ltrr.retrieval.engines.factory import cluster_engine
from es_ltrr.serving.contract import parse_search_request

from ..judgments import grade
from ..reports import report
from ..servers import free_port
from .conftest import delete_indices

pytestmark = pytest.mark.cluster

ENV = "ES_LTRR_TEST_MULTINODE"
TRAIN = ["ed sheeran", "the chainsmokers", "remix", "love", "summer", "dance", "i dont care", "party"]
PARITY_QUERIES = ["maroon 5", "justin bieber", "night", "tropical", "happy songs"]
LOAD_QUERIES = ["love", "ed sheeran", "dance pop", "memories", "summer", "remix", "party", "house"]
#: The sidecars' budgets in the kill test: arms 1 s (+1 s grace), other calls (sltr) 3 s.
ARM_BUDGET_MS, TIMEOUT_S = 1000, 3.0
#: A page is late at most twice the search deadline plus the rescoring call's timeout.
PAGE_BOUND_S = 2 * (ARM_BUDGET_MS / 1000 + 1.0) + TIMEOUT_S
SLACK_S = 3.0  # a loaded 2-core machine running three nodes and two sidecars (not a benchmark)
#: How long after a node's death a page may still be ranked by fusion: the cluster's fault
#: detection (a follower check fails 3 times, 10 s timeout each, before a hung node is
#: removed; a killed node's connections close at once): docs/cluster.md, "The LTR store on a cluster".
FALLBACK_WINDOW_S = 30.0


@dataclass
class Multinode:
    urls: list[str]
    members: list[NodeConfig]  # [] when the cluster does not run from this machine's homes

    @property
    def url(self) -> str:
        return ",".join(self.urls)

    def member(self, name: str) -> NodeConfig:
        found = [m for m in self.members if m.member and m.member.name == name]
        if not found:
            pytest.skip(f"node {name} is not a member started by `es-ltrr node start --nodes` on this machine")
        return found[0]


def _get(url: str, timeout: float = 10) -> dict | list:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def _green(settings: Settings, timeout_s: float, settled: bool = False) -> None:
    """Wait until the cluster is green (the clients take a `timeout` parameter as their own).

    `settled` also waits until no copy is initializing or relocating: green allows the
    rebalancer to move a started copy, which `_cat/shards` shows as RELOCATING."""
    wait = "&wait_for_no_relocating_shards=true&wait_for_no_initializing_shards=true" if settled else ""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for url in settings.cluster_url.split(","):  # the first that answers: one may be down
            try:
                left = max(int(deadline - time.monotonic()), 1)
                health = _get(f"{url}/_cluster/health?wait_for_status=green{wait}&timeout={left}s", timeout=left + 10)
            except OSError:
                continue
            if health["status"] == "green" and not health.get("timed_out"):
                return
        time.sleep(0.5)
    raise AssertionError(f"the cluster is not green after {timeout_s} s")


def _members(urls: list[str]) -> list[NodeConfig]:
    """The members' configs, from a node's path.data (<base>/cluster/node-<i>/data) and the
    base home's cluster.json; [] when that is not how the cluster was started."""
    try:
        nodes = _get(f"{urls[0]}/_nodes/settings")["nodes"].values()
        data = next(iter(nodes))["settings"]["path"]["data"]
        home = Path(data[0] if isinstance(data, list) else data).parent
        configs = cluster.recorded(NodeConfig.from_env(home=home.parent.parent))
    except (OSError, KeyError, StopIteration, ValueError):
        return []
    return configs if {c.url for c in configs} == set(urls) else []


@pytest.fixture(scope="module")
def multinode() -> Multinode:
    value = os.environ.get(ENV)
    if not value:
        if os.environ.get("ES_LTRR_REQUIRE_CLUSTER"):
            pytest.fail(f"ES_LTRR_REQUIRE_CLUSTER is set but {ENV} is not")
        pytest.skip(f"no multi-node cluster: run `es-ltrr node start --nodes 3` and set {ENV} to its URLs")
    urls = value.split(",")
    health = _get(f"{urls[0]}/_cluster/health")
    assert health["number_of_nodes"] >= 3, f"{ENV} names a cluster of {health['number_of_nodes']} node(s)"
    return Multinode(urls, _members(urls))


@pytest.fixture(scope="module")
def run_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def settings3(multinode, run_id, small_catalog, tmp_path_factory) -> Settings:
    return Settings.load(env={}, cluster_url=multinode.url, flavor="opensearch", index=f"es-ltrr-mn3-{run_id}",
                         catalog=small_catalog, data_dir=tmp_path_factory.mktemp("mn3"), embed=False)


@pytest.fixture(scope="module")
def indexed3(settings3):
    """The small catalog in 3 shards with 1 replica (apply, with the LTR store and featureset)."""
    from es_ltrr.retrieval.indexing import build_index

    engine = cluster_engine(settings3)
    said: list[str] = []
    apply(engine, MUSIC, [default_featureset()], ltr=True, say=said.append, shards=3, replicas=1)
    build_index(settings3, None, say=lambda _: None)
    _green(settings3, 60)
    yield engine, said
    delete_indices(engine, f"{settings3.index}-*")


@pytest.fixture(scope="module")
def indexed1(settings3, indexed3, tmp_path_factory):
    """The same documents in 1 shard (0 replicas), for parity."""
    from es_ltrr.retrieval.indexing import build_index

    settings1 = replace(settings3, index=settings3.index.replace("mn3", "mn1"), data_dir=tmp_path_factory.mktemp("mn1"))
    engine = cluster_engine(settings1)
    apply(engine, MUSIC, [], ltr=False, say=lambda _: None, shards=1, replicas=0)
    build_index(settings1, None, say=lambda _: None)
    yield settings1
    delete_indices(engine, f"{settings1.index}-*")


# -- the cluster ------------------------------------------------------------------------------------


def test_every_node_has_knn_and_ltr(multinode):
    rows = _get(f"{multinode.urls[0]}/_cat/plugins?format=json")
    nodes = {row["name"] for row in rows}
    assert len(nodes) == 3
    for name in nodes:
        assert {"opensearch-knn", "opensearch-ltr"} <= {r["component"] for r in rows if r["name"] == name}


def test_node_status_reports_every_member(multinode):
    if not multinode.members:
        pytest.skip("the cluster was not started by `es-ltrr node start --nodes` on this machine")
    base = multinode.members[0].member.dist_home
    done = subprocess.run([sys.executable, "-m", "es_ltrr.cli", "node", "status", "--nodes", "3", "--home", str(base)],
                          capture_output=True, text=True, timeout=60, check=True)
    status = json.loads(done.stdout)
    assert status["running"] is True and status["number_of_nodes"] == 3 and status["health"] in ("green", "yellow")
    assert status["urls"].split(",") == multinode.urls and all(n["pid"] for n in status["nodes"])


def test_requests_spread_over_every_node(settings3, multinode):
    """A fresh engine's requests open connections to every host (round robin)."""
    def opened() -> dict[str, int]:
        stats = _get(f"{multinode.urls[0]}/_nodes/stats/http")["nodes"].values()
        return {n["name"]: n["http"]["total_opened"] for n in stats}

    before = opened()
    engine = cluster_engine(settings3)
    for _ in range(12):
        engine.request("GET", "/_cluster/health")
    after = opened()
    assert all(after[name] > before[name] for name in before), (before, after)
    assert [h["alive"] for h in engine.hosts()] == [True, True, True]


# -- shards and replicas ------------------------------------------------------------------------------


def _copies(engine, index: str) -> list[dict]:
    return engine.request("GET", f"/_cat/shards/{index}", params={"format": "json"})


def test_apply_spreads_three_shards_and_their_replicas_over_the_nodes(indexed3, settings3):
    engine, said = indexed3
    assert any(line.startswith("create") and "3 shards, 1 replica" in line for line in said), said
    _green(settings3, 120, settled=True)  # replicas recover after the index is built; the rebalancer may move them
    rows = _copies(engine, settings3.index)
    assert sorted((r["shard"], r["prirep"]) for r in rows) == [(s, p) for s in "012" for p in "pr"]
    assert all(r["state"] == "STARTED" for r in rows)
    for shard in "012":
        assert len({r["node"] for r in rows if r["shard"] == shard}) == 2  # primary and replica apart
    assert len({r["node"] for r in rows}) == 3
    again = apply(engine, MUSIC, [default_featureset()], ltr=True, say=lambda _: None)  # no layout given: kept
    assert [c.action for c in again if c.target.startswith("index")] == ["unchanged"]
    assert "3 shards, 1 replica" in again[0].detail


def test_replicas_change_in_place(indexed3, settings3):
    engine, _ = indexed3
    changes = apply(engine, MUSIC, [], ltr=False, say=lambda _: None, replicas=2)
    assert [(c.action, c.detail) for c in changes if c.target.startswith("index")] == [
        ("unchanged", f"alias {settings3.index}; 3 shards, 1 replica"), ("replicas", "1 → 2 per shard")]
    _green(settings3, 60)
    assert len(_copies(engine, settings3.index)) == 9
    apply(engine, MUSIC, [], ltr=False, say=lambda _: None, replicas=1)
    assert len(_copies(engine, settings3.index)) == 6


def test_the_plan_shows_the_layout_from_the_settings_file(multinode, run_id, small_catalog, tmp_path):
    config = tmp_path / "es-ltrr.toml"
    config.write_text("shards = 3\nreplicas = 1\n")
    done = subprocess.run([sys.executable, "-m", "es_ltrr.cli", "--config", str(config), "--cluster", multinode.url,
                           "--index", f"es-ltrr-mnplan-{run_id}", "apply", "--dry-run", "--no-ltr"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "3 shards, 1 replica" in done.stdout.splitlines()[0], done.stdout


def _parity(settings, other: str, env: dict | None = None) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-m", "es_ltrr.cli", "--cluster", settings.cluster_url, "--flavor",
                           "opensearch", "--index", settings.index, "--catalog", str(settings.catalog),
                           "--data-dir", str(settings.data_dir), "--no-embed", "parity", "--queries", "40",
                           "--against-index", other], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()[3:]]
    return {row[0]: float(row[3]) for row in rows if len(row) >= 6}


def test_parity_between_one_and_three_shards(indexed1, settings3):
    """Per-arm top-10 overlap of the same documents in 1 shard and in 3: BM25's statistics are
    per shard, so the lexical arms differ a little; dfs_query_then_fetch scores them with the
    index's statistics and closes most of the gap. (explore is a seeded random order: per
    index, not comparable.)"""
    plain = _parity(indexed1, settings3.index)
    dfs = _parity(indexed1, settings3.index, {"ES_LTRR_SEARCH_TYPE": "dfs_query_then_fetch"})
    report("top-10 overlap, 1 shard vs 3 (parity --against-index, 40 queries, small catalog)",
           [f"query_then_fetch:     {plain}", f"dfs_query_then_fetch: {dfs}"])
    for arm in ("lexical", "popular", "structured", "q2e"):
        assert plain[arm] >= 0.8, (arm, plain)
        assert dfs[arm] >= 0.95, (arm, dfs)
    assert dfs["lexical"] >= plain["lexical"]


def test_bench_measures_one_node_and_every_node_with_the_same_queries(multinode, small_catalog, tmp_path,
                                                                      monkeypatch):
    """`bench --cluster URL1,URL2,URL3 --entities`: each size on 1 node and on 3 (3 shards, 1
    replica), with each node's heap and share of the index; the indices are gone afterwards."""
    from click.testing import CliRunner

    from es_ltrr.cli import main

    monkeypatch.setenv("ES_LTRR_CACHE_DIR", str(tmp_path / "cache"))
    run = CliRunner().invoke(main, ["--catalog", str(small_catalog), "--data-dir", str(tmp_path / "d"), "--no-embed",
                                    "--cluster", multinode.url, "bench", "--entities", "400", "--requests", "10",
                                    "--json"])
    assert run.exit_code == 0, run.output
    one, three = json.loads(run.stdout)["sizes"]
    assert (one["topology"], three["topology"]) == ("1 node", "3 nodes")
    for size in (one, three):
        assert size["entities"] == 400 and size["errors"] == 0 and size["qps"] > 0 and size["cluster_build_s"] > 0
        assert len(size["nodes"]) == 3 and all(n["heap_max_mb"] > 0 for n in size["nodes"])
    assert sum(n["index_mb"] > 0 for n in one["nodes"]) == 1  # kept on one node
    assert sum(n["index_mb"] > 0 for n in three["nodes"]) == 3
    assert not _get(f"{multinode.urls[0]}/_cat/indices/es-ltrr-scale-*?format=json")


# -- the LTR plugin on the cluster ---------------------------------------------------------------


def test_the_feature_store_has_a_copy_on_every_node(indexed3):
    engine, _ = indexed3
    rows = _copies(engine, ".ltrstore")
    assert len(rows) == 3 and len({r["node"] for r in rows}) == 3 and all(r["state"] == "STARTED" for r in rows)


def _one_host(settings: Settings, url: str):
    return cluster_engine(replace(settings, cluster_url=url))


@pytest.fixture(scope="module")
def searcher3(settings3, indexed3):
    from es_ltrr.serving.wiring import build_searcher

    return build_searcher(settings3, say=lambda _: None)


def _cases(searcher, queries) -> list[ParityCase]:
    results = [searcher.search(parse_search_request({"query": q, "k": 50})) for q in queries]
    return [ParityCase.of(r.request.query, r.understanding, r.candidates, r.vector, "opensearch") for r in results]


@pytest.fixture(scope="module")
def model(multinode, settings3, searcher3, run_id, tmp_path_factory):
    """An XGBoost ranker over the shipped featureset, trained on features logged through node
    0 and assessor grades, uploaded through node 0 only."""
    import xgboost as xgb

    fs = default_featureset()
    first = _one_host(settings3, multinode.urls[0])
    xs, ys, groups = [], [], []
    for query in TRAIN:
        result = searcher3.search(parse_search_request({"query": query, "k": 50}))
        case = ParityCase.of(query, result.understanding, result.candidates, None, "opensearch")
        xs.append(PluginFeatureLogger().log(first, fs, case.params, case.ids))
        ys.append([grade(query, c.source) for c in result.candidates])
        groups.append(len(case.ids))
    dtrain = xgb.DMatrix(np.vstack(xs), label=np.concatenate(ys), feature_names=fs.names)
    dtrain.set_group(groups)
    booster = xgb.train({"objective": "rank:ndcg", "max_depth": 3, "eta": 0.3, "seed": 1}, dtrain, 20)
    path = tmp_path_factory.mktemp("mn-model") / "ranker.json"
    booster.save_model(str(path))
    models = tmp_path_factory.mktemp("mn-models")
    done = upload_model(LtrPlugin(first), path, fs, _cases(searcher3, PARITY_QUERIES[:2]), lambda name: models / name,
                        name=f"es-ltrr-mn-{run_id}")
    yield done
    LtrPlugin(cluster_engine(settings3)).delete_model(done.name)


def test_a_model_uploaded_through_one_node_scores_through_another(multinode, settings3, searcher3, model):
    assert model.parity_max_abs_diff <= PARITY_TOLERANCE  # checked through node 0 on upload
    last = _one_host(settings3, multinode.urls[-1])
    local = LtrModel.load(model.directory, default_featureset())
    diff, documents = parity(LtrPlugin(last), local, _cases(searcher3, PARITY_QUERIES))
    report("LTR model uploaded through node 0, scored through another",
           [f"through {multinode.urls[-1]}: max |sltr - xgboost| = {diff:.3g} over {documents} documents "
            f"(on upload through {multinode.urls[0]}: {model.parity_max_abs_diff:.3g})"])
    assert documents > 100 and diff <= PARITY_TOLERANCE


def test_sltr_runs_on_every_shard(settings3, searcher3, model):
    """The rescore reaches each of the 3 shards (preference `_shards:<n>`), and every shard's
    documents get the model's score."""
    engine = cluster_engine(settings3)
    local = LtrModel.load(model.directory, default_featureset())
    case = _cases(searcher3, ["love"])[0]
    features = PluginFeatureLogger().log(engine, default_featureset(), case.params, case.ids)
    expected = dict(zip(case.ids, local.predict(features)))
    seen: set[str] = set()
    for shard in range(3):
        body = {"size": len(case.ids), "_source": False, "query": {"ids": {"values": list(case.ids)}},
                "rescore": {"window_size": len(case.ids), "query": {
                    "rescore_query": {"sltr": {"params": case.params, "model": model.name}},
                    "query_weight": 0.0, "rescore_query_weight": 1.0}}}
        hits = engine.request("POST", f"/{settings3.index}/_search", body,
                              params={"preference": f"_shards:{shard}"})["hits"]["hits"]
        assert hits, f"shard {shard} holds none of the {len(case.ids)} candidates"
        for hit in hits:
            assert abs(hit["_score"] - expected[hit["_id"]]) <= PARITY_TOLERANCE, (shard, hit)
        seen |= {hit["_id"] for hit in hits}
    assert seen == set(case.ids)


# -- a node killed under load ---------------------------------------------------------------------


def _post(url: str, body, timeout: float = 30) -> tuple[int, dict, dict]:
    """POST JSON: status, decoded body, headers (an HTTP error's too)."""
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


@dataclass
class Answer:
    sidecar: int
    at: float  # monotonic time the answer arrived
    status: int
    elapsed_s: float
    ranker: str | None
    partial: bool
    retry_after: str | None
    body: dict


class Sidecar:
    """`es-ltrr serve` on a free port, its output in a file (a pipe nobody reads would fill
    with the warnings of a node's loss and block the server), ready once /healthz answers."""

    def __init__(self, base: list[str], log: Path):
        self.url, self.log = f"http://127.0.0.1:{free_port()}", log
        with log.open("wb") as out:
            self.process = subprocess.Popen([*base, "serve", "--port", self.url.rsplit(":", 1)[1]],
                                            stdout=out, stderr=subprocess.STDOUT)
        _wait("the sidecar's /healthz", self._up, 120)

    def _up(self) -> bool:
        assert self.process.poll() is None, self.log.read_text()[-3000:]
        try:
            urllib.request.urlopen(f"{self.url}/healthz", timeout=2)
        except OSError:
            return False
        return True


@dataclass
class Traffic:
    """Searches and feedback through one sidecar until stopped."""

    index: int
    server: Sidecar
    run: str  # event ids are unique per run: ubi_events outlives it (another run's are pulled in)
    answers: list[Answer] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    feedback_errors: list[tuple[int, dict]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._search, daemon=True),
                   threading.Thread(target=self._feedback, daemon=True)]
        for thread in threads:
            thread.start()
        return threads

    def _search(self) -> None:
        i = 0
        while not self.stopping.is_set():
            t0 = time.monotonic()
            status, body, headers = _post(f"{self.server.url}/search", {"query": LOAD_QUERIES[i % len(LOAD_QUERIES)]})
            self.answers.append(Answer(self.index, time.monotonic(), status, time.monotonic() - t0, body.get("ranker"),
                                       bool(body.get("partial")), headers.get("Retry-After"), body))
            i += 1

    def _feedback(self) -> None:
        i = 0
        while not self.stopping.is_set():
            pages = [a.body for a in self.answers[-20:] if a.status == 200 and a.body.get("hits")]
            if not pages:
                time.sleep(0.05)
                continue
            page = pages[i % len(pages)]
            hit = page["hits"][i % len(page["hits"])]
            event = {"query_id": page["impression_id"], "action_name": "click",
                     "event_id": f"mn-{self.run}-{self.index}-{i}", "object_id": hit["id"]}
            status, body, _ = _post(f"{self.server.url}/feedback", event)
            if status == 200 and body["accepted"] == 1:
                self.acknowledged.append(event["event_id"])
            else:
                self.feedback_errors.append((status, body))
            i += 1
            time.sleep(0.02)


@dataclass
class Aftermath:
    killed: str
    roles: list[str]
    timeline: dict[str, float | None]
    answers: list[Answer]
    acknowledged: list[str]
    feedback_errors: list
    logged: list[set[str]]  # event keys in each sidecar's log
    in_ubi: set[str]
    pids_unchanged: bool
    healthz: list[int]
    fallbacks: list[str]  # the sidecars' "ranker ... failed, falling back" warnings: why a page was fused


def _wait(what: str, check, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"no {what} within {timeout_s} s")


class HealthWatch(threading.Thread):
    """`_cluster/health` every half second from the first host that answers: the cluster's
    side of the timeline (a node gone, red or yellow, back, green)."""

    def __init__(self, urls: list[str]):
        super().__init__(daemon=True)
        self.urls, self.seen = urls, []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.5):
            for url in self.urls:
                try:
                    health = _get(f"{url}/_cluster/health", timeout=2)
                except (OSError, ValueError):
                    continue
                self.seen.append((time.monotonic(), health["status"], health["number_of_nodes"]))
                break

    def first(self, check, after: float) -> float | None:
        return next((t - after for t, status, nodes in self.seen if t >= after and check(status, nodes)), None)


def _fused(answer: Answer) -> bool:
    """A page the sltr ranker could not rank (fusion instead: `rrf (fallback: sltr failed)`)."""
    return answer.status == 200 and (answer.ranker or "").startswith("rrf")


def _ubi_ids(engine, ids: list[str]) -> set[str]:
    engine.request("POST", "/ubi_events/_refresh")
    found: set[str] = set()
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        hits = engine.request("POST", "/ubi_events/_search", {"size": len(chunk), "_source": False,
                                                               "query": {"ids": {"values": chunk}}})["hits"]["hits"]
        found |= {h["_id"] for h in hits}
    return found


@pytest.fixture(scope="module")
def killed(multinode, settings3, searcher3, model, run_id, tmp_path_factory) -> Aftermath:
    """Two `es-ltrr serve` processes (their own data dirs; state shared through the UBI
    indices), both ranking with the model through sltr, searches and feedback flowing through
    each; the node holding the LTR store's primary is SIGKILLed, later started again. Returns
    every answer, what was acknowledged, what the logs and ubi_events hold, and the timeline."""
    engine = cluster_engine(settings3)
    store = [r for r in _copies(engine, ".ltrstore") if r["prirep"] == "p"][0]["node"]
    victim = multinode.member(store)
    nodes = engine.request("GET", "/_cat/nodes", params={"format": "json", "h": "name,node.role,cluster_manager"})
    roles = [n["node.role"] + ("*" if n["cluster_manager"] == "*" else "") for n in nodes if n["name"] == store]
    root = tmp_path_factory.mktemp("sidecars")
    config = root / "es-ltrr.toml"
    config.write_text(f"timeout_s = {TIMEOUT_S}\narm_timeout_ms = {ARM_BUDGET_MS}\n")
    servers = []
    for i in range(2):
        data = root / f"data-{i}"
        shutil.copytree(settings3.data_dir, data)
        base = [sys.executable, "-m", "es_ltrr.cli", "--config", str(config), "--cluster", multinode.url,
                "--flavor", "opensearch", "--index", settings3.index, "--catalog", str(settings3.catalog),
                "--data-dir", str(data), "--no-embed", "--ltr-model", model.name]
        servers.append(Sidecar(base, root / f"sidecar-{i}.log"))
    pids = [s.process.pid for s in servers]
    traffic = [Traffic(i, s, run_id) for i, s in enumerate(servers)]
    threads = [t for tr in traffic for t in tr.start()]
    timeline: dict[str, float | None] = {}
    watch = HealthWatch(multinode.urls)
    watch.start()
    try:
        _wait("sltr pages from both sidecars", lambda: all(
            sum(a.ranker == f"sltr:{model.name}" for a in tr.answers) >= 10 for tr in traffic), 120)
        t_kill = time.monotonic()
        assert kill(victim)
        timeline["killed"] = 0.0
        time.sleep(10)  # load on the two remaining nodes
        t_start = time.monotonic()
        lifecycle.start(victim, progress=lambda _: None, timeout_s=240)
        timeline["node started again"] = t_start - t_kill
        timeline["node answers"] = time.monotonic() - t_kill
        _green(settings3, 240)
        timeline["green again"] = time.monotonic() - t_kill
        time.sleep(5)  # and the whole cluster back under load
    finally:
        watch.stopping.set()
        for tr in traffic:
            tr.stopping.set()
        for thread in threads:
            thread.join(timeout=60)
    left = timeline["cluster: 2 nodes"] = watch.first(lambda status, nodes: nodes == 2, t_kill)
    timeline["cluster: red"] = watch.first(lambda status, nodes: status == "red", t_kill)
    timeline["cluster: yellow"] = watch.first(lambda status, nodes: status == "yellow", t_kill)
    back = watch.first(lambda status, nodes: nodes == 3, t_kill + left) if left is not None else None
    timeline["cluster: 3 nodes again"] = None if back is None else left + back
    acknowledged = [e for tr in traffic for e in tr.acknowledged]
    in_ubi = _wait("every acknowledged event in ubi_events",
                   lambda: (found := _ubi_ids(engine, acknowledged)) >= set(acknowledged) and found, 90)
    healthz = [urllib.request.urlopen(f"{s.url}/healthz", timeout=30).status for s in servers]
    unchanged = all(s.process.poll() is None for s in servers) and [s.process.pid for s in servers] == pids
    for server in servers:
        server.process.send_signal(signal.SIGINT)
    for server in servers:
        server.process.wait(timeout=60)
    fallbacks = [f"sidecar {i}: {line.strip()}" for i, s in enumerate(servers)
                 for line in s.log.read_text(errors="replace").splitlines() if "falling back" in line]
    logged = []
    for i in range(2):
        log = sqlite3.connect(root / f"data-{i}" / "logs" / "feedback.sqlite3")
        logged.append({row[0] for row in log.execute("SELECT event_key FROM events")})
        log.close()
    answers = sorted((a for tr in traffic for a in tr.answers), key=lambda a: a.at)
    bad = [a for a in answers if a.at > t_kill and (a.status != 200 or a.partial or _fused(a))]
    timeline["first error"] = bad[0].at - t_kill if bad else None
    timeline["last error"] = bad[-1].at - t_kill if bad else None
    for a in answers:
        a.at -= t_kill
    after = Aftermath(store, roles, timeline, answers, acknowledged, [e for tr in traffic for e in tr.feedback_errors],
                      logged, in_ubi, unchanged, healthz, fallbacks)
    (root / "timeline.json").write_text(json.dumps({"killed": store, "roles": roles, **timeline}, indent=1))
    report(f"kill-a-node timeline (tests/integration/test_multinode.py; {root / 'timeline.json'})",
           timeline_lines(after))
    return after


def timeline_lines(after: Aftermath) -> list[str]:
    """The timeline as a table (seconds after the kill, in order; "—": not seen), then what
    the searches and the feedback did."""
    from tabulate import tabulate

    events = sorted(after.timeline.items(), key=lambda kv: (kv[1] is None, kv[1] or 0.0))
    rows = [[name, "—" if at is None else f"{at:.1f}"] for name, at in events]
    since = [a for a in after.answers if a.at > 0]
    statuses = Counter(a.status for a in since)
    rankers = Counter(a.ranker for a in since)
    lost = len(set(after.acknowledged) - after.in_ubi)
    return [f"killed {after.killed} ({', '.join(after.roles)}), the node holding the LTR store's primary",
            *tabulate(rows, headers=["event", "s after the kill"], disable_numparse=True).splitlines(),
            f"searches: {len(after.answers)} ({len(since)} after the kill: statuses {dict(sorted(statuses.items()))}, "
            f"partial {sum(a.partial for a in since)}, fused {sum(_fused(a) for a in since)}, "
            f"503 with Retry-After {sum(a.status == 503 and bool(a.retry_after) for a in since)}); "
            f"rankers {dict(rankers)}; slowest {max(a.elapsed_s for a in after.answers):.2f} s",
            f"feedback: {len(after.acknowledged)} events acknowledged, {len(after.feedback_errors)} refused, "
            f"{len(after.acknowledged) - lost} in ubi_events ({lost} lost); sidecars restarted: "
            f"{'no' if after.pids_unchanged else 'YES'}, /healthz {after.healthz}",
            *(f"fused page: {line[:400]}" for line in after.fallbacks)]


def test_searches_answer_a_page_or_a_503_with_retry_after_within_the_bound(killed):
    statuses = {a.status for a in killed.answers}
    assert statuses <= {200, 503}, statuses
    assert sum(a.at > 0 for a in killed.answers) >= 20
    for a in killed.answers:
        if a.status == 503:
            assert a.retry_after and a.body["error"]["message"].startswith("search unavailable"), a.body
        else:
            assert a.body["hits"] or a.partial or a.body["no_match"], a.body  # an empty page is flagged
    assert max(a.elapsed_s for a in killed.answers) < PAGE_BOUND_S + SLACK_S, \
        sorted(a.elapsed_s for a in killed.answers)[-5:]


def test_sltr_keeps_ranking_after_the_stores_primary_dies(killed):
    """No page is ranked by fusion later than the failover window after the kill."""
    fused = [a for a in killed.answers if _fused(a)]
    assert all(0 <= a.at <= FALLBACK_WINDOW_S for a in fused), [(round(a.at, 1), a.ranker) for a in fused]
    late = [a for a in killed.answers if a.at > FALLBACK_WINDOW_S and a.status == 200 and a.body["hits"]]
    # ranked by the model: alone, or interleaved with fusion by the model's guard (5 % of pages)
    assert late and all(a.ranker.startswith(("sltr", "interleaved(sltr")) for a in late), {a.ranker for a in late}


def test_no_acknowledged_feedback_event_is_lost(killed, run_id):
    assert len(killed.acknowledged) >= 50 and not killed.feedback_errors, killed.feedback_errors[:3]
    for i, logged in enumerate(killed.logged):
        mine = {e for e in killed.acknowledged if e.startswith(f"mn-{run_id}-{i}-")}
        assert mine <= logged, f"sidecar {i}: {len(mine - logged)} acknowledged events not in its log"
    assert set(killed.acknowledged) <= killed.in_ubi
    # each sidecar also pulled the other's events from ubi_events (shared state)
    assert set(killed.acknowledged) <= killed.logged[0] | killed.logged[1]


def test_the_node_rejoins_and_the_cluster_is_green_without_a_sidecar_restart(killed, settings3):
    assert killed.pids_unchanged and killed.healthz == [200, 200]
    health = cluster_engine(settings3).request("GET", "/_cluster/health")
    assert health["status"] == "green" and health["number_of_nodes"] == 3
    assert killed.timeline["green again"] is not None
