"""The Q2E memory learns on the full catalog (slow): 20 users type "tayler swfit luver" and
play Taylor Swift's "Lover"; afterwards the q2e arm returns it first (issue 12's example)."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from es_ltrr.feedback import FeedbackLoop, FeedbackStore, Q2EMemory
from es_ltrr.retrieval.arms import ArmInput
from es_ltrr.retrieval.policy import StaticPolicy
from es_ltrr.serving.contract import parse_search_request
from es_ltrr.understanding import understand

pytestmark = pytest.mark.slow
QUERY = "tayler swfit luver"
#: The catalog's "Lover" track by Taylor Swift (the remix with Shawn Mendes is the one it holds).
LOVER = "3i9UVldZOE0aD0JnyfAZZ0"


def test_users_teach_the_memory_a_misspelling(music_searcher, tmp_path):
    searcher = replace(music_searcher, engine=copy.copy(music_searcher.engine), policy=StaticPolicy())
    lover = LOVER
    source = searcher.engine.get([lover])[lover]
    assert source["name"].startswith("Lover") and source["artist"] == "Taylor Swift"

    def q2e_top() -> list[str]:
        inp = ArmInput(QUERY, understand(QUERY, searcher.gazetteer), catalog=searcher.catalog)
        response = searcher.retrieve(inp, StaticPolicy({"q2e": 10}).choose(None, ["q2e"]))
        return [h["_id"] for h in response["q2e"]["hits"]["hits"]]

    assert q2e_top()[:1] != [lover]
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    loop = FeedbackLoop(store, searcher.policy, memory=Q2EMemory(searcher.engine, store))
    for user in range(20):
        result = searcher.search(parse_search_request({"query": QUERY}))
        loop.log_search(result)
        loop.ingest({"query_id": result.impression_id, "action_name": "play", "object_id": lover,
                     "client_id": f"user-{user}"})
    loop.learn_memory()  # the server does this every --memory-interval
    assert q2e_top()[0] == lover
