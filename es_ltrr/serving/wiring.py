"""Wiring: Settings → engine, gazetteer, encoder, policy, ranker → a `Searcher`.

The one place that decides which implementations run; the CLI and the Flask factory both
call `build_searcher`, so they can never disagree about configuration.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Mapping

from ..catalog import load_catalog
from ..catalog.stats import CatalogStats
from ..common.datadir import DataDir
from ..common.schema import MUSIC
from ..common.settings import Settings
from ..ranking import PluginRanker, Ranker, RRFRanker, XGBoostRanker
from ..ranking.ltr import LtrModel, default_featureset, feature_logger
from ..ranking.ltr.model import FeatureMismatch
from ..ranking.ltr.plugin import LtrPlugin
from ..retrieval.embedding import Encoder
from ..retrieval.engines.base import Engine
from ..retrieval.engines.factory import make_engine
from ..retrieval.indexing import build_index, index_exists
from ..retrieval.policy import POLICIES, Policy, StaticPolicy
from ..search.pipeline import Searcher
from ..understanding import Gazetteer

log = logging.getLogger(__name__)


def build_searcher(settings: Settings, say: Callable[[str], None] = print, auto_index: bool = True) -> Searcher:
    """A ready Searcher.

    On the embedded engine a missing index is built first (when `auto_index`), and one loaded
    from disk gets the feedback log's Q2E memory back (`restore_memory`); a cluster is never
    indexed implicitly — `es-ltrr apply` and `es-ltrr index` do that explicitly.
    """
    encoder = Encoder.for_settings(settings, say) if settings.embed else None
    data = DataDir(settings.data_dir)
    if not index_exists(settings):
        if settings.cluster_url or not auto_index:
            raise FileNotFoundError(
                f"no index/gazetteer in {settings.data_dir}: run `es-ltrr "
                + ("--cluster URL apply` and `es-ltrr --cluster URL " if settings.cluster_url else "")
                + "index` first"
            )
        say(f"no index in {settings.data_dir}; indexing {settings.catalog} first")
        engine = build_index(settings, encoder, say)
    else:
        data.check(MUSIC, settings.catalog)
        engine = make_engine(settings)
        if not settings.cluster_url:
            restore_memory(settings, engine, say)
    fusion = RRFRanker(settings.rrf_weights)
    ranker = ranker_for(settings, data, engine, fusion)
    challenger, share = challenger_for(settings, data, engine, ranker, fusion, guard=False)
    return Searcher(
        engine=engine,
        gazetteer=Gazetteer.load(data.gazetteer_path),
        policy=_policy(settings, data),
        encoder=encoder,
        ranker=ranker,
        fallback=fusion,
        challenger=challenger,
        interleave_share=share,
        catalog=CatalogStats.load(data.stats_path),
        flavor=engine.flavor,
        memory=engine.capabilities.memory,
    )


def restore_memory(settings: Settings, engine: Engine, say: Callable[[str], None] = print) -> int:
    """The Q2E memory the data dir's feedback log taught, written into an embedded index loaded
    from disk (a cluster's index keeps it; the embedded one is rebuilt from the catalog): so a
    restarted server, `evaluate` and `train` see the memory the serving process had."""
    from ..feedback import FeedbackStore, Q2EMemory
    from ..feedback.evidence import MemoryRules

    log = DataDir(settings.data_dir).feedback_log
    if not log.is_file():
        return 0
    store = FeedbackStore(log)
    try:
        written = Q2EMemory(engine, store, rules=MemoryRules(window_s=settings.reformulation_window_s)).restore()
    finally:
        store.close()
    if written:
        say(f"Q2E memory: {written:,} entities' values restored from {log}")
    return written


def query_tables(settings: Settings, say: Callable[[str], None] = print) -> tuple[Gazetteer, CatalogStats]:
    """The gazetteer and catalog stats a query is understood and rendered with — read from the
    data dir's build, or, when it has none, built in memory from the catalog. Writes nothing
    (`es-ltrr render`: printing a body must not index into a data dir a server may be using)."""
    data = DataDir(settings.data_dir)
    if data.exists():
        data.check(MUSIC, settings.catalog)
        return Gazetteer.load(data.gazetteer_path), CatalogStats.load(data.stats_path)
    say(f"no build in {settings.data_dir}: understanding queries with tables built from {settings.catalog} "
        "in memory (nothing is written)")
    entities = load_catalog(settings.catalog)
    return Gazetteer.from_entities(entities), CatalogStats.of(entities)


def make_policy(name: str, options: Mapping[str, Any] | None = None, allocation: Mapping[str, int] | None = None,
                seed: int | None = None) -> Policy:
    """A policy by name with its hyper-parameters; an unknown name or option is a ValueError
    that lists what exists."""
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r} (policies: {', '.join(POLICIES)})")
    if name == StaticPolicy.name:
        return StaticPolicy(dict(allocation or {}) or None, seed=seed)
    try:
        return POLICIES[name](seed=seed, **dict(options or {}))
    except TypeError as exc:  # an option the policy does not take
        raise ValueError(f"policy {name!r}: {exc}") from None


def _policy(settings: Settings, data: DataDir) -> Policy:
    """The configured policy, resumed from its saved state in the data dir when there is one
    (`policy/<name>.json`, written by `es-ltrr simulate --save-policy` and, later, the
    feedback loop)."""
    policy = make_policy(settings.policy, settings.policy_options, settings.allocation)
    state = data.policy_state(policy.name)
    if state is not None:
        try:
            policy.load_state(state)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{data.policy_state_path(policy.name)}: {exc}") from None
    if hasattr(policy, "trusted_"):  # past burn-in, the learned choice serves once the guard said so
        guard = (state or {}).get("guard")
        policy.trusted_ = bool(guard.get("trusted")) if isinstance(guard, dict) else False
    return policy


def ranker_for(settings: Settings, data: DataDir, engine: Engine, fusion: Ranker) -> Ranker:
    """Which ranker serves, decided once at start:

    * `--ltr-model NAME` → `sltr` with that model of the cluster's LTR plugin;
    * `model = DIR` in the settings → that local model, scored in the sidecar;
    * the data dir's active model (`models/ACTIVE`, set by `upload-model --activate`) → on a
      cluster with the LTR plugin, `sltr` with the model of that name (uploaded there; if the
      node lacks it, every search falls back to RRF and says so); elsewhere scored locally;
    * otherwise fusion.

    Local scoring logs features through the plugin's `ltr_log` when the cluster stores the
    featureset, else with the per-feature msearch (`ltr.feature_logger`).
    """
    plugin = LtrPlugin(engine) if settings.cluster_url else None  # type: ignore[arg-type]
    if settings.ltr_model:
        if plugin is None:
            raise ValueError("ltr_model names a model in a cluster's LTR plugin: it needs --cluster URL")
        return PluginRanker(settings.ltr_model)
    model_dir = settings.model or data.active_model()
    if model_dir is None:
        return fusion
    try:
        return _model_ranker(model_dir, plugin, in_cluster=settings.model is None)
    except FeatureMismatch as exc:
        if settings.model is not None:  # a model the user named must load
            raise
        log.warning("the active model cannot rank: %s; ranking by fusion until a model is trained on this "
                    "featureset (`es-ltrr train`)", exc)
        return fusion


def _model_ranker(model_dir: Path, plugin: LtrPlugin | None, in_cluster: bool = True) -> Ranker:
    """A data-dir model: `sltr` where the cluster's plugin stores models, else local XGBoost."""
    if in_cluster and plugin is not None and plugin.store_exists():
        return PluginRanker(model_dir.name)
    featureset = default_featureset()
    return XGBoostRanker(LtrModel.load(model_dir, featureset), feature_logger(plugin, featureset))


def challenger_for(settings: Settings, data: DataDir, engine: Engine, ranker: Ranker, fusion: Ranker,
                   guard: bool = True) -> tuple[Ranker | None, float]:
    """What is interleaved with the serving `ranker`, on what share of searches: the
    `challenger_model` when one is set; else, where a `guard` watches (`es-ltrr serve`) and a
    model serves, fusion on `model_guard_share` (the evidence that rolls a model back,
    `serving/process.py`); else nothing."""
    if settings.challenger_model:
        return _challenger(settings, data, engine), settings.interleave_share
    if guard and ranker.kind != fusion.kind and settings.model_guard_share > 0:
        if not 0.0 < settings.model_guard_share <= 1.0:
            raise ValueError(f"model_guard_share must be in [0, 1], got {settings.model_guard_share}")
        return fusion, settings.model_guard_share
    return None, 0.0


def _challenger(settings: Settings, data: DataDir, engine: Engine) -> Ranker | None:
    """The model interleaved against the serving ranker (`challenger_model`), if any."""
    if not settings.challenger_model:
        return None
    if not 0.0 < settings.interleave_share <= 1.0:
        raise ValueError(f"interleave_share must be in (0, 1] with a challenger_model, got {settings.interleave_share}")
    model_dir = data.model_dir(settings.challenger_model)
    if not model_dir.is_dir():
        raise ValueError(f"challenger_model {settings.challenger_model!r}: no {model_dir}")
    plugin = LtrPlugin(engine) if settings.cluster_url else None  # type: ignore[arg-type]
    if plugin is not None and plugin.store_exists() and plugin.get_model(model_dir.name) is None:
        # it would rank with sltr: every interleaved page would fail to, and say so per search
        raise ValueError(f"challenger_model {model_dir.name!r} is not in the cluster's LTR plugin (`train` uploads "
                         f"only the model it activates): `es-ltrr --cluster URL upload-model {model_dir / 'model.json'}`")
    return _model_ranker(model_dir, plugin)
