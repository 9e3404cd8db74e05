"""The catalog sizes `es-ltrr bench --entities` measures: each a resized catalog
(`catalog/expand.py`) indexed into its own embedded-engine data dir, cached under
`<cache dir>/scale/<size>-seed<seed>-<key>/` (key: es-ltrr's version, the expansion's, the
index format, the schema and the base catalog's digest), and for `--cluster` the same
documents in a uniquely named alias on the node, deleted afterwards. See docs/scale.md.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from tqdm import tqdm

from ... import __version__
from ...catalog import load_catalog
from ...catalog.expand import EXPANSION_VERSION, expand, type_counts
from ...catalog.stats import CatalogStats
from ...catalog.texts import embedding_texts
from ...common.datadir import DataDir, file_digest, schema_digest
from ...common.redact import redact_url
from ...common.schema import MUSIC
from ...common.settings import Settings
from ...retrieval.engines.embedded import EmbeddedEngine
from ...retrieval.engines.embedded.snapshot import FORMAT_VERSION

Say = Callable[[str], None]


@dataclass
class ScaledBuild:
    """A resized catalog indexed in its own data dir (`catalog` is its JSON-lines file)."""

    size: int
    seed: int
    data_dir: Path
    catalog: Path
    derived: int = 0
    types: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    reused: bool = False

    @property
    def build_s(self) -> float:
        return round(sum(self.seconds.values()), 1)


def scaled_dir(settings: Settings, size: int, seed: int) -> Path:
    """Where the build of (`size`, `seed`) lives; the key changes with anything it depends on."""
    parts = [__version__, EXPANSION_VERSION, FORMAT_VERSION, schema_digest(MUSIC),
             file_digest(settings.catalog), settings.embed]
    key = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]
    return settings.cache_dir / "scale" / f"{size}-seed{seed}-{key}"


INFO = "scale.json"


def build_scaled(settings: Settings, size: int, seed: int, say: Say = print) -> ScaledBuild:
    """The cached build of `size` entities, made first when missing (with progress)."""
    root = scaled_dir(settings, size, seed)
    data = DataDir(root)
    if (root / INFO).is_file() and data.exists():
        info = json.loads((root / INFO).read_text())
        say(f"scale {size:,}: reusing {root} (built in {sum(info['seconds'].values()):.0f} s)")
        return ScaledBuild(size, seed, root, Path(info["catalog"]), info["derived"], info["types"],
                           info["seconds"], reused=True)
    shutil.rmtree(root, ignore_errors=True)  # an interrupted build: start over
    root.mkdir(parents=True)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        seconds[step] = round(time.perf_counter() - clock, 2)
        clock = time.perf_counter()

    say(f"scale {size:,}: building {root}")
    entities, vectors = base_catalog(settings)
    lap("load")
    with tqdm(total=size, desc=f"expand to {size:,}", unit="entity", mininterval=2.0) as bar:
        grown = expand(entities, vectors, size, seed, progress=bar.update)
    del entities
    lap("expand")
    catalog = root / "catalog.jsonl.gz"
    write_jsonl(grown.entities, catalog)
    lap("write catalog")
    if grown.vectors is not None:
        for doc, vector in zip(grown.entities, grown.vectors):
            doc["embedding"] = vector
    engine = EmbeddedEngine()
    with tqdm(total=size, desc=f"index {size:,}", unit="doc", mininterval=2.0) as bar, \
            heartbeat(say, f"scale {size:,}: building the index's fields and kNN graph"):
        engine.index(grown.entities, progress=bar.update)
        engine.save(data.index_dir)
    del engine
    lap("index")
    from ...understanding import Gazetteer

    with heartbeat(say, f"scale {size:,}: gazetteer"):
        gazetteer = Gazetteer.from_entities(grown.entities)
        data.save_build(MUSIC, catalog, size, gazetteer, CatalogStats.of(grown.entities).to_dict())
    lap("gazetteer")
    build = ScaledBuild(size, seed, root, catalog, grown.derived, type_counts(grown.entities), seconds)
    (root / INFO).write_text(json.dumps({"catalog": str(catalog), "derived": build.derived, "types": build.types,
                                         "seconds": seconds, "size": size, "seed": seed}, indent=2))
    say(f"scale {size:,}: built in {build.build_s:.0f} s ({', '.join(f'{k} {v:.0f} s' for k, v in seconds.items())})")
    return build


@contextmanager
def heartbeat(say: Say, what: str, every_s: float = 30.0) -> Iterator[None]:
    """Say `what` now and every `every_s` seconds until the block ends (steps without a
    progress bar of their own: a million documents' fields take minutes)."""
    done = threading.Event()
    start = time.perf_counter()

    def beat() -> None:
        while not done.wait(every_s):
            say(f"{what}… {time.perf_counter() - start:.0f} s")

    say(what)
    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def base_catalog(settings: Settings) -> tuple[list[dict[str, Any]], np.ndarray | None]:
    """The configured catalog and its vectors (from the vector cache; missing ones embedded)."""
    entities = load_catalog(settings.catalog)
    if not settings.embed:
        return entities, None
    from ...retrieval.embedding import Encoder, embed_catalog

    texts = embedding_texts(entities)
    with tqdm(total=len(texts), desc="base vectors", unit="entity", mininterval=2.0) as bar:
        vectors = embed_catalog(Encoder.for_settings(settings), texts, settings.cache_dir, progress=bar.update)
    return entities, vectors


def write_jsonl(entities: list[dict[str, Any]], path: Path) -> None:
    """The catalog as JSON lines (gzip level 1: a million entities in seconds, not minutes)."""
    tmp = path.with_name(path.name + ".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=1) as out:
        for doc in tqdm(entities, desc="write catalog", unit="entity", mininterval=2.0):
            out.write(json.dumps(doc, ensure_ascii=False) + "\n")
    tmp.replace(path)


def dir_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 1)


def index_on_cluster(base: Settings, scaled: Settings, build: ScaledBuild, say: Say, shards: int = 1,
                     replicas: int = 0, pin: str | None = None) -> Any:
    """The build's entities (resized again from `base`'s catalog: deterministic, and cheap at
    the sizes a node run covers) with their vectors, in a new index behind `scaled.index` of
    `shards` primaries with `replicas` each (all kept on node `pin` when given); returns once
    every copy is started."""
    from ...retrieval.engines.factory import cluster_engine
    from ..apply import apply

    engine = cluster_engine(scaled)
    apply(engine, MUSIC, [], ltr=False, say=lambda _: None, shards=shards, replicas=replicas)
    if pin:
        engine.request("PUT", f"/{scaled.index}/_settings", {"index.routing.allocation.require._name": pin})
        _settled(engine, scaled.index)
    entities, vectors = base_catalog(base)
    grown = expand(entities, vectors, build.size, build.seed)
    if grown.vectors is not None:
        for doc, vector in zip(grown.entities, grown.vectors):
            doc["embedding"] = vector
    with tqdm(total=build.size, desc=f"{engine.flavor} index {build.size:,}", unit="doc", mininterval=2.0) as bar:
        engine.index(grown.entities, progress=bar.update)
    _settled(engine, scaled.index)
    say(f"scale {build.size:,}: indexed into {scaled.index} on {redact_url(scaled.cluster_url)} "
        f"({shards} shards, {replicas} replicas{f', on {pin}' if pin else ''})")
    return engine


def _settled(engine: Any, index: str, timeout_s: float = 600) -> None:
    """Wait until every copy of `index` is started where it belongs (none initializing or
    relocating): a replica still recovering would be measured as load."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = engine.request("GET", f"/_cat/shards/{index}", params={"format": "json", "h": "state"})
        if rows and all(row["state"] == "STARTED" for row in rows):
            return
        time.sleep(1)
    raise TimeoutError(f"{index}: shards not all started after {timeout_s:.0f} s")


def drop_from_cluster(engine: Any, say: Say) -> None:
    """Delete the alias's indices and stored templates (the node is shared)."""
    alias = engine.index_name
    rows = engine.request("GET", f"/_cat/indices/{alias}-v*", params={"format": "json", "h": "index"})
    names = [row["index"] for row in rows]
    if names:
        engine.request("DELETE", "/" + ",".join(names))
    from ...retrieval.arms import ARMS

    for name in ARMS:
        try:
            engine.request("DELETE", f"/_scripts/{alias}-{name}")
        except Exception:  # noqa: BLE001 - a template that was never stored
            pass
    say(f"deleted {', '.join(names) or 'nothing'} from the node")
