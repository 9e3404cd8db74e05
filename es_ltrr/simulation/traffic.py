"""Simulated traffic into the feedback loop: the simulator's users search through a searcher
and their clicks are posted as events, so a fresh install has logs to train from
(`es-ltrr train` says when it does this)."""

from __future__ import annotations

import random
from typing import Any

from tqdm import tqdm

from ..api import SearchRequest
from ..feedback import FeedbackLoop
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
        weights = clicks.engagement(clicked, query)
        if clicked:
            report = loop.ingest([{"query_id": result.impression_id, "action_name": "play" if weights[d] >= 1 else "click",
                                   "object_id": d, "event_id": f"traffic-{seed}-{i}-{d}", "client_id": f"sim-{seed}",
                                   "event_attributes": {"position": {"ordinal": result.ids.index(d) + 1}}}
                                  for d in clicked])
            events += report.accepted
    return events
