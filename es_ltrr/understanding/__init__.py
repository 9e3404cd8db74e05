"""Query understanding: gazetteer tagging from the catalog, misspellings, intent.

:func:`understand` turns a raw query into an :class:`Understanding`: its normalized text and
tokens (from :mod:`es_ltrr.common.analysis`, the one notion of a token), non-overlapping
:class:`Slot` s and an intent.

Tagging
-------
1. **Exact** — every n-gram of up to :data:`~es_ltrr.understanding.tagger.MAX_NGRAM` tokens is looked up in the folded
   gazetteer keys (artist names, album names, track titles, playlist names, genres,
   subgenres, moods and their synonyms, entity-type words, eras).
2. **Fuzzy** — n-grams of ≥ 4 characters and ≤ :data:`FUZZY_MAX_TOKENS` tokens without an
   exact hit are matched against artist names and aliases, vocabulary words and popular
   titles. Candidates share the first letter and a length window with the n-gram (the
   index is bucketed that way, so no lookup scans the whole catalog); rapidfuzz's
   `fuzz.ratio` shortlists them and the final score is the larger of that ratio and its
   mean with the ratio of phonetic *skeletons* (vowels → "*", c/k/s, ph/f, doubled letters
   collapsed), so vowel confusions ("tayler" → "taylor") and sound-alike spellings
   ("beyonse" → "beyonce") beat other one-edit neighbours ("tyler"). Ties go to the more popular entity. A match needs
   a score ≥ :data:`FUZZY_CUTOFF` and at most ⌊length / 4⌋ edits
   (:func:`~es_ltrr.understanding.fuzzy.max_edits`: 1 for 4–7 characters, 2 for 8–11, …);
   results are cached per n-gram. Symbol-only n-grams are never fuzzy.
3. **Selection** — among all candidates, the non-overlapping set with the highest
   Σ confidence × span length × kind weight wins (dynamic programming; on a tie, fewer
   and longer slots). Fuzzy names never overrule exact vocabulary: a fuzzy artist or title
   may cover a vocabulary word only when that word is part of the name and the name also
   explains another content word ("rainy day" is a mood, not the artist Randy; "happy
   togethr" is still "Happy Together"). Vocabulary and artists weigh 1.0, titles less (track 0.8, album
   0.75, playlist 0.7): "happy songs" is a mood plus a type, not the track "Happy Songs".
4. **Artist scope** — when an artist was tagged, the rest of the query (tokens that are not
   vocabulary) is matched against *that artist's* titles, exactly and then fuzzily:
   "tayler love" → artist Taylor Swift + track "Lover (Remix)", "ed sheeran shape of you" →
   Ed Sheeran's "Shape of You" rather than a cover.

Confidence of a slot = match score (1 for exact, fuzzy score / 100) × the entry's prior:
1.0 for full names and vocabulary, 0.9 for synonyms and name variants, 0.7 for the
single-token aliases of popular artists ("swift", "sheeran"), 0.85 for multi-word titles
and 0.5 for one-word titles (one common word is weak evidence).

Intent rule (first that applies; `coverage` = share of tokens inside slots)
-------------------------------------------------------------------------
==============  =====================================================================
known_item      an artist slot and a track/album slot ("ed sheeran shape of you"), or
                a track/album/playlist slot covering ≥ 60 % of the tokens (a one-word
                title only when it is the only slot: "love songs" is not known-item)
artist          an artist slot, no title ("taylor swift", "eminem albums")
genre           a genre or subgenre slot ("80s rock", "sad pop")
mood            a mood slot ("happy songs")
known_item      a multi-word title slot covering less of the query
entity_browse   only entity-type and/or era slots (and weak one-word titles)
unknown         no slot
==============  =====================================================================

`intent_confidence` = the deciding slot's confidence (the lower of artist and title for
known_item) × coverage, where coverage counts content tokens only (stopwords such as
"by", "the", "music", "top" neither help nor hurt).

Modules: :mod:`.vocabulary` (built-in words), :mod:`.gazetteer` (the catalog's names and
their lookup), :mod:`.gazetteer_file` (its versioned file), :mod:`.fuzzy` (misspelling
match), :mod:`.tagger` (slots, selection, intent).
"""

from es_ltrr.understanding.entries import Entry
from es_ltrr.understanding.fuzzy import skeleton
from es_ltrr.understanding.gazetteer import Gazetteer
from es_ltrr.understanding.tagger import Slot, Understanding, understand
from es_ltrr.understanding.vocabulary import (
    ENTITY_TYPE_WORDS,
    GENRE_SYNONYMS,
    INTENTS,
    KINDS,
    MOOD_SYNONYMS,
    STOPWORDS,
    era_of,
)

__all__ = [
    "ENTITY_TYPE_WORDS",
    "GENRE_SYNONYMS",
    "INTENTS",
    "KINDS",
    "MOOD_SYNONYMS",
    "STOPWORDS",
    "Entry",
    "Gazetteer",
    "Slot",
    "Understanding",
    "era_of",
    "skeleton",
    "understand",
]
