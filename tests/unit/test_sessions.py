"""Sessions (issue 22): UBI's `client_id` and `session_id` on `POST /search`, validated,
logged with the impression, mirrored to `ubi_queries`; events carry them as UBI does."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from es_ltrr.feedback import FeedbackLoop, FeedbackStore, Impression, parse_event
from es_ltrr.feedback.ubi import event_doc, query_doc
from es_ltrr.retrieval.policy import StaticPolicy
from es_ltrr.search.request import MAX_ID_CHARS
from es_ltrr.serving.contract import BadRequest, parse_search_request

_CONTROL = [chr(c) for c in (*range(32), *range(127, 160))]


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=MAX_ID_CHARS).filter(
    lambda s: s.strip() and not any(c in _CONTROL or "\ud800" <= c <= "\udfff" for c in s)))
def test_any_printable_id_is_accepted_as_sent(value):
    request = parse_search_request({"query": "rock", "client_id": value, "session_id": value})
    assert (request.client_id, request.session_id) == (value, value)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["client_id", "session_id"]),
       st.one_of(st.integers(), st.booleans(), st.lists(st.text()), st.dictionaries(st.text(), st.text()),
                 st.just(""), st.just("  "), st.text(min_size=MAX_ID_CHARS + 1, max_size=MAX_ID_CHARS + 20),
                 st.tuples(st.text(max_size=5), st.sampled_from(_CONTROL), st.text(max_size=5)).map("".join)))
def test_a_bad_id_is_a_400_naming_the_field(name, value):
    with pytest.raises(BadRequest, match=f"'{name}'"):
        parse_search_request({"query": "rock", name: value})


def test_ids_are_optional_and_unknown_fields_stay_refused():
    request = parse_search_request({"query": "rock"})
    assert (request.client_id, request.session_id) == (None, None)
    with pytest.raises(BadRequest, match="unknown field"):
        parse_search_request({"query": "rock", "user_id": "u"})
    assert parse_search_request({"query": "rock", "client_id": None}).client_id is None


def test_the_impression_keeps_them_and_the_ubi_mirror_writes_them(small_searcher, tmp_path):
    searcher = replace(small_searcher, policy=StaticPolicy())
    loop = FeedbackLoop(FeedbackStore(tmp_path / "f.sqlite3"), searcher.policy)
    result = searcher.search(parse_search_request({"query": "rock", "client_id": "c-1", "session_id": "s-1"}))
    loop.log_search(result)
    logged = loop.store.impression(result.impression_id)
    assert (logged.client_id, logged.session_id) == ("c-1", "s-1") and logged == Impression.of(result)
    assert Impression.from_json(logged.to_json()) == logged
    row = loop.store._read("SELECT client_id, session_id FROM impressions WHERE id = ?", (result.impression_id,))
    assert row == [("c-1", "s-1")]
    doc = query_doc(logged, "es-ltrr")
    assert (doc["client_id"], doc["session_id"]) == ("c-1", "s-1")
    plain = searcher.search(parse_search_request({"query": "rock"}))
    assert "session_id" not in query_doc(Impression.of(plain), "es-ltrr")
    assert "client_id" not in json.loads(Impression.of(plain).to_json())  # old bodies unchanged
    event = parse_event({"query_id": result.impression_id, "action_name": "play", "object_id": result.ids[0],
                         "client_id": "c-1", "session_id": "s-1"})
    assert (event.client_id, event.session_id) == ("c-1", "s-1")
    assert (event_doc(event, "es-ltrr", 0.0)["session_id"]) == "s-1"
    loop.ingest({"query_id": result.impression_id, "action_name": "play", "object_id": result.ids[0],
                 "session_id": "s-1", "event_id": "e"})
    assert loop.store._read("SELECT session_id FROM events", ()) == [("s-1",)]


def test_a_log_written_before_sessions_gains_the_columns(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite3"
    FeedbackStore(path).close()
    with sqlite3.connect(path) as conn:  # as an older es-ltrr left it
        conn.execute("DROP INDEX impressions_session")
        conn.execute("ALTER TABLE impressions DROP COLUMN session_id")
    store = FeedbackStore(path)
    assert "session_id" in {r[1] for r in store._read("PRAGMA table_info(impressions)", ())}


def test_cli_search_takes_the_ids(cli):
    out = cli("search", "rock", "--json", "--client-id", "c-9", "--session-id", "s-9")
    assert out.exit_code == 0, out.output
    bad = cli("search", "rock", "--client-id", "a\tb")
    assert bad.exit_code == 2 and "'client_id' must not contain control characters" in bad.output
