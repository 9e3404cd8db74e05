"""`es-ltrr bench --entities 10k,62k,250k,1m`: what each stage costs as the catalog grows.

For each size the catalog is resized (`catalog/expand.py`: a sample below the real catalog's
size, derived entities above it) and indexed into a data dir cached under the cache dir
(`scale_builds.py`), so a second run reuses it. Then
`bench.run_bench` (the same HTTP load as `es-ltrr bench`) runs on it, followed by the **bare
engine**: the same queries' msearch bodies sent straight to the engine, sequentially, with no
HTTP and no sidecar stage. From the HTTP run's per-request timings:

* **outside** = client time − retrieve − embed: everything the sidecar adds around the engine
  and the model (HTTP, understand, choose, render, union, rank, collapse, JSON);
* **overhead** = p50 HTTP − p50 bare engine (ms), and its ratio to the bare engine's p50.

Each size is built, then measured, in a fresh process, so one size's memory never counts in
the next one's: `rss_loaded_mb` is the RSS the searcher adds when loaded and warmed (index
arrays are memory-mapped: pages count once touched), `rss_after_mb` after the load test, and
`index_mb` the data dir's size on disk.

On a cluster of several hosts (`--cluster URL1,URL2,URL3`) every size is measured twice in the
same run, with the same queries (`topologies`): on **1 node** (1 shard, no replica, the shard
kept on the first host's node, the sidecar talking to that host only) and on **all nodes**
(`shards`, default one per data node, and `replicas`, default 1; the sidecar spreading over
every host). Each adds the index build time on the cluster (bulk + refresh) and, after the
load, every node's heap and the disk the index takes on it (`nodes`).
"""

from __future__ import annotations

import math
import multiprocessing
import re
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from tabulate import tabulate

from ...common.plots import pyplot, save
from ...common.settings import Settings
from .latency import STAGES, _pct, run_bench
from .scale_data import ScaledBuild, build_scaled, dir_mb, drop_from_cluster, index_on_cluster
from .soak import rss_mb

Say = Callable[[str], None]

#: Sizes a single-host `--cluster` run indexes at most: the shared test node (1 GB heap, 2 cores)
#: holds the real catalog (62k) comfortably; 250k+ documents with vectors would take it for
#: long minutes and crowd other users' indices, so larger sizes run on the embedded engine
#: only. A run given several hosts has no bound: that cluster is sized by whoever runs it.
CLUSTER_MAX_ENTITIES = 65_000
#: Stages of the per-size tables (the pipeline's laps, then the client's view).
SCALE_STAGES = (tuple(s for s in STAGES if s != "total")
                + ("after rank", "total", "http − total", "http", "engine (bare)", "outside"))
TARGET_P50_MS, TARGET_P99_MS = 5.0, 15.0
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([km]?)\s*$", re.IGNORECASE)


def parse_sizes(text: str) -> list[int]:
    """"10k,62k,250k,1m" → [10000, 62000, 250000, 1000000] (k = 1,000, m = 1,000,000).

    >>> parse_sizes("2k, 1.5k,1m")
    [2000, 1500, 1000000]
    """
    sizes = []
    for part in text.split(","):
        m = _SIZE.match(part)
        if not m:
            raise ValueError(f"--entities: {part.strip()!r} is not a size like 10k, 250k or 1m")
        size = int(float(m.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()])
        if not 1 <= size <= 5_000_000:
            raise ValueError(f"--entities: {part.strip()!r} must be between 1 and 5m")
        sizes.append(size)
    return sizes


# -- one size, measured in its own process -----------------------------------------------------


def index_mb(engine: Any, build: ScaledBuild) -> float:
    """The index's size: the data dir on disk, or on a cluster the alias's primary segments."""
    if engine.flavor == "embedded":
        return dir_mb(build.data_dir)
    rows = engine.request("GET", f"/_cat/segments/{engine.index_name}",
                          params={"format": "json", "bytes": "b", "h": "prirep,size"})
    return round(sum(int(r["size"]) for r in rows if r["prirep"] == "p") / 2**20, 1)


@dataclass(frozen=True)
class Topology:
    """Where one measurement runs on a cluster: the hosts the sidecar talks to and the index's
    layout; `pin` keeps every shard on that node (`index.routing.allocation.require._name`)."""

    label: str
    url: str
    shards: int
    replicas: int
    pin: str | None = None


def topologies(settings: Settings) -> list[Topology]:
    """One host: that cluster as it is (`shards`/`replicas` of the settings, default 1 and 0).
    Several: 1 node (the first host's) and every data node (one shard each, 1 replica)."""
    from ...retrieval.engines.clients import hosts_of
    from ...retrieval.engines.factory import cluster_engine

    hosts = hosts_of(settings.cluster_url or "")
    if len(hosts) == 1:
        return [Topology("", hosts[0], settings.shards or 1, settings.replicas or 0)]
    first = cluster_engine(replace(settings, cluster_url=hosts[0]))
    name = next(iter(first.request("GET", "/_nodes/_local")["nodes"].values()))["name"]
    data_nodes = first.request("GET", "/_cluster/health")["number_of_data_nodes"]
    return [Topology("1 node", hosts[0], 1, 0, pin=name),
            Topology(f"{data_nodes} nodes", settings.cluster_url or "", settings.shards or data_nodes,
                     1 if settings.replicas is None else settings.replicas)]


def node_figures(engine: Any) -> list[dict[str, Any]]:
    """Per node: heap used and max (MB) and the disk the alias's segments take there (MB,
    primaries and replicas; from `_cat/segments`, which is current where the store stats are
    cached for 10 s)."""
    stats = engine.request("GET", "/_nodes/stats/jvm")["nodes"]
    segments = engine.request("GET", f"/_cat/segments/{engine.index_name}",
                              params={"format": "json", "bytes": "b", "h": "id,size"})
    on_node: dict[str, float] = {}
    for row in segments:
        on_node[row["id"]] = on_node.get(row["id"], 0.0) + int(row["size"]) / 2**20
    return [{"node": n["name"], "heap_used_mb": round(n["jvm"]["mem"]["heap_used_in_bytes"] / 2**20),
             "heap_max_mb": round(n["jvm"]["mem"]["heap_max_in_bytes"] / 2**20),
             "index_mb": round(on_node.get(node_id, 0.0), 3)}
            for node_id, n in sorted(stats.items(), key=lambda item: item[1]["name"])]


def _rss() -> float:
    """This process's resident memory in MB (NaN where it cannot be read)."""
    return rss_mb() or math.nan


@dataclass
class SizeResult:
    """One size's figures (ms unless named otherwise)."""

    entities: int
    engine: str
    derived: int
    build_s: float
    reused: bool
    index_mb: float
    rss_loaded_mb: float
    rss_after_mb: float
    p50: dict[str, float]
    p99: dict[str, float]
    qps: float
    baseline_qps: float
    errors: int
    arms_p50: dict[str, float]
    #: On a cluster of several hosts: "1 node" or "<n> nodes" (`Topology.label`).
    topology: str = ""
    #: On a cluster: the bulk indexing and refresh of the size's documents (seconds).
    cluster_build_s: float | None = None
    #: On a cluster: `node_figures` after the load.
    nodes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.entities:,}" + (f" {self.topology}" if self.topology else "")

    @property
    def overhead_ms(self) -> float:
        return self.p50["http"] - self.p50["engine (bare)"]

    @property
    def overhead_ratio(self) -> float:
        engine = self.p50["engine (bare)"]
        return self.overhead_ms / engine if engine > 0 else float("nan")

    def meets_targets(self) -> bool:
        """Outside the engine and the embedding each: p50 ≤ 5 ms and p99 ≤ 15 ms."""
        return all(self.p50[s] <= TARGET_P50_MS and self.p99[s] <= TARGET_P99_MS for s in ("outside", "embed"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"overhead_ms": self.overhead_ms, "overhead_ratio": self.overhead_ratio,
                               "meets_targets": self.meets_targets()}


def bare_engine_ms(searcher: Any, queries: list[str]) -> list[float]:
    """Each query's msearch bodies (every chosen arm) sent straight to the engine, timed alone."""
    rendered = [list(searcher.arm_bodies(q).values()) for q in queries]  # embed first (see arm_costs)
    times = []
    for bodies in rendered:
        start = time.perf_counter()
        searcher.engine.msearch(bodies)
        times.append((time.perf_counter() - start) * 1000)
    return times


def outside_parts(client_ms: list[float], stages: dict[str, list[float]]) -> dict[str, list[float]]:
    """Per request (lists in response order): `outside` = HTTP − retrieve − embed, and two of
    its parts the laps do not name — `after rank` (total − every lap: collapse, page
    confidence, the record) and `http − total` (HTTP, JSON, WSGI, the client)."""
    laps = [s for s in stages if s != "total"]
    rows = range(len(client_ms))
    return {
        "after rank": [stages["total"][i] - sum(stages[s][i] for s in laps) for i in rows],
        "http − total": [client_ms[i] - stages["total"][i] for i in rows],
        "outside": [client_ms[i] - stages["retrieve"][i] - stages.get("embed", [0.0] * len(client_ms))[i]
                    for i in rows],
    }


def measure(settings: Settings, build: ScaledBuild, queries: list[str], concurrency: int,
            say: Say = print) -> SizeResult:
    """The HTTP load, the bare engine and memory on one build (call it in a fresh process)."""
    from ...serving.wiring import build_searcher

    rss0 = _rss()
    searcher = build_searcher(settings, say=say, auto_index=False)
    searcher.warm()
    rss_loaded = _rss() - rss0
    # the bare engine before and after the HTTP load: on a shared machine the load drifts, and
    # a comparison "in the same run" should not depend on which came first
    say(f"scale {build.size:,}: bare engine, {len(queries)} queries")
    engine_ms = bare_engine_ms(searcher, queries)
    if searcher.encoder is not None:
        searcher.encoder.clear_cache()  # the HTTP run embeds its queries as a first run would
    report = run_bench(searcher, queries, concurrency, say=say)
    say(f"scale {build.size:,}: bare engine again")
    engine_ms += bare_engine_ms(searcher, queries)
    rss_after = _rss() - rss0
    base, full = report.scenarios
    per_stage = {s: v for s, v in full.stages.items()} | {"http": full.client_ms, "engine (bare)": engine_ms}
    per_stage.update(outside_parts(full.client_ms, full.stages))
    return SizeResult(
        entities=build.size, engine=searcher.engine.flavor, derived=build.derived, build_s=build.build_s,
        reused=build.reused, index_mb=index_mb(searcher.engine, build), rss_loaded_mb=round(rss_loaded, 1),
        rss_after_mb=round(rss_after, 1),
        p50={s: _pct(v, 50) for s, v in per_stage.items()}, p99={s: _pct(v, 99) for s, v in per_stage.items()},
        qps=full.qps(), baseline_qps=base.qps(), errors=full.errors + base.errors,
        arms_p50={a.arm: _pct(a.wall_ms, 50) for a in report.arms},
    )


def run_size(settings: Settings, size: int, seed: int, queries: list[str], concurrency: int,
             topology: Topology | None = None) -> dict[str, Any]:
    """Build (or reuse) one size and measure it, on `topology` of the cluster when given; both
    in this process (see `run_scale`)."""
    from ...common.console import say
    from ...retrieval.engines.factory import cluster_engine

    build = build_scaled(replace(settings, cluster_url=None), size, seed, say)
    scaled = replace(settings, data_dir=build.data_dir, catalog=build.catalog, policy="static",
                     model=None, challenger_model=None)
    if topology is None:
        return measure(replace(scaled, cluster_url=None), build, queries, concurrency, say).to_dict()
    alias = f"es-ltrr-scale-{size}-{uuid.uuid4().hex[:8]}"
    scaled = replace(scaled, index=alias, cluster_url=topology.url)
    try:
        start = time.perf_counter()
        engine = index_on_cluster(settings, scaled, build, say, topology.shards, topology.replicas, topology.pin)
        build_s = round(time.perf_counter() - start, 1)
    except BaseException:
        drop_from_cluster(cluster_engine(scaled), say)
        raise
    try:
        result = measure(scaled, build, queries, concurrency, say)
        result.topology, result.cluster_build_s, result.nodes = topology.label, build_s, node_figures(engine)
        return result.to_dict()
    finally:
        drop_from_cluster(engine, say)


def _in_child(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)` in a fresh spawned process (its memory is its own and freed after)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


# -- the report ---------------------------------------------------------------------------------


@dataclass
class ScaleReport:
    results: list[SizeResult]
    n_requests: int
    concurrency: int

    def table(self) -> str:
        sizes = [r.label for r in self.results]
        rows = [[stage, *(f"{r.p50.get(stage, math.nan):.2f} / {r.p99.get(stage, math.nan):.2f}" for r in self.results),
                 f"{self.slope(stage):.2f}"] for stage in SCALE_STAGES]
        stages = tabulate(rows, headers=["stage (p50 / p99 ms)", *sizes, "slope"], disable_numparse=True)
        summary = [
            ["engine", *(r.engine for r in self.results)],
            ["derived entities", *(f"{r.derived:,}" for r in self.results)],
            ["QPS all arms (lexical only)", *(f"{r.qps:.1f} ({r.baseline_qps:.1f})" for r in self.results)],
            ["errors", *(r.errors for r in self.results)],
            ["overhead p50 ms (ratio)", *(f"{r.overhead_ms:.2f} ({r.overhead_ratio:.2f}×)" for r in self.results)],
            ["outside+embed ≤ 5/15 ms", *("yes" if r.meets_targets() else "NO" for r in self.results)],
            ["build s (reused)", *(f"{r.build_s:.0f}{' (reused)' if r.reused else ''}" for r in self.results)],
            ["index on disk MB", *(f"{r.index_mb:,.0f}" for r in self.results)],
            ["sidecar RSS loaded / after MB", *(f"{r.rss_loaded_mb:,.0f} / {r.rss_after_mb:,.0f}" for r in self.results)],
        ]
        if any(r.nodes for r in self.results):
            summary += [
                ["cluster index build s", *(f"{r.cluster_build_s:.0f}" if r.cluster_build_s is not None else ""
                                            for r in self.results)],
                ["heap used / max MB per node", *(", ".join(f"{n['heap_used_mb']}/{n['heap_max_mb']}" for n in r.nodes)
                                                  for r in self.results)],
                ["index MB per node", *(", ".join(f"{n['index_mb']:,.1f}" for n in r.nodes) for r in self.results)],
            ]
        arms = sorted({a for r in self.results for a in r.arms_p50})
        arm_rows = [[f"{a} alone p50", *(f"{r.arms_p50.get(a, math.nan):.2f}" for r in self.results)] for a in arms]
        more = tabulate(summary + arm_rows, headers=["entities", *sizes], disable_numparse=True)
        nodes = self.results[-1].nodes
        if nodes:
            more += f"\n(per node: {', '.join(n['node'] for n in nodes)}; index MB: primaries and replicas there)"
        return (f"{stages}\n\n{more}\n({self.n_requests} requests per scenario, concurrency {self.concurrency}, "
                "127.0.0.1; outside = HTTP − retrieve − embed per request; overhead = p50 HTTP − p50 bare engine; "
                "slope = log-log growth of p50 from the first size to the last, 1 = linear)")

    def slope(self, stage: str) -> float:
        """How the stage's p50 grows: the log-log slope from the smallest size to the largest
        (0: flat, 1: linear in the entities; with several topologies, the last one's); NaN with
        one size or a zero time."""
        same = [r for r in self.results if r.topology == self.results[-1].topology]
        first, last = same[0], same[-1]
        a, b = first.p50.get(stage, math.nan), last.p50.get(stage, math.nan)
        if last.entities == first.entities or not (a > 0 and b > 0):
            return math.nan
        return math.log(b / a) / math.log(last.entities / first.entities)

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.n_requests, "concurrency": self.concurrency,
                "sizes": [r.to_dict() for r in self.results],
                "slopes": {stage: self.slope(stage) for stage in SCALE_STAGES}}

    def plot(self, out_dir: Path) -> Path:
        """Log-log p50 per stage against entities (`scale-stages.png`)."""
        plt = pyplot("es-ltrr bench --plots")
        sizes = [r.entities for r in self.results]
        fig, ax = plt.subplots(figsize=(8.5, 4.5))
        colors = plt.get_cmap("tab20").colors
        for i, stage in enumerate(SCALE_STAGES):
            values = [r.p50.get(stage, math.nan) for r in self.results]
            if all(v > 0 for v in values if not math.isnan(v)) and any(v > 0 for v in values):
                ax.plot(sizes, values, marker="os^Dv"[i % 5], color=colors[(2 * i) % 20 + (i >= 10)],
                        linestyle="-" if stage in STAGES else "--", label=stage)
        ax.set_xscale("log"), ax.set_yscale("log")
        ax.set_xlabel("entities"), ax.set_ylabel("p50 ms")
        ax.set_title(f"es-ltrr stage cost vs catalog size ({self.results[0].engine})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return save(fig, out_dir / "scale-stages.png")


def run_scale(settings: Settings, sizes: list[int], seed: int, queries: list[str], concurrency: int,
              say: Say = print) -> ScaleReport:
    """Every size, smallest first, each built and measured in a fresh process (on a cluster of
    several hosts: on each of its `topologies`, the same queries)."""
    layouts: list[Topology | None] = topologies(settings) if settings.cluster_url else [None]
    results = []
    for size in sorted(sizes):
        if layouts[0] is not None and len(layouts) == 1 and size > CLUSTER_MAX_ENTITIES:
            say(f"scale {size:,}: skipped on the node (more than {CLUSTER_MAX_ENTITIES:,} entities, see docs/scale.md)")
            continue
        for topology in layouts:
            if topology is not None and topology.label:
                say(f"scale {size:,}: on {topology.label} ({topology.shards} shards, {topology.replicas} replicas)")
            data = _in_child(run_size, settings, size, seed, queries, concurrency, topology)
            results.append(_result(data))
    return ScaleReport(results, len(queries), concurrency)


def _result(data: dict[str, Any]) -> SizeResult:
    names = {f for f in SizeResult.__dataclass_fields__}
    return SizeResult(**{k: v for k, v in data.items() if k in names})
