"""Query understanding: gazetteer tagging from the catalog, misspellings, intent.

:func:`understand` turns a raw query into an :class:`Understanding`: its normalized text and
tokens (from :mod:`es_ltrr.analysis`, the one notion of a token), non-overlapping
:class:`Slot` s and an intent.

Tagging
-------
1. **Exact** — every n-gram of up to :data:`MAX_NGRAM` tokens is looked up in the folded
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
   a score ≥ :data:`FUZZY_CUTOFF`; results are cached per n-gram.
3. **Selection** — among all candidates, the non-overlapping set with the highest
   Σ confidence × span length × kind weight wins (dynamic programming; on a tie, fewer
   and longer slots). Vocabulary and artists weigh 1.0, titles less (track 0.8, album
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
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Mapping

from rapidfuzz import fuzz, process

from es_ltrr.analysis import normalize_query, words
from es_ltrr.catalog.moods import MOODS
from es_ltrr.catalog.queries import core_title, without_apostrophes

#: Slot kinds, in tie-break order (earlier wins when two kinds tie for the same span).
KINDS: tuple[str, ...] = (
    "entity_type",
    "era",
    "mood",
    "subgenre",
    "genre",
    "artist",
    "track",
    "album",
    "playlist",
)
INTENTS: tuple[str, ...] = ("known_item", "artist", "genre", "mood", "entity_browse", "unknown")

MAX_NGRAM = 6
MAX_TOKENS = 32  # tokens beyond this are left in the residual
FUZZY_MAX_TOKENS = 4
FUZZY_MIN_CHARS = 4
FUZZY_CUTOFF = 80.0
_FUZZY_SHORTLIST = 12
_FUZZY_CACHE_SIZE = 50_000

#: A single word within an edit or two of *some* name among ~60k is weak evidence; it
#: should not outvote a whole query that fuzzily matches one title ("bohemian rhapsdy" is
#: Queen's song, not the artists "Bohemia" + "Rapsody").
FUZZY_SINGLE_TOKEN_WEIGHT = 0.6

KIND_WEIGHT: dict[str, float] = {
    "entity_type": 1.0,
    "era": 1.0,
    "mood": 1.0,
    "subgenre": 1.0,
    "genre": 1.0,
    "artist": 1.0,
    "track": 0.8,
    "album": 0.75,
    "playlist": 0.7,
}
_KIND_RANK = {k: i for i, k in enumerate(KINDS)}
_VOCAB_KINDS = frozenset({"entity_type", "era", "mood", "subgenre", "genre"})
_TITLE_KINDS = frozenset({"track", "album", "playlist"})

# Entry priors (the confidence of an exact hit).
FULL = 1.0
VARIANT = 0.9
ALIAS = 0.7
AMBIGUOUS_ARTIST = 0.8  # one-word artist names that are common title words ("future")
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

STOPWORDS = frozenset(
    """a an and the of by in on at for to from with my me you your i it is be we us
    feat ft featuring vs lil dj mc big young little boys girls band crew brothers
    sisters official best top new old hits music remix mix live version edit original
    la el los las de del le les y""".split()
)

#: Mood vocabulary (the catalog's moods) and the words people use for them.
MOOD_SYNONYMS: dict[str, tuple[str, ...]] = {
    "happy": (
        "happy", "upbeat", "cheerful", "joyful", "feel good", "feelgood", "positive",
        "sunny", "uplifting",
    ),
    "sad": (
        "sad", "melancholy", "melancholic", "depressing", "heartbreak", "heartbroken",
        "gloomy", "sorrowful", "crying",
    ),
    "energetic": ("energetic", "energy", "workout", "gym", "running", "pump up", "hype", "power"),
    "chill": (
        "chill", "relaxing", "relax", "calm", "mellow", "chillout", "chill out", "laid back",
        "soothing", "study", "sleep",
    ),
    "danceable": ("danceable", "dance", "dancing", "party", "club", "groovy"),
    "acoustic": ("acoustic", "unplugged"),
    "intense": ("intense", "angry", "aggressive", "rage", "heavy", "dark"),
}

ENTITY_TYPE_WORDS: dict[str, tuple[str, ...]] = {
    "track": ("song", "songs", "track", "tracks", "tune", "tunes", "single", "singles"),
    "artist": (
        "artist", "artists", "band", "bands", "singer", "singers", "rapper", "rappers",
        "musician", "musicians",
    ),
    "album": ("album", "albums", "record", "records", "ep", "eps", "lp", "lps"),
    "playlist": ("playlist", "playlists", "mix", "mixes"),
    "genre": ("genre", "genres"),
    "subgenre": ("subgenre", "subgenres", "sub genre", "sub genres"),
}

#: Genre keyword → other ways to say it (used only when the keyword is in the catalog).
GENRE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "r&b": ("rnb", "r and b", "randb", "rhythm and blues"),
    "edm": ("electronic", "electronic dance music", "dance music", "electronica"),
    "rap": ("rappers",),
    "rock": ("rock and roll", "rock n roll"),
    "hip hop": ("hiphop", "hip hop music"),
    "latin": ("latino", "musica latina"),
    "reggaeton": ("regueton", "reggaeton music"),
}

_DECADE_WORDS = {
    "fifties": 1950,
    "sixties": 1960,
    "seventies": 1970,
    "eighties": 1980,
    "nineties": 1990,
    "noughties": 2000,
    "aughts": 2000,
    "twenties": 2020,
}
_DECADE = re.compile(r"^(?:(19|20)([0-9])0|([0-9])0)s$", re.ASCII)
_YEAR = re.compile(r"^(19[0-9]{2}|20[0-9]{2})$", re.ASCII)
_DIGITS2_OR_4 = re.compile(r"^(?:19|20)?[0-9]0$", re.ASCII)


# --- data ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """A tagged part of the query: tokens ``span[0]:span[1]`` (half-open) are `kind`."""

    kind: str
    value: Any
    span: tuple[int, int]
    confidence: float
    matched: str
    entity_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["span"] = list(self.span)
        return out


@dataclass(frozen=True)
class Understanding:
    """What a query asks for: tokens, slots, intent and the words left over."""

    text: str
    normalized: str
    tokens: tuple[str, ...]
    slots: tuple[Slot, ...]
    intent: str
    intent_confidence: float
    residual: tuple[str, ...] = field(default=())

    def first(self, kind: str) -> Slot | None:
        """The first slot of `kind` in query order, or None."""
        return next((s for s in self.slots if s.kind == kind), None)

    def all(self, kind: str) -> tuple[Slot, ...]:
        """Every slot of `kind`, in query order."""
        return tuple(s for s in self.slots if s.kind == kind)

    def has(self, kind: str) -> bool:
        return any(s.kind == kind for s in self.slots)

    @property
    def coverage(self) -> float:
        """Share of content tokens (not stopwords) inside a slot; 0 for an empty query."""
        return _coverage(self.slots, self.tokens)

    @property
    def residual_text(self) -> str:
        return " ".join(self.residual)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "normalized": self.normalized,
            "tokens": list(self.tokens),
            "slots": [s.to_dict() for s in self.slots],
            "intent": self.intent,
            "intent_confidence": self.intent_confidence,
            "residual": list(self.residual),
        }


@dataclass(frozen=True, slots=True)
class Entry:
    """One gazetteer value under a key: its kind, value, prior confidence, popularity."""

    kind: str
    value: Any
    prior: float
    popularity: float = 0.0
    entity_id: str | None = None

    def rank(self) -> tuple[float, int, float]:
        """Sort key (larger is better) among entries of one key."""
        return (self.prior * KIND_WEIGHT[self.kind], -_KIND_RANK[self.kind], self.popularity)


# --- phonetic skeleton --------------------------------------------------------------

_SKELETON_RULES = (
    (re.compile(r"ph"), "f"),
    (re.compile(r"ck"), "k"),
    (re.compile(r"qu"), "kw"),
    (re.compile(r"c(?=[eiy])"), "s"),
    (re.compile(r"c"), "k"),
    (re.compile(r"z"), "s"),
    (re.compile(r"x"), "ks"),
    (re.compile(r"[aeiouy]"), "*"),
    (re.compile(r"([^*\s])\1+"), r"\1"),
)


def skeleton(text: str) -> str:
    """A rough phonetic key: vowels → "*", c/k/s and ph/f merged, doubled letters once.

    >>> skeleton("tayler") == skeleton("taylor"), skeleton("beyonse") == skeleton("beyonce")
    (True, True)
    >>> skeleton("metalica") == skeleton("metallica")
    True
    """
    for pattern, repl in _SKELETON_RULES:
        text = pattern.sub(repl, text)
    return text


# --- eras ---------------------------------------------------------------------------


def era_of(tokens: tuple[str, ...]) -> dict[str, int] | None:
    """A year range for "80s", "1980s", "80 s" ("'80's"), "eighties" or "1987".

    >>> era_of(("80s",)), era_of(("2000s",)), era_of(("1987",))
    ({'gte': 1980, 'lt': 1990}, {'gte': 2000, 'lt': 2010}, {'gte': 1987, 'lt': 1988})
    >>> era_of(("10s",)), era_of(("90", "s")), era_of(("love",))
    ({'gte': 2010, 'lt': 2020}, {'gte': 1990, 'lt': 2000}, None)
    """
    if len(tokens) == 2 and tokens[1] == "s" and _DIGITS2_OR_4.match(tokens[0]):
        return era_of((tokens[0] + "s",))
    if len(tokens) != 1:
        return None
    token = tokens[0]
    if token in _DECADE_WORDS:
        start = _DECADE_WORDS[token]
        return {"gte": start, "lt": start + 10}
    m = _DECADE.match(token)
    if m:
        if m.group(1):
            start = int(m.group(1)) * 100 + int(m.group(2)) * 10
        else:
            d = int(m.group(3))
            start = (2000 if d <= 2 else 1900) + d * 10
        return {"gte": start, "lt": start + 10}
    m = _YEAR.match(token)
    if m:
        year = int(m.group(1))
        return {"gte": year, "lt": year + 1}
    return None


# --- gazetteer ----------------------------------------------------------------------


def _key(text: str) -> str:
    return normalize_query(text)


class Gazetteer:
    """Folded keys → entries, a bucketed fuzzy index and per-artist title maps.

    Build it with :meth:`from_entities`; it is read-only afterwards (apart from the fuzzy
    result cache) and safe to share between threads.
    """

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Entry]] = {}
        self.exact: dict[str, tuple[Entry, ...]] = {}
        self._fuzzy_entry: dict[str, Entry] = {}
        self._skeletons: dict[str, str] = {}
        self._by_first: dict[str, dict[int, list[str]]] = {}
        self._buckets: dict[tuple[str, int], list[str]] = {}
        self._fuzzy_cache: dict[str, tuple[Entry, float, str] | None] = {}
        #: normalized artist name → {normalized title → track entry}; albums apart
        self.artist_titles: dict[str, dict[str, Entry]] = {}
        self.artist_albums: dict[str, dict[str, Entry]] = {}
        self._scoped_keys: dict[tuple[str, str], list[str]] = {}

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
        ordered = sorted(self._fuzzy_entry, key=lambda k: -self._fuzzy_entry[k].popularity)
        for key in ordered:
            self._by_first.setdefault(key[0], {}).setdefault(len(key), []).append(key)

    @classmethod
    def from_entities(cls, entities: Iterable[Mapping[str, Any]]) -> "Gazetteer":
        """A gazetteer of the catalog's names plus the built-in vocabulary."""
        gaz = cls()
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
            if kind in _TITLE_KINDS:
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
        for word, start in _DECADE_WORDS.items():
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
            if len(tokens) == 1 and title_df[key] >= ALIAS_MAX_TITLE_DF:
                prior = AMBIGUOUS_ARTIST
            fuzzy = pop >= FUZZY_ARTIST_MIN_POPULARITY
            self.add(key, Entry("artist", name, prior, pop, eid), fuzzy)
            for variant in _name_variants(name):
                if variant != key:
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
            k for k in (_key(core), _key(name), _key(without_apostrophes(core))) if k
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

    def _bucket(self, first: str, length: int) -> list[str]:
        bucket = self._buckets.get((first, length))
        if bucket is None:
            by_len = self._by_first.get(first, {})
            delta = max(2, length // 3)
            lengths = range(length - delta, length + delta + 1)
            bucket = [k for n in lengths for k in by_len.get(n, ())]
            bucket.sort(key=lambda k: -self._fuzzy_entry[k].popularity)
            self._buckets[first, length] = bucket
        return bucket

    def fuzzy(self, text: str) -> tuple[Entry, float, str] | None:
        """Best fuzzy entry for a normalized n-gram: (entry, score 0..1, matched key)."""
        if text in self._fuzzy_cache:
            return self._fuzzy_cache[text]
        bucket = self._bucket(text[0], len(text))
        result = _best_fuzzy(text, bucket, self._skeleton, self._fuzzy_entry)
        if len(self._fuzzy_cache) >= _FUZZY_CACHE_SIZE:
            self._fuzzy_cache.clear()
        self._fuzzy_cache[text] = result
        return result

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
                keys = self._scoped_keys[name, artist_key] = list(titles)
            hit = _best_fuzzy(text, keys, self._skeleton, titles)
            if hit is not None:
                return hit
        return None

    def _skeleton(self, key: str) -> str:
        sk = self._skeletons.get(key)
        if sk is None:
            sk = self._skeletons[key] = skeleton(key)
        return sk

    def __len__(self) -> int:
        return len(self.exact)

    def __getstate__(self) -> dict[str, Any]:
        # caches are rebuilt on demand; pickles (the persisted index) stay small
        state = dict(self.__dict__)
        state["_entries"] = {}
        state["_buckets"] = {}
        state["_fuzzy_cache"] = {}
        state["_scoped_keys"] = {}
        return state


def _name_variants(name: str) -> list[str]:
    """Other typed forms of an artist name: without "the", "and" for "&", "$" → "s"."""
    out = [_key(without_apostrophes(name))]
    tokens = _key(name).split(" ")
    rest = " ".join(tokens[1:])
    if len(tokens) > 1 and tokens[0] == "the" and len(rest) >= 4 and rest not in STOPWORDS:
        out.append(rest)
    if "&" in name:
        out.append(_key(name.replace("&", " and ")))
    if "$" in name or "!" in name:
        out.append(_key(name.replace("$", "s").replace("!", "i")))
    return [v for v in out if v]


def _best_fuzzy(
    text: str,
    choices: list[str],
    skeleton_of: Callable[[str], str],
    entries: Mapping[str, Entry],
) -> tuple[Entry, float, str] | None:
    """Shortlist by `fuzz.ratio`, rescore with the skeleton ratio, ties → popular."""
    if not choices:
        return None
    # the skeleton ratio is at most 100, so the raw ratio must reach 2·cutoff − 100
    floor = 2 * FUZZY_CUTOFF - 100
    shortlist = process.extract(
        text, choices, scorer=fuzz.ratio, limit=_FUZZY_SHORTLIST, score_cutoff=floor
    )
    if not shortlist:
        return None
    sk = skeleton(text)
    best: tuple[float, float] | None = None
    found: tuple[Entry, float, str] | None = None
    for key, raw, _ in shortlist:
        # the skeleton may only help: max(raw, mean(raw, skeleton ratio))
        score = max(raw, 0.5 * raw + 0.5 * fuzz.ratio(sk, skeleton_of(key)))
        entry = entries[key]
        rank = (round(score, 6), entry.popularity)
        if score >= FUZZY_CUTOFF and (best is None or rank > best):
            best, found = rank, (entry, score / 100.0, key)
    return found


# --- understanding ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Candidate:
    slot: Slot
    weight: float


def _fuzzy_eligible(tokens: tuple[str, ...], text: str) -> bool:
    """Worth a fuzzy lookup: ≥ 4 characters, ≤ 4 tokens, not only stopwords or digits."""
    if len(tokens) > FUZZY_MAX_TOKENS or len(text) < FUZZY_MIN_CHARS:
        return False
    return not all(t in STOPWORDS or t.isdigit() for t in tokens)


def _candidates(tokens: tuple[str, ...], gaz: Gazetteer) -> list[_Candidate]:
    out: list[_Candidate] = []
    n = len(tokens)
    for i in range(n):
        for j in range(i + 1, min(n, i + MAX_NGRAM) + 1):
            gram = tokens[i:j]
            text = " ".join(gram)
            slot: Slot | None = None
            fuzzy_single = False
            era = era_of(gram) if j - i <= 2 else None
            entries = gaz.lookup(text)
            if era is not None:
                slot = Slot("era", era, (i, j), 1.0, text)
            elif entries:
                e = entries[0]
                slot = Slot(e.kind, e.value, (i, j), e.prior, text, e.entity_id)
            elif _fuzzy_eligible(gram, text):
                hit = gaz.fuzzy(text)
                if hit is not None:
                    e, score, key = hit
                    conf = round(score * e.prior, 3)
                    slot = Slot(e.kind, e.value, (i, j), conf, key, e.entity_id)
                    fuzzy_single = j - i == 1 and e.kind not in _VOCAB_KINDS
            if slot is not None:
                # a fuzzy hit counts for no more tokens than the key it matched, so
                # "billie eilish bad" ≈ "billie eilish" cannot outweigh the exact name
                length = min(j - i, slot.matched.count(" ") + 1)
                weight = slot.confidence * length * KIND_WEIGHT[slot.kind]
                if fuzzy_single:
                    weight *= FUZZY_SINGLE_TOKEN_WEIGHT
                out.append(_Candidate(slot, weight))
    return out


def _select(candidates: list[_Candidate], n: int) -> list[Slot]:
    """Non-overlapping slots maximizing Σ weight; ties → fewer slots, then earlier kinds."""
    starting: dict[int, list[_Candidate]] = {}
    for c in candidates:
        starting.setdefault(c.slot.span[0], []).append(c)
    # best[i] = (score, -n_slots, slots) for tokens[i:]
    best: list[tuple[float, int, tuple[Slot, ...]]] = [(0.0, 0, ())] * (n + 1)
    for i in range(n - 1, -1, -1):
        choice = best[i + 1]
        for c in starting.get(i, ()):
            score, count, slots = best[c.slot.span[1]]
            option = (round(score + c.weight, 9), count - 1, (c.slot, *slots))
            if option[:2] > choice[:2]:
                choice = option
        best[i] = choice
    return list(best[0][2])


def _resolve_artist_titles(
    slots: list[Slot], n: int, tokens: tuple[str, ...], gaz: Gazetteer
) -> list[Slot]:
    """Match the non-vocabulary rest of the query against a tagged artist's titles.

    Each artist slot is tried in turn (strongest first); the first one whose titles match
    some rest of the query wins. Slots of a rest that matches nothing are kept as tagged.
    """
    artists = sorted(
        (s for s in slots if s.kind == "artist"),
        key=lambda s: -(s.confidence * (s.span[1] - s.span[0])),
    )
    wanted = next((s.value for s in slots if s.kind == "entity_type"), None)
    for artist in artists:
        resolved = _resolve_for(artist, slots, n, tokens, gaz, wanted)
        if resolved is not None:
            return resolved
    return slots


def _gaps(spans: Iterable[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """Maximal token ranges inside [start, end) that no span covers."""
    taken = [False] * (end - start)
    for a, b in spans:
        for k in range(max(a, start), min(b, end)):
            taken[k - start] = True
    out, i = [], start
    while i < end:
        if taken[i - start]:
            i += 1
            continue
        j = i
        while j < end and not taken[j - start]:
            j += 1
        out.append((i, j))
        i = j
    return out


def _scoped_slot(hit: tuple[Entry, float, str], span: tuple[int, int]) -> Slot:
    entry, score, key = hit
    prior = SCOPED_EXACT if score >= 1.0 else SCOPED_FUZZY
    conf = round(min(score, 1.0) * prior, 3)
    return Slot(entry.kind, entry.value, span, conf, key, entry.entity_id)


def _resolve_for(
    artist: Slot,
    slots: list[Slot],
    n: int,
    tokens: tuple[str, ...],
    gaz: Gazetteer,
    wanted: Any,
) -> list[Slot] | None:
    artist_key = _key(str(artist.value))
    if artist_key not in gaz.artist_titles and artist_key not in gaz.artist_albums:
        return None
    out = [artist]
    found = False
    for i, j in _gaps([artist.span], 0, n):
        inside = [s for s in slots if s is not artist and i <= s.span[0] and s.span[1] <= j]
        vocab = [s for s in inside if s.kind in _VOCAB_KINDS]
        if vocab:  # the whole rest may be a title made of vocabulary words: "happy now"
            hit = gaz.artist_title(artist_key, " ".join(tokens[i:j]), wanted, fuzzy=False)
            if hit is not None:
                out.append(_scoped_slot(hit, (i, j)))
                found = True
                continue
        out.extend(vocab)
        for a, b in _gaps([s.span for s in vocab], i, j):
            hit = gaz.artist_title(artist_key, " ".join(tokens[a:b]), wanted)
            if hit is not None:
                out.append(_scoped_slot(hit, (a, b)))
                found = True
            else:
                out.extend(
                    s for s in inside if s not in vocab and a <= s.span[0] and s.span[1] <= b
                )
    return sorted(out, key=lambda s: s.span) if found else None


def _coverage(slots: Iterable[Slot], tokens: tuple[str, ...]) -> float:
    """Share of the content tokens (stopwords don't count, unless all are) in a slot."""
    covered = {k for s in slots for k in range(*s.span)}
    content = [k for k, t in enumerate(tokens) if t not in STOPWORDS] or range(len(tokens))
    if not content:
        return 0.0
    return sum(1 for k in content if k in covered) / len(content)


def _intent(slots: list[Slot], tokens: tuple[str, ...]) -> tuple[str, float]:
    if not slots:
        return "unknown", 0.0
    n = len(tokens)
    coverage = _coverage(slots, tokens)

    def pick(kinds: Iterable[str]) -> Slot | None:
        found = [s for s in slots if s.kind in kinds]
        return max(found, key=lambda s: (s.span[1] - s.span[0], s.confidence)) if found else None

    artist = pick(("artist",))
    title = pick(("track", "album"))
    named = pick(("track", "album", "playlist"))
    if artist and title:
        return "known_item", min(artist.confidence, title.confidence) * coverage
    if named and (named.span[1] - named.span[0]) >= 0.6 * n and (
        named.confidence > ONE_WORD_TITLE or len(slots) == 1
    ):
        return "known_item", named.confidence * coverage
    if artist:
        return "artist", artist.confidence * coverage
    genre = pick(("genre", "subgenre"))
    if genre:
        return "genre", genre.confidence * coverage
    mood = pick(("mood",))
    if mood:
        return "mood", mood.confidence * coverage
    if named and named.confidence > ONE_WORD_TITLE:
        return "known_item", named.confidence * coverage
    browse = pick(("entity_type", "era"))
    if browse:
        return "entity_browse", browse.confidence * coverage
    return "unknown", 0.0


#: Intent confidence is multiplied by this when two slots of one name kind compete
#: ("bohemian rapsody" → artists Bohemia + Rapsody): few real queries name two artists, so
#: such a reading is more often a misspelt title, and retrieval should not trust it fully.
AMBIGUITY_DISCOUNT = 0.5


def _competing_names(slots: Iterable[Slot]) -> bool:
    kinds = [s.kind for s in slots if s.kind in ("artist", "track", "album", "playlist")]
    return len(kinds) != len(set(kinds))


def understand(query: str, gaz: Gazetteer) -> Understanding:
    """Tag `query` against `gaz` and decide its intent (see the module docstring)."""
    normalized = normalize_query(query)
    tokens = tuple(normalized.split(" ")) if normalized else ()
    n = min(len(tokens), MAX_TOKENS)
    head = tokens[:n]
    slots = _select(_candidates(head, gaz), n)
    slots = _resolve_artist_titles(slots, n, head, gaz)
    intent, confidence = _intent(slots, tokens)
    if _competing_names(slots):
        confidence *= AMBIGUITY_DISCOUNT
    covered = {k for s in slots for k in range(*s.span)}
    residual = tuple(t for k, t in enumerate(tokens) if k not in covered)
    return Understanding(
        text=query,
        normalized=normalized,
        tokens=tokens,
        slots=tuple(slots),
        intent=intent,
        intent_confidence=round(min(max(confidence, 0.0), 1.0), 3),
        residual=residual,
    )
