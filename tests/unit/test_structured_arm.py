"""The structured arm returns only what it understood: its filters and, when the query
names an artist or a title, at least one of them — never the catalog ranked by popularity."""

from __future__ import annotations

import pytest

from es_ltrr.retrieval.arms import ARMS, ArmInput
from es_ltrr.retrieval.engines.embedded import EmbeddedEngine
from es_ltrr.understanding import Slot, Understanding


def _u(*slots: Slot) -> Understanding:
    return Understanding("q", "q", ("q",), tuple(slots), "known_item", 1.0)


DOCS = [
    {"id": "t1", "type": "track", "name": "Back In Black", "artist": "AC/DC", "popularity": 70.0, "moods": ["intense"]},
    {"id": "t2", "type": "track", "name": "Thunderstruck", "artist": "AC/DC", "popularity": 60.0, "moods": []},
    {"id": "t3", "type": "track", "name": "Dance Monkey", "artist": "Tones and I", "popularity": 99.0, "moods": ["sad"]},
    {"id": "t4", "type": "track", "name": "Quiet Song", "artist": "X", "popularity": 40.0, "moods": ["sad", "acoustic"]},
]


@pytest.fixture(scope="module")
def engine():
    engine = EmbeddedEngine()
    engine.index(DOCS)
    return engine


def _ids(engine, u: Understanding) -> list[str]:
    body = ARMS["structured"].render(ArmInput("q", u), 10)
    return [h["_id"] for h in engine.msearch([body])[0]["hits"]["hits"]]


def test_a_known_item_page_holds_the_item_and_its_artist_not_the_chart(engine):
    title = Slot("track", "Back In Black", (0, 3), 0.85, "back in black", "t1", artist="AC/DC")
    assert _ids(engine, _u(title)) == ["t1", "t2"]  # Dance Monkey (popularity 99) is not understood


def test_several_moods_must_all_hold(engine):
    sad = Slot("mood", "sad", (0, 1), 1.0, "sad")
    acoustic = Slot("mood", "acoustic", (1, 2), 1.0, "acoustic")
    assert _ids(engine, _u(sad, acoustic)) == ["t4"]
    assert _ids(engine, _u(sad)) == ["t3", "t4"]


def test_browse_filters_alone_need_no_name_match(engine):
    track = Slot("entity_type", "track", (0, 1), 1.0, "songs")
    assert len(_ids(engine, _u(track))) == 4
