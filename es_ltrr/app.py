"""Wiring: Settings → engine, gazetteer, encoder, policy, ranker → a `Searcher`.

The one place that decides which implementations run; the CLI and the Flask factory both
call `build_searcher`, so they can never disagree about configuration.
"""

from __future__ import annotations

from typing import Callable

from .bandit import StaticPolicy
from .config import Settings
from .embedding import Encoder
from .engines.embedded import EmbeddedEngine
from .indexing import build_index, index_exists, load_gazetteer, load_stats
from .pipeline import Searcher
from .ranking import XGBoostRanker, default_featureset


def build_searcher(settings: Settings, say: Callable[[str], None] = print, auto_index: bool = True) -> Searcher:
    """A ready Searcher; indexes the catalog first when no index exists and `auto_index`."""
    encoder = Encoder() if settings.embed else None
    if not index_exists(settings.data_dir):
        if not auto_index:
            raise FileNotFoundError(f"no index in {settings.data_dir}: run `es-ltrr index` first")
        say(f"no index in {settings.data_dir}; indexing {settings.catalog} first")
        engine = build_index(settings, encoder, say)
    else:
        engine = EmbeddedEngine.load(settings.engine_dir)
    ranker = None
    if settings.model_path.exists():
        ranker = XGBoostRanker.load(settings.model_path, default_featureset())
    return Searcher(
        engine=engine,
        gazetteer=load_gazetteer(settings.data_dir),
        policy=StaticPolicy(settings.allocation or None),
        encoder=encoder,
        ranker=ranker,
        catalog=load_stats(settings.data_dir),
        rrf_weights=settings.rrf_weights,
        flavor=engine.flavor,
    )
