"""Wiring: Settings → engine, gazetteer, encoder, policy, ranker → a `Searcher`.

The one place that decides which implementations run; the CLI and the Flask factory both
call `build_searcher`, so they can never disagree about configuration.
"""

from __future__ import annotations

from typing import Callable

from .policy import StaticPolicy
from .config import Settings
from .embedding import Encoder
from .engines.factory import make_engine
from .indexing import build_index, index_exists, load_gazetteer, load_stats
from .pipeline import Searcher
from .ltr import LtrModel, default_featureset
from .ranking import PluginRanker, Ranker, RRFRanker, XGBoostRanker


def build_searcher(settings: Settings, say: Callable[[str], None] = print, auto_index: bool = True) -> Searcher:
    """A ready Searcher.

    On the embedded engine a missing index is built first (when `auto_index`); a cluster is
    never indexed implicitly — `es-ltrr apply` and `es-ltrr index` do that explicitly.
    """
    encoder = Encoder() if settings.embed else None
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
        engine = make_engine(settings)
    fusion = RRFRanker(settings.rrf_weights)
    return Searcher(
        engine=engine,
        gazetteer=load_gazetteer(settings.data_dir),
        policy=StaticPolicy(settings.allocation or None),
        encoder=encoder,
        ranker=_ranker(settings, fusion),
        fallback=fusion,
        catalog=load_stats(settings.data_dir),
        flavor=engine.flavor,
    )


def _ranker(settings: Settings, fusion: Ranker) -> Ranker:
    """sltr when a plugin model is named, else a local model when one is saved, else fusion."""
    if settings.ltr_model:
        if not settings.cluster_url:
            raise ValueError("ltr_model names a model in a cluster's LTR plugin: it needs --cluster URL")
        return PluginRanker(settings.ltr_model)
    if settings.model_path.exists():
        return XGBoostRanker(LtrModel.load(settings.model_path, default_featureset()))
    return fusion
