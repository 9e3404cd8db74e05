"""One hit per work, and honest page confidence."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from es_ltrr.retrieval.union import Candidate
from es_ltrr.search.collapse import collapse, work_key
from es_ltrr.search.confidence import NO_MATCH_BELOW, page_confidence
from es_ltrr.understanding import Slot, Understanding

NAMES = ["Bohemian Rhapsody - 2011 Mix", "Bohemian Rhapsody - Remastered 2011", "Bohemian Rhapsody",
         "Killer Queen", "Killer Queen (feat. X)", "Views", "Take Care"]
ARTISTS = ["Queen", "Drake", "Smile"]
candidates = st.lists(
    st.builds(lambda i, kind, name, artist: Candidate(f"id{i}", {"type": kind, "name": name, "artist": artist}),
              st.integers(0, 10**6), st.sampled_from(["track", "album", "artist"]),
              st.sampled_from(NAMES), st.sampled_from(ARTISTS)),
    max_size=30, unique_by=lambda c: c.id)


@given(candidates, st.integers(1, 10), st.randoms(use_true_random=False))
def test_collapse_keeps_one_best_hit_per_work_and_loses_nothing(cands, k, rnd):
    scores = [rnd.random() for _ in cands]
    page, variants = collapse(cands, scores, k)
    keys = [work_key(cands[i]) for i in page]
    assert len(keys) == len(set(keys)) <= k  # one entry per work
    assert [scores[i] for i in page] == sorted((scores[i] for i in page), reverse=True)
    assert len(variants) == len(page)
    for entry, versions in zip(page, variants):  # variants are the same work, never better
        assert all(work_key(cands[v]) == work_key(cands[entry]) and scores[v] <= scores[entry] for v in versions)
    shown = set(page) | {v for vs in variants for v in vs}
    works_on_page = set(keys)
    assert all(i in shown for i, c in enumerate(cands) if work_key(c) in works_on_page)
    assert len({work_key(c) for c in cands}) >= len(page) == min(k, len({work_key(c) for c in cands}))


def test_remasters_of_one_song_collapse_other_artists_do_not():
    cands = [Candidate("a", {"type": "track", "name": "Bohemian Rhapsody - 2011 Mix", "artist": "Queen"}),
             Candidate("b", {"type": "track", "name": "Bohemian Rhapsody - Remastered 2011", "artist": "Queen"}),
             Candidate("c", {"type": "track", "name": "Bohemian Rhapsody", "artist": "Smile"})]
    assert collapse(cands, [3, 2, 1], 10) == ((0, 2), ((1,), ()))


def _u(tokens: tuple[str, ...], *slots: Slot, confidence: float = 0.0) -> Understanding:
    intent = "mood" if slots else "unknown"
    return Understanding(" ".join(tokens), " ".join(tokens), tokens, slots, intent, confidence)


def test_nonsense_with_fuzzy_lexical_hits_is_no_match():
    conf, no_match = page_confidence(_u(("asdkjh", "qwpoeiru")), [{"name": "Anexo Leiruk"}, {"name": "SIRUP"}])
    assert conf < NO_MATCH_BELOW and no_match


def test_literal_words_or_understanding_are_evidence():
    assert page_confidence(_u(("back", "in", "black")), [{"name": "Back In Black"}]) == (1.0, False)
    mood = Slot("mood", "happy", (0, 1), 1.0, "happy")
    assert page_confidence(_u(("happy", "music"), mood, confidence=0.9), [{"name": "Uptown Funk"}]) == (0.9, False)


def test_an_empty_page_is_no_match():
    assert page_confidence(_u(("x",)), [])[1] is True
