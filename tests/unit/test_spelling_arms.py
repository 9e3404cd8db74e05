"""Fuzziness only where the understanding sees a likely misspelling (issue 9, item 5).

On a cluster, fuzzy expansion and the trigram clause are most of the text arms' cost, and
most queries are spelled right: the arms render `fuzziness: 0` and no trigram clause unless
a slot matched a name spelled otherwise than the query.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from es_ltrr.catalog import read_spotify
from es_ltrr.retrieval.arms import ARMS, ArmInput
from es_ltrr.understanding import Gazetteer, understand

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "spotify_small.csv"
TEXT_ARMS = ("lexical", "popular", "structured", "q2e", "explore")


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return Gazetteer.from_entities(read_spotify(FIXTURE, progress=False).entities)


def _body(arm: str, query: str, gaz: Gazetteer) -> str:
    body = ARMS[arm].render(ArmInput(query, understand(query, gaz)), 10)
    return "" if body is None else json.dumps(body)


def _artist(gaz: Gazetteer) -> str:
    """An artist name from the fixture, long enough for AUTO fuzziness to correct a typo."""
    return next(k for k, entries in sorted(gaz.tables().exact.items())
                if entries[0].kind == "artist" and len(k) >= 8 and k.isalpha()
                and [s.kind for s in understand(k, gaz).slots] == ["artist"])


def _typo(name: str) -> str:
    return name[:3] + name[4] + name[3] + name[5:]  # two letters swapped


def test_a_fuzzy_slot_flags_a_misspelling(gaz):
    artist = _artist(gaz)
    typo = _typo(artist)
    assert not understand(artist, gaz).misspelled
    misspelt = understand(typo, gaz)
    assert misspelt.slots and misspelt.misspelled


@pytest.mark.parametrize("arm", TEXT_ARMS)
def test_text_arms_are_exact_unless_misspelt(gaz, arm):
    artist = _artist(gaz)
    typo = _typo(artist)
    exact, fuzzy = _body(arm, artist, gaz), _body(arm, typo, gaz)
    if not exact or not fuzzy:
        pytest.skip(f"{arm} does not apply to these queries")
    assert '"fuzziness": "AUTO"' not in exact
    if arm != "structured":  # a fully understood query leaves it no text clause
        assert '"fuzziness": "AUTO"' in fuzzy


def test_the_trigram_clause_comes_with_fuzziness_only(gaz):
    artist = _artist(gaz)
    typo = _typo(artist)
    assert "trigram" not in _body("lexical", artist, gaz)
    assert "name.trigram" in _body("lexical", typo, gaz)


def test_unknown_words_are_not_a_misspelling(gaz):
    assert not understand("xqzt blorf", gaz).misspelled
