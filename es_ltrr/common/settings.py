"""Settings, read once at the edge (CLI or app factory) from env vars and an optional TOML.

Precedence: explicit overrides (CLI flags) > environment (`ES_LTRR_*`) > TOML file
(`ES_LTRR_CONFIG` or `--config`) > defaults. The default data and cache dirs are the
platform's per-user dirs (`default_dirs`), never relative to the working directory. Nothing
deeper in the code reads the environment.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Collection, Mapping

import tomllib

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The shipped catalog, beside the repository (../shared); every command takes another path.
DEFAULT_CATALOG = REPO_ROOT.parent / "shared" / "data" / "spotify_songs" / "spotify_songs.csv.gz"

#: The directory name under the platform's data and cache dirs.
APP_DIR = "es-ltrr"


def default_dirs(env: Mapping[str, str], platform: str = sys.platform) -> dict[str, Path]:
    """The per-user `data_dir` and `cache_dir`: the same from every working directory.

    An absolute `XDG_DATA_HOME` / `XDG_CACHE_HOME` wins on any platform (the XDG spec says to
    ignore relative ones); otherwise ~/.local/share and ~/.cache (Linux, BSD),
    ~/Library/Application Support and ~/Library/Caches (macOS), %LOCALAPPDATA% (Windows).
    Written here rather than with platformdirs, which reads `os.environ` itself.

    >>> dirs = default_dirs({"HOME": "/home/ana", "XDG_CACHE_HOME": "/var/cache/ana"}, "linux")
    >>> str(dirs["data_dir"]), str(dirs["cache_dir"])
    ('/home/ana/.local/share/es-ltrr', '/var/cache/ana/es-ltrr')
    """
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    if platform == "win32":
        local = Path(env["LOCALAPPDATA"]) if env.get("LOCALAPPDATA") else home / "AppData" / "Local"
        data, cache = local / APP_DIR, local / APP_DIR / "Cache"
    elif platform == "darwin":
        data, cache = home / "Library" / "Application Support" / APP_DIR, home / "Library" / "Caches" / APP_DIR
    else:
        data, cache = home / ".local" / "share" / APP_DIR, home / ".cache" / APP_DIR
    return {"data_dir": _xdg(env, "XDG_DATA_HOME", data), "cache_dir": _xdg(env, "XDG_CACHE_HOME", cache)}


def _xdg(env: Mapping[str, str], name: str, fallback: Path) -> Path:
    value = env.get(name, "")
    return Path(value) / APP_DIR if value and Path(value).is_absolute() else fallback


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting; build with `Settings.load` (the dirs' defaults depend on the environment)."""

    catalog: Path = DEFAULT_CATALOG
    #: What es-ltrr builds and learns (docs/data-dir.md); default: `default_dirs`.
    data_dir: Path
    #: One URL, or several comma-separated (a cluster's hosts: the client spreads and fails over).
    cluster_url: str | None = None
    flavor: str | None = None
    index: str = "es-ltrr-entities"
    #: The index's primary shards and replicas for `es-ltrr apply`; None keeps what the live
    #: index has (a new one: 1 shard, 0 replicas). Shards fix the index version (a change
    #: reindexes behind the alias), replicas change in place.
    shards: int | None = None
    replicas: int | None = None
    #: `dfs_query_then_fetch` scores every arm with index-wide term statistics (one more round
    #: trip per search, docs/cluster.md); None: the node's default (`query_then_fetch`).
    search_type: str | None = None
    username: str | None = None
    #: Never shown: `repr(settings)` leaves it out, and URLs are printed through `redact`.
    password: str | None = field(default=None, repr=False)
    verify_certs: bool = True
    ca_certs: str | None = None
    #: A local LTR model directory (`models/<name>/`); default: the data dir's active model.
    model: Path | None = None
    #: Name of a model stored in the cluster's LTR plugin; when set, ranking is `sltr` rescoring.
    ltr_model: str | None = None
    timeout_s: float = 10.0
    #: Per-arm search budget sent with each msearch body; a slow arm answers partially.
    arm_timeout_ms: int = 1000
    #: HTTP connections kept open to the cluster per process; 0: sized by the command
    #: (`serve`: its threads plus one search's parallel requests, else one search's).
    cluster_connections: int = 0
    #: Arm-selection policy (`es_ltrr.retrieval.policy.POLICIES`): thompson serves the static allocation
    #: until its burn-in is over, then its learned choice.
    policy: str = "thompson"
    #: Hyper-parameters of the policy (constructor arguments: cost, budget, burn_in, ...).
    policy_options: dict[str, Any] = field(default_factory=dict)
    #: The page gain per search a learned policy may give up against the static allocation
    #: before it serves (`retrieval/policy/guard.py`; 0: it must be shown at least as good).
    guard_tolerance: float = 0.02
    #: Seconds between a search and the same session's next one for the Q2E memory to read the
    #: second as a reformulation of the first (`feedback/evidence.py`).
    reformulation_window_s: float = 180.0
    allocation: dict[str, int] = field(default_factory=dict)
    #: A model of the data dir tested online against the serving ranker by team-draft
    #: interleaving on `interleave_share` of searches (`es-ltrr models` shows the outcome).
    challenger_model: str | None = None
    interleave_share: float = 0.0
    #: While a model serves (and no challenger_model is set), the share of searches that
    #: interleave it with fusion: the evidence that rolls it back when fusion wins (0: never).
    model_guard_share: float = 0.05
    #: UBI action → weight of the engagement (`feedback.events.DEFAULT_WEIGHTS` when empty).
    action_weights: dict[str, float] = field(default_factory=dict)
    rrf_weights: dict[str, float] = field(default_factory=dict)
    embed: bool = True
    #: Bearer tokens (`es_ltrr.serving.access`): the value (ES_LTRR_ADMIN_TOKEN / ES_LTRR_API_TOKEN)
    #: or a file holding it; never shown by `repr`.
    admin_token: str | None = field(default=None, repr=False)
    admin_token_file: Path | None = None
    api_token: str | None = field(default=None, repr=False)
    api_token_file: Path | None = None
    #: Catalog vectors are cached here, outside the data dir, so fresh clones and CI reuse them.
    cache_dir: Path
    #: The Maven repository the embedding model comes from once (`retrieval/embedding_graph.py`;
    #: ES_LTRR_MAVEN_REPO, also what `es-ltrr node` downloads from).
    maven_repo: str = "https://repo1.maven.org/maven2"

    @classmethod
    def load(cls, config_file: Path | None = None, env: Mapping[str, str] | None = None, *,
             arms: Collection[str] = (), **overrides: Any) -> "Settings":
        """`arms`: the registered arm names (`retrieval.arms.ARMS`), against which the file's
        `[allocation]` and `[rrf_weights]` tables are checked (the settings know no arms of
        their own: they sit below the registry)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        path = config_file or (Path(env["ES_LTRR_CONFIG"]) if env.get("ES_LTRR_CONFIG") else None)
        if path:
            values.update(_read_toml(Path(path), arms))
        for f in fields(cls):
            key = f"ES_LTRR_{f.name.upper()}"
            if key in env and f.name not in ("allocation", "rrf_weights", "policy_options", "action_weights"):
                values[f.name] = env[key]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**{**default_dirs(env), **_coerce(values)})


def _read_toml(path: Path, arms: Collection[str] = ()) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read config {path}: {exc}") from exc
    known = {f.name for f in fields(Settings)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown settings in {path}: {', '.join(sorted(unknown))}")
    _check_toml_types(data, path)
    for key in ("allocation", "rrf_weights"):
        if not isinstance(data.get(key, {}), dict):
            raise ValueError(f"{path}: '{key}' must be a table of arm = value")
        unknown = [name for name in data.get(key, {}) if arms and name not in arms]
        if unknown:  # a misspelt arm must not silently vanish
            raise ValueError(f"unknown arm(s) in '{key}' of {path}: {', '.join(unknown)} (arms: {', '.join(arms)})")
    if not isinstance(data.get("policy_options", {}), dict):
        raise ValueError(f"{path}: 'policy_options' must be a table of name = value")
    weights = data.get("action_weights", {})
    if not isinstance(weights, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in weights.values()):
        raise ValueError(f"{path}: 'action_weights' must be a table of action = number")
    return data


def _toml_type(annotation: str) -> tuple[type, ...]:
    """The TOML value types a setting annotated `annotation` accepts."""
    annotation = annotation.removesuffix(" | None")
    if annotation.startswith("dict"):
        return (dict,)
    if annotation == "bool":
        return (bool,)
    if annotation == "int":
        return (int,)
    if annotation == "float":
        return (int, float)
    return (str,)  # str, Path and their optional forms


def _check_toml_types(data: dict[str, Any], path: Path) -> None:
    """A setting of the wrong type (`policy = 5`, `embed = "maybe"`) is an error naming it,
    not a value coerced into something else or a failure deep inside a command."""
    for f in fields(Settings):
        if f.name not in data:
            continue
        value, accepted = data[f.name], _toml_type(str(f.type))
        if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in accepted):
            kind = {"dict": "table", "bool": "boolean", "int": "integer", "float": "number", "str": "string"}[
                accepted[-1].__name__]
            raise ValueError(f"{path}: setting {f.name!r} must be a {kind}, got {type(value).__name__} {value!r:.40}")


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for key in ("catalog", "data_dir", "model", "cache_dir", "admin_token_file", "api_token_file"):
        if out.get(key) is not None:
            out[key] = Path(out[key]).expanduser()
    if isinstance(out.get("timeout_s"), str):
        out["timeout_s"] = float(out["timeout_s"])
    for key in ("arm_timeout_ms", "cluster_connections", "shards", "replicas"):
        if isinstance(out.get(key), str):
            try:
                out[key] = int(out[key])
            except ValueError:
                raise ValueError(f"setting {key!r} must be an integer, got {out[key]!r:.40}") from None
    for key in ("interleave_share", "guard_tolerance", "model_guard_share", "reformulation_window_s"):
        if isinstance(out.get(key), (str, int)) and not isinstance(out.get(key), bool):
            out[key] = float(out[key])
    for key in ("verify_certs", "embed"):
        if isinstance(out.get(key), str):
            out[key] = out[key].lower() not in ("0", "false", "no", "off")
    return out
