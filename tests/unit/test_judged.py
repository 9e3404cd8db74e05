"""The hand-labelled judged set: it loads, covers every intent of the simulator, names only
entities of the shipped catalog, and a bad file is refused with the line that is wrong."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from es_ltrr.evaluation.judged import JudgedQuery, JudgedSetError, hand_set_path, load_judged, on_catalog
from es_ltrr.evaluation.simulation.users import INTENTS


def test_hand_set_covers_every_intent_with_reviewed_grades():
    queries = load_judged()
    assert len(queries) >= 80
    per_intent = Counter(q.intent for q in queries)
    assert set(per_intent) == set(INTENTS) and min(per_intent.values()) >= 5, per_intent
    assert len({q.text for q in queries}) == len(queries)
    assert all(q.target for q in queries), "every query says what the user meant"


@pytest.mark.slow
def test_every_labelled_id_is_an_entity_of_the_shipped_catalog():
    from es_ltrr.catalog import DEFAULT_CATALOG, load_catalog

    ids = {d["id"] for d in load_catalog(DEFAULT_CATALOG, progress=False)}
    queries = load_judged()
    missing = {q.qid: sorted(set(q.grades) - ids)[:3] for q in queries if set(q.grades) - ids}
    assert not missing
    assert on_catalog(queries, ids) == queries


def test_the_hand_set_ships_in_the_package():
    assert hand_set_path().is_file()
    assert "evaluation/judged/*.jsonl" in open(hand_set_path().parents[3] / "pyproject.toml").read()


def test_on_catalog_keeps_queries_with_a_relevant_entity_left():
    queries = [JudgedQuery("a", "artist", {"x": 3, "y": 1}, "q1"), JudgedQuery("b", "artist", {"z": 3, "y": 1}, "q2"),
               JudgedQuery("c", "genre", {"x": 1, "w": 2}, "q3")]
    kept = on_catalog(queries, {"x", "y"})
    assert [(q.qid, dict(q.grades)) for q in kept] == [("q1", {"x": 3, "y": 1})]


@pytest.mark.parametrize("line, message", [
    ("{not json", "not JSON"),
    ("[1, 2]", "expected an object"),
    ('{"id": "x", "text": "", "intent": "genre", "grades": {"a": 2}}', "'text' must be a non-empty string"),
    ('{"id": "x", "text": "rock", "intent": "genre", "grades": {}}', "'grades' must be a non-empty object"),
    ('{"id": "x", "text": "rock", "intent": "genre", "grades": {"a": 4}}', "grades must be one of"),
    ('{"id": "x", "text": "rock", "intent": "genre", "grades": {"a": true}}', "grades must be one of"),
    ('{"id": "x", "text": "rock", "intent": "genre", "grades": {"a": 1}}', "no entity graded 2"),
])
def test_a_bad_line_is_named_by_its_number(tmp_path, line, message):
    good = json.dumps({"id": "ok", "text": "queen", "intent": "artist", "grades": {"artist:queen": 3}})
    path = tmp_path / "set.jsonl"
    path.write_text(f"# comment\n{good}\n\n{line}\n")
    with pytest.raises(JudgedSetError, match=f"set.jsonl:4: .*{message}"):
        load_judged(path)


def test_duplicate_ids_and_empty_files_are_refused(tmp_path):
    line = json.dumps({"id": "a", "text": "queen", "intent": "artist", "grades": {"artist:queen": 3}})
    path = tmp_path / "dup.jsonl"
    path.write_text(f"{line}\n{line}\n")
    with pytest.raises(JudgedSetError, match="dup.jsonl:2: duplicate query id 'a'"):
        load_judged(path)
    path.write_text("# only a comment\n")
    with pytest.raises(JudgedSetError, match="no judged queries"):
        load_judged(path)
    with pytest.raises(JudgedSetError, match="cannot read"):
        load_judged(tmp_path / "absent.jsonl")
