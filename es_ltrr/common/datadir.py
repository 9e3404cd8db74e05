"""The data dir (by default the platform's per-user data dir, e.g. ~/.local/share/es-ltrr,
see `config.default_dirs`): the one owner of what es-ltrr keeps on disk.

Every artifact's path and format version is decided here, and nowhere else::

    <data dir>/
      manifest.json          format version, schema digest, catalog digest, artifact versions
      index/                 the embedded engine's index (arrays + JSON meta, own format version)
      gazetteer.json.gz      query-understanding tables (versioned gzip'd JSON)
      catalog_stats.json     what counts as fresh / long tail in this catalog
      models/<name>/         an LTR model: model.json, metadata.json, metrics.json
      models/ACTIVE          the name of the model the sidecar ranks with (absent: fusion)
      models/HISTORY         the models active before, one per line (empty line: fusion), for rollback
      policy/<policy>.json   a policy's learned state (`Policy.state()`)
      policy/<policy>.<time>.json.bak   a state replaced by a reset (`POST /admin/policy/reset`)
      logs/feedback.sqlite3  the impression and event log (SQLite)

The manifest is written last when indexing, so an interrupted build leaves no manifest and
the next run rebuilds instead of serving half an index. Opening a data dir checks the
manifest: another format, another schema or another catalog is a clear error saying how to
rebuild. See docs/data-dir.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Protocol

from .analysis import ANALYSIS_VERSION

if TYPE_CHECKING:
    from .schema import Schema

#: Layout version of the data dir; bump when a path or the manifest's meaning changes.
FORMAT = 1
MANIFEST, INDEX, GAZETTEER, STATS = "manifest.json", "index", "gazetteer.json.gz", "catalog_stats.json"
MODELS, POLICY, LOGS, ACTIVE_MODEL, HISTORY = "models", "policy", "logs", "ACTIVE", "HISTORY"
FEEDBACK_LOG = "feedback.sqlite3"
REBUILD = "rebuild it with `es-ltrr index`"


class SavesItself(Protocol):
    """An artifact that writes its own file format (the gazetteer)."""

    def save(self, path: Path) -> None: ...


class DataDirError(ValueError):
    """The data dir cannot be used as it is; the message names the file and the fix."""


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes (the catalog's identity in the manifest)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def schema_digest(schema: Schema) -> str:
    """A short digest of the fields, their analysis and the tokenizer version: a change needs
    a re-index."""
    fields = [[f.name, f.kind, f.analyzer, f.normalizer, f.dims, [s.name for s in f.subfields]] for f in schema.fields]
    return hashlib.sha256(json.dumps([fields, ANALYSIS_VERSION]).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Manifest:
    format: int
    schema: str
    catalog_path: str
    catalog_sha256: str
    catalog_size: int
    catalog_mtime: float
    entities: int
    built_at: float

    @classmethod
    def read(cls, path: Path) -> "Manifest":
        try:
            data = json.loads(path.read_text())
            return cls(**{k: data[k] for k in cls.__dataclass_fields__})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataDirError(f"{path} is unreadable ({exc}): {REBUILD}") from exc


class DataDir:
    """Paths and checks of one data dir. Cheap to create; touches the disk only when asked."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    # -- paths ---------------------------------------------------------------------------

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    @property
    def index_dir(self) -> Path:
        return self.root / INDEX

    @property
    def gazetteer_path(self) -> Path:
        return self.root / GAZETTEER

    @property
    def stats_path(self) -> Path:
        return self.root / STATS

    @property
    def logs_dir(self) -> Path:
        return self.root / LOGS

    @property
    def feedback_log(self) -> Path:
        """The impression and event log (SQLite, `feedback.store.FeedbackStore`)."""
        return self.root / LOGS / FEEDBACK_LOG

    def model_dir(self, name: str) -> Path:
        if not name or "/" in name or name.startswith(".") or "\0" in name or len(name.encode("utf-8", "replace")) > 255:
            raise ValueError(f"invalid model name {name[:80]!r}")
        return self.root / MODELS / name

    def policy_state_path(self, policy: str) -> Path:
        return self.root / POLICY / f"{policy}.json"

    # -- the built index -----------------------------------------------------------------

    def exists(self) -> bool:
        """A finished build is here (its manifest was written)."""
        return self.manifest_path.is_file()

    def manifest(self) -> Manifest:
        return Manifest.read(self.manifest_path)

    def check(self, schema: Schema, catalog: Path | None = None) -> Manifest:
        """The manifest, if it matches this es-ltrr and `catalog`; else DataDirError."""
        m = self.manifest()
        if m.format != FORMAT:
            raise DataDirError(f"{self.manifest_path}: data dir format {m.format}, this es-ltrr uses {FORMAT}: {REBUILD}")
        if m.schema != schema_digest(schema):
            raise DataDirError(f"{self.manifest_path}: built with another schema: {REBUILD}")
        if catalog is not None and catalog.exists() and not _same_catalog(m, catalog):
            raise DataDirError(
                f"{self.root} was built from {m.catalog_path}, not {catalog} (contents differ): "
                f"{REBUILD}, or pass --catalog {m.catalog_path}"
            )
        return m

    def save_build(self, schema: Schema, catalog: Path, entities: int, gazetteer: SavesItself,
                   stats: Mapping[str, Any]) -> None:
        """Write the gazetteer and the catalog stats (`CatalogStats.to_dict()`), then the
        manifest (the commit point of a build)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.manifest_path.unlink(missing_ok=True)
        gazetteer.save(self.gazetteer_path)
        _write_json(self.stats_path, dict(stats))
        info = catalog.stat()
        manifest = Manifest(FORMAT, schema_digest(schema), str(catalog.resolve()), file_digest(catalog),
                            info.st_size, info.st_mtime, entities, time.time())
        _write_json(self.manifest_path, asdict(manifest))

    # -- models and policy state ---------------------------------------------------------

    def active_model(self) -> Path | None:
        """The directory of the active model, or None when the sidecar ranks by fusion."""
        marker = self.root / MODELS / ACTIVE_MODEL
        if not marker.is_file():
            return None
        path = self.model_dir(marker.read_text().strip())
        if not path.is_dir():
            raise DataDirError(f"{marker} names model {path.name!r}, but {path} does not exist")
        return path

    def activate_model(self, name: str) -> None:
        """Make `name` (an existing `models/<name>/`) the model the sidecar ranks with; the
        previous one is remembered in `models/HISTORY` for `rollback_model`."""
        if not self.model_dir(name).is_dir():
            raise DataDirError(f"no model {name!r} in {self.root / MODELS}")
        previous = self.active_model()
        history = self.root / MODELS / HISTORY
        lines = history.read_text().splitlines() if history.is_file() else []
        _write_text(history, "".join(f"{n}\n" for n in [*lines, previous.name if previous else ""]))
        _write_text(self.root / MODELS / ACTIVE_MODEL, name + "\n")

    def rollback_model(self) -> str | None:
        """Return to the model active before the last activation (None: back to fusion)."""
        history = self.root / MODELS / HISTORY
        lines = history.read_text().splitlines() if history.is_file() else []
        if not lines:
            raise DataDirError(f"nothing to roll back to: {history} is empty or missing")
        previous = lines.pop()
        _write_text(history, "".join(f"{n}\n" for n in lines))
        marker = self.root / MODELS / ACTIVE_MODEL
        if previous:
            _write_text(marker, previous + "\n")
        else:
            marker.unlink(missing_ok=True)
        return previous or None

    def save_policy_state(self, state: Mapping[str, Any]) -> Path:
        path = self.policy_state_path(str(state["policy"]))
        _write_json(path, dict(state))
        return path

    def backup_policy_state(self, policy: str) -> Path | None:
        """Copy a policy's saved state aside before it is replaced by a fresh one
        (`policy/<policy>.<UTC time>.json.bak`); None when it has no state yet."""
        path = self.policy_state_path(policy)
        if not path.is_file():
            return None
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        backup, n = path.with_name(f"{policy}.{stamp}.json.bak"), 1
        while backup.exists():  # two resets within a second keep both
            backup, n = path.with_name(f"{policy}.{stamp}-{n}.json.bak"), n + 1
        _write_text(backup, path.read_text())
        return backup

    def policy_state(self, policy: str) -> dict[str, Any] | None:
        """A policy's saved state, or None when it has none yet."""
        path = self.policy_state_path(policy)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except ValueError as exc:
            raise DataDirError(f"{path} is corrupt ({exc}): delete it to start the policy afresh") from exc


def _same_catalog(m: Manifest, catalog: Path) -> bool:
    """Cheap check first (path, size, mtime), the digest only when those differ."""
    info = catalog.stat()
    if str(catalog.resolve()) == m.catalog_path and info.st_size == m.catalog_size and info.st_mtime == m.catalog_mtime:
        return True
    return info.st_size == m.catalog_size and file_digest(catalog) == m.catalog_sha256


def _write_text(path: Path, text: str) -> None:
    """Atomically: a reader sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    _write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
