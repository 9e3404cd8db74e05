"""The gazetteer: the catalog's names and the vocabulary as folded keys → entries, with a
bucketed fuzzy index for misspellings and per-artist title maps (see the package docstring).
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from es_ltrr.catalog.moods import MOODS
from es_ltrr.catalog.names import core_title, name_variants, without_apostrophes, without_symbols
from es_ltrr.common.analysis import normalize_query, words
from es_ltrr.understanding import gazetteer_file
from es_ltrr.understanding.entries import Entry, Tables
from es_ltrr.understanding.fuzzy import best_fuzzy, skeleton
from es_ltrr.understanding.vocabulary import (
    DECADE_WORDS,
    ENTITY_TYPE_WORDS,
    GENRE_SYNONYMS,
    MOOD_SYNONYMS,
    STOPWORDS,
    TITLE_KINDS,
)

FUZZY_MIN_CHARS = 4
#: Fuzzy results kept per gazetteer (least recently used go first).
FUZZY_CACHE_SIZE = 50_000

# Entry priors (the confidence of an exact hit).
FULL = 1.0
VARIANT = 0.9
ALIAS = 0.7
#: one-word artist names that are common title words ("future"), and artist names that are
#: vocabulary words ("Focus", "Sleep"): below VARIANT, so the vocabulary reading wins
AMBIGUOUS_ARTIST = 0.8
TITLE_PRIOR = {"track": 0.85, "album": 0.8, "playlist": 0.8}
ONE_WORD_TITLE = 0.5
GENERIC_TITLE_FACTOR = 0.7  # titles containing an entity-type word ("Love Songs")
SCOPED_EXACT = 0.95
SCOPED_FUZZY = 0.9

#: Artists at least this popular (max track popularity) get single-token aliases.
ALIAS_MIN_POPULARITY = 60.0
#: A token appearing in this many (core) track titles is too common to be an alias.
ALIAS_MAX_TITLE_DF = 15
#: Artists at least this popular take part in fuzzy lookup (a misspelling is likelier to
#: aim at a known artist than an ordinary word is to be an obscure artist's name).
FUZZY_ARTIST_MIN_POPULARITY = 50.0
#: Tracks/albums at least this popular with multi-word titles take part in fuzzy lookup.
FUZZY_TITLE_MIN_POPULARITY = 65.0


# --- gazetteer ----------------------------------------------------------------------


def _key(text: str) -> str:
    return normalize_query(text)


class Gazetteer:
    """Folded keys → entries, a bucketed fuzzy index and per-artist title maps.

    Build it with :meth:`from_entities`; it is read-only afterwards and safe to share
    between threads: fuzzy results live in an `lru_cache` (thread-safe), and the lazily
    filled lookup tables (buckets, skeletons, scoped keys) only ever get a fully built value
    in one dict assignment, so a race computes a value twice and never sees a missing key.
    """

    def __init__(self, fuzzy_cache_size: int = FUZZY_CACHE_SIZE) -> None:
        self._entries: dict[str, dict[str, Entry]] = {}
        self.exact: dict[str, tuple[Entry, ...]] = {}
        self._fuzzy_entry: dict[str, Entry] = {}
        self._skeletons: dict[str, str] = {}
        self._by_first: dict[str, dict[int, list[str]]] = {}
        #: normalized artist name → {normalized title → track entry}; albums apart
        self.artist_titles: dict[str, dict[str, Entry]] = {}
        self.artist_albums: dict[str, dict[str, Entry]] = {}
        self.fuzzy_cache_size = fuzzy_cache_size
        self._start_caches()

    def _start_caches(self) -> None:
        """Empty lazily filled caches (after building, unpickling or loading)."""
        self._buckets: dict[tuple[str, int], tuple[str, ...]] = {}
        self._scoped_keys: dict[tuple[str, str], tuple[str, ...]] = {}
        self._fuzzy_cached = lru_cache(maxsize=self.fuzzy_cache_size)(self._fuzzy_uncached)
        self._artist_of: dict[str, str] | None = None

    # building -----------------------------------------------------------------------

    def add(self, key: str, entry: Entry, fuzzy: bool = False) -> None:
        """Add `entry` under the normalized `key`; per key and kind the best entry stays."""
        if not key:
            return
        kinds = self._entries.setdefault(key, {})
        old = kinds.get(entry.kind)
        if old is None or (entry.prior, entry.popularity) > (old.prior, old.popularity):
            kinds[entry.kind] = entry
        if fuzzy and len(key) >= FUZZY_MIN_CHARS:
            old = self._fuzzy_entry.get(key)
            if old is None or old.rank() < entry.rank():
                self._fuzzy_entry[key] = entry

    def _add_title(self, artist_key: str, key: str, entry: Entry) -> None:
        table = self.artist_albums if entry.kind == "album" else self.artist_titles
        titles = table.setdefault(artist_key, {})
        old = titles.get(key)
        if old is None or old.popularity < entry.popularity:
            titles[key] = entry

    def _finish(self) -> None:
        self.exact = {
            key: tuple(sorted(kinds.values(), key=Entry.rank, reverse=True))
            for key, kinds in self._entries.items()
        }
        self._index_fuzzy()

    def _index_fuzzy(self) -> None:
        """Fuzzy keys by first letter and length, most popular first (ties: insertion order)."""
        ordered = sorted(self._fuzzy_entry, key=lambda k: -self._fuzzy_entry[k].popularity)
        for key in ordered:
            self._by_first.setdefault(key[0], {}).setdefault(len(key), []).append(key)

    @classmethod
    def from_tables(cls, tables: Tables, fuzzy_cache_size: int = FUZZY_CACHE_SIZE) -> Gazetteer:
        """A gazetteer of built tables (see :meth:`tables`); the fuzzy index is derived."""
        gaz = cls(fuzzy_cache_size)
        gaz.exact, gaz._fuzzy_entry, gaz.artist_titles, gaz.artist_albums = tables
        gaz._index_fuzzy()
        return gaz

    def tables(self) -> Tables:
        """What this gazetteer is made of; everything else is derived or a cache."""
        return Tables(self.exact, self._fuzzy_entry, self.artist_titles, self.artist_albums)

    def save(self, path: Path) -> None:
        """Write the gazetteer to one versioned file (see :mod:`.gazetteer_file`)."""
        gazetteer_file.write(self.tables(), path)

    @classmethod
    def load(cls, path: Path, fuzzy_cache_size: int = FUZZY_CACHE_SIZE) -> Gazetteer:
        """A gazetteer saved with :meth:`save`; ValueError for another version or a bad file."""
        return cls.from_tables(gazetteer_file.read(path), fuzzy_cache_size)

    @classmethod
    def from_entities(
        cls, entities: Iterable[Mapping[str, Any]], fuzzy_cache_size: int = FUZZY_CACHE_SIZE
    ) -> "Gazetteer":
        """A gazetteer of the catalog's names plus the built-in vocabulary."""
        gaz = cls(fuzzy_cache_size)
        entities = list(entities)
        artists: dict[str, list[Any]] = {}  # key → [name, popularity, entity_id]
        title_df: Counter[str] = Counter()
        genres: dict[str, Entry] = {}
        subgenres: dict[str, Entry] = {}

        def note_artist(name: str, popularity: float, entity_id: str | None) -> None:
            key = _key(name)
            if not key:
                return
            slot = artists.setdefault(key, [name, popularity, entity_id])
            slot[1] = max(slot[1], popularity)
            if entity_id and not slot[2]:
                slot[0], slot[2] = name, entity_id

        for e in entities:
            kind, name = e.get("type"), e.get("name") or ""
            pop = float(e.get("popularity") or 0.0)
            if kind == "artist":
                note_artist(name, pop, e.get("id"))
            elif e.get("artist"):
                note_artist(str(e["artist"]), pop, None)
            if kind == "track":
                title_df.update(set(words(core_title(name))))
            if kind == "genre":
                for g in e.get("genres") or [name]:
                    genres[g] = Entry("genre", g, FULL, pop, e.get("id"))
            elif kind == "subgenre":
                for s in e.get("subgenres") or [name]:
                    subgenres[s] = Entry("subgenre", s, FULL, pop, e.get("id"))

        gaz._add_vocabulary(genres, subgenres)
        vocab_keys = set(gaz._entries)
        gaz._add_artists(artists, title_df, vocab_keys)
        type_words = {w for ws in ENTITY_TYPE_WORDS.values() for w in ws}
        for e in entities:
            kind = e.get("type")
            if kind in TITLE_KINDS:
                gaz._add_entity_title(e, type_words)
        gaz._finish()
        return gaz

    def _add_vocabulary(self, genres: dict[str, Entry], subgenres: dict[str, Entry]) -> None:
        for mood, synonyms in MOOD_SYNONYMS.items():
            if mood not in MOODS:
                continue
            for i, word in enumerate(synonyms):
                self.add(_key(word), Entry("mood", mood, FULL if i == 0 else VARIANT, 100.0), True)
        for etype, type_words in ENTITY_TYPE_WORDS.items():
            for word in type_words:
                self.add(_key(word), Entry("entity_type", etype, FULL, 100.0), True)
        for word, start in DECADE_WORDS.items():
            self.add(word, Entry("era", {"gte": start, "lt": start + 10}, FULL, 100.0), True)
        for table in (genres, subgenres):
            for value, entry in table.items():
                self.add(_key(value), entry, True)
                self.add(_key(without_apostrophes(value).replace("-", "")), entry, True)
                for synonym in GENRE_SYNONYMS.get(value, ()):
                    variant = Entry(
                        entry.kind, entry.value, VARIANT, entry.popularity, entry.entity_id
                    )
                    self.add(_key(synonym), variant, True)

    def _add_artists(
        self, artists: dict[str, list[Any]], title_df: Counter[str], vocab_keys: set[str]
    ) -> None:
        aliases: dict[str, Entry] = {}
        for key, (name, pop, eid) in artists.items():
            tokens = key.split(" ")
            prior = FULL
            if key in vocab_keys or len(tokens) == 1 and title_df[key] >= ALIAS_MAX_TITLE_DF:
                prior = AMBIGUOUS_ARTIST
            fuzzy = pop >= FUZZY_ARTIST_MIN_POPULARITY
            self.add(key, Entry("artist", name, prior, pop, eid), fuzzy)
            for variant in name_variants(name):
                self.add(variant, Entry("artist", name, VARIANT, pop, eid), fuzzy)
            if len(tokens) < 2 or pop < ALIAS_MIN_POPULARITY:
                continue
            for token in tokens:
                if (
                    len(token) < 4
                    or not token.isalpha()
                    or token in STOPWORDS
                    or token in vocab_keys
                    or token in artists
                    or title_df[token] >= ALIAS_MAX_TITLE_DF
                ):
                    continue
                old = aliases.get(token)
                if old is None or old.popularity < pop:
                    aliases[token] = Entry("artist", name, ALIAS, pop, eid)
        for token, entry in aliases.items():
            self.add(token, entry, True)

    def _add_entity_title(self, e: Mapping[str, Any], type_words: set[str]) -> None:
        kind, name = e["type"], e.get("name") or ""
        pop = float(e.get("popularity") or 0.0)
        core = core_title(name)
        keys = dict.fromkeys(
            k
            for k in (
                _key(core), _key(name), _key(without_apostrophes(core)), _key(without_symbols(core))
            )
            if k
        )
        artist_key = _key(str(e.get("artist") or ""))
        for key in keys:
            tokens = key.split(" ")
            if artist_key and kind in ("track", "album"):
                self._add_title(artist_key, key, Entry(kind, name, SCOPED_EXACT, pop, e.get("id")))
            if len(key) < 3 or all(t in STOPWORDS for t in tokens):
                continue
            prior = TITLE_PRIOR[kind] if len(tokens) > 1 else ONE_WORD_TITLE
            if any(t in type_words for t in tokens):
                prior *= GENERIC_TITLE_FACTOR
            fuzzy = (
                kind in ("track", "album")
                and len(tokens) > 1
                and pop >= FUZZY_TITLE_MIN_POPULARITY
            )
            self.add(key, Entry(kind, name, prior, pop, e.get("id")), fuzzy)

    # lookup -------------------------------------------------------------------------

    def lookup(self, key: str) -> tuple[Entry, ...]:
        """Exact entries of a normalized key, best first (empty when unknown)."""
        return self.exact.get(key, ())

    def _bucket(self, first: str, length: int) -> tuple[str, ...]:
        bucket = self._buckets.get((first, length))
        if bucket is None:
            by_len = self._by_first.get(first, {})
            delta = max(2, length // 3)
            lengths = range(length - delta, length + delta + 1)
            keys = [k for n in lengths for k in by_len.get(n, ())]
            keys.sort(key=lambda k: -self._fuzzy_entry[k].popularity)
            bucket = self._buckets[first, length] = tuple(keys)
        return bucket

    def fuzzy(self, text: str) -> tuple[Entry, float, str] | None:
        """Best fuzzy entry for a normalized n-gram: (entry, score 0..1, matched key)."""
        return self._fuzzy_cached(text)

    def _fuzzy_uncached(self, text: str) -> tuple[Entry, float, str] | None:
        bucket = self._bucket(text[0], len(text))
        return best_fuzzy(text, bucket, self._skeleton, self._fuzzy_entry)

    def artist_title(
        self, artist_key: str, text: str, prefer: str | None = None, fuzzy: bool = True
    ) -> tuple[Entry, float, str] | None:
        """A track (or album) title of one artist matching `text` exactly or fuzzily.

        Tracks are tried before albums unless `prefer` is "album".
        """
        tables = (("album", self.artist_albums), ("track", self.artist_titles))
        if prefer != "album":
            tables = tables[::-1]
        for _, table in tables:
            titles = table.get(artist_key)
            if titles and text in titles:
                return titles[text], 1.0, text
        if not fuzzy or len(text) < FUZZY_MIN_CHARS:
            return None
        for name, table in tables:
            titles = table.get(artist_key)
            if not titles:
                continue
            keys = self._scoped_keys.get((name, artist_key))
            if keys is None:
                keys = self._scoped_keys[name, artist_key] = tuple(titles)
            hit = best_fuzzy(text, keys, self._skeleton, titles)
            if hit is not None:
                return hit
        return None

    def artist_of(self, entity_id: str | None) -> str | None:
        """The artist name (as the catalog writes it) of a title entity (track or album), or None.

        Built on first use from the per-artist title tables; the whole map is assigned at
        once, so concurrent callers see either nothing (and build it too) or all of it.
        """
        if entity_id is None:
            return None
        table = self._artist_of
        if table is None:
            table = {e.entity_id: self._artist_name(key) for titles in (self.artist_titles, self.artist_albums)
                     for key, entries in titles.items() for e in entries.values() if e.entity_id}
            self._artist_of = table
        return table.get(entity_id)

    def _artist_name(self, key: str) -> str:
        return next((str(e.value) for e in self.lookup(key) if e.kind == "artist"), key)

    def _skeleton(self, key: str) -> str:
        sk = self._skeletons.get(key)
        if sk is None:
            sk = self._skeletons[key] = skeleton(key)
        return sk

    def __len__(self) -> int:
        return len(self.exact)
