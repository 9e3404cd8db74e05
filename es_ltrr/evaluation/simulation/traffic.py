"""Simulated traffic into the feedback loop: the simulator's users search through a searcher
and their clicks are posted as events, so a fresh install has logs to train from
(`es-ltrr train` says when it does this)."""

from __future__ import annotations

import random
from typing import Any

from tqdm import tqdm

from ...feedback import FeedbackLoop
from ...search.request import SearchRequest
from .clicks import ClickModel
from .users import QueryGenerator


def generate_traffic(searcher: Any, loop: FeedbackLoop, entities: list[dict], searches: int, seed: int = 7,
                     progress: bool = True) -> int:
    """`searches` simulated searches, logged with their clicks; how many events were logged."""
    users, clicks, rng = QueryGenerator(entities, seed=seed), ClickModel(), random.Random(seed)
    events = 0
    for i, query in enumerate(tqdm(users.generate(searches, seed=seed), desc="simulated traffic", unit="search",
                                   disable=not progress, mininterval=2.0)):
        result = searcher.search(SearchRequest(query.text))
        loop.log_search(result)
        clicked = clicks.clicks(result.ids, query, rng)
        if clicked:
            events += loop.ingest(clicks.ubi_events(result.impression_id, result.ids, clicked, query,
                                                    f"traffic-{seed}-{i}", f"sim-{seed}-{i}")).accepted
    return events
