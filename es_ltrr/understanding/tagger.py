"""The tagger: n-gram candidates from the gazetteer, the best non-overlapping selection,
titles scoped to a tagged artist, and the intent (rules in the package docstring).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Iterable

from es_ltrr.common.analysis import is_symbol, normalize_query
from es_ltrr.understanding.gazetteer import (
    FUZZY_MIN_CHARS,
    ONE_WORD_TITLE,
    SCOPED_EXACT,
    SCOPED_FUZZY,
    Entry,
    Gazetteer,
)
from es_ltrr.understanding.vocabulary import KIND_WEIGHT, STOPWORDS, VOCAB_KINDS, era_of

MAX_NGRAM = 6
MAX_TOKENS = 32  # tokens beyond this are left in the residual
FUZZY_MAX_TOKENS = 4

#: A single word within an edit or two of *some* name among ~60k is weak evidence; it
#: should not outvote a whole query that fuzzily matches one title ("bohemian rhapsdy" is
#: Queen's song, not the artists "Bohemia" + "Rapsody").
FUZZY_SINGLE_TOKEN_WEIGHT = 0.6


@dataclass(frozen=True)
class Slot:
    """A tagged part of the query: tokens ``span[0]:span[1]`` (half-open) are `kind`."""

    kind: str
    value: Any
    span: tuple[int, int]
    confidence: float
    matched: str
    entity_id: str | None = None
    #: For a track or album title: its artist, so "back in black" is understood
    #: as AC/DC's song and a page about it can hold the artist's other work.
    artist: str | None = None

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
    def misspelled(self) -> bool:
        """A slot matched a name spelled otherwise than the query ("tayler" → "taylor"): the
        query likely has a misspelling. The arms turn fuzziness on only then (it is their
        most expensive part on a cluster, and most queries are spelled right)."""
        return any(s.matched != " ".join(self.tokens[s.span[0]:s.span[1]]) for s in self.slots)

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
class _Candidate:
    slot: Slot
    weight: float
    fuzzy: bool = False

    @property
    def exact_vocabulary(self) -> bool:
        return not self.fuzzy and self.slot.kind in VOCAB_KINDS


def _fuzzy_eligible(tokens: tuple[str, ...], text: str) -> bool:
    """Worth a fuzzy lookup: ≥ 4 characters, ≤ 4 tokens, not only stopwords, digits or
    symbols (an emoji is no misspelling of anything)."""
    if len(tokens) > FUZZY_MAX_TOKENS or len(text) < FUZZY_MIN_CHARS:
        return False
    return not all(t in STOPWORDS or t.isdigit() or is_symbol(t) for t in tokens)


def _candidates(tokens: tuple[str, ...], gaz: Gazetteer) -> list[_Candidate]:
    out: list[_Candidate] = []
    n = len(tokens)
    for i in range(n):
        for j in range(i + 1, min(n, i + MAX_NGRAM) + 1):
            gram = tokens[i:j]
            text = " ".join(gram)
            slot: Slot | None = None
            fuzzy = fuzzy_single = False
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
                    fuzzy = True
                    fuzzy_single = j - i == 1 and e.kind not in VOCAB_KINDS
            if slot is not None:
                # a fuzzy hit counts for no more tokens than the key it matched, so
                # "billie eilish bad" ≈ "billie eilish" cannot outweigh the exact name
                length = min(j - i, slot.matched.count(" ") + 1)
                weight = slot.confidence * length * KIND_WEIGHT[slot.kind]
                if fuzzy_single:
                    weight *= FUZZY_SINGLE_TOKEN_WEIGHT
                out.append(_Candidate(slot, weight, fuzzy))
    return _vocabulary_first(out, tokens)


def _vocabulary_first(candidates: list[_Candidate], tokens: tuple[str, ...]) -> list[_Candidate]:
    """Drop fuzzy name matches that overrule exact vocabulary.

    A word that *is* a mood, activity, era, genre or entity-type word means that; a name a
    few edits away is a guess ("rainy day" is a mood, not the artist Randy + the artist DAY;
    "songs for a" is not the album "Songs for Dads"). A fuzzy name may cover vocabulary
    only when those words are part of the name and it also explains another content word
    ("happy togethr" → "Happy Together").
    """
    vocab = {k for c in candidates if c.exact_vocabulary for k in range(*c.slot.span)}

    def allowed(c: _Candidate) -> bool:
        span = range(*c.slot.span)
        if not c.fuzzy or c.slot.kind in VOCAB_KINDS or not vocab.intersection(span):
            return True
        name = set(c.slot.matched.split(" "))
        return all(tokens[k] in name for k in span if k in vocab) and any(
            k not in vocab and tokens[k] not in STOPWORDS for k in span
        )

    return [c for c in candidates if allowed(c)]


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
    artist_key = normalize_query(str(artist.value))
    if artist_key not in gaz.artist_titles and artist_key not in gaz.artist_albums:
        return None
    out = [artist]
    found = False
    for i, j in _gaps([artist.span], 0, n):
        inside = [s for s in slots if s is not artist and i <= s.span[0] and s.span[1] <= j]
        vocab = [s for s in inside if s.kind in VOCAB_KINDS]
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


def _with_artist(slot: Slot, gaz: Gazetteer) -> Slot:
    if slot.kind not in ("track", "album"):
        return slot
    artist = gaz.artist_of(slot.entity_id)
    return replace(slot, artist=artist) if artist else slot


def understand(query: str, gaz: Gazetteer) -> Understanding:
    """Tag `query` against `gaz` and decide its intent (see the module docstring)."""
    normalized = normalize_query(query)
    tokens = tuple(normalized.split(" ")) if normalized else ()
    n = min(len(tokens), MAX_TOKENS)
    head = tokens[:n]
    slots = _select(_candidates(head, gaz), n)
    slots = _resolve_artist_titles(slots, n, head, gaz)
    slots = [_with_artist(s, gaz) for s in slots]
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
