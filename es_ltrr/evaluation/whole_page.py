"""Whole-page precision against catalog truth: is every hit on the page related to the query?

The quality acceptance tests (`tests/quality`) check the top 3–5; users read the whole page.
Each query here carries a judge that decides from the catalog itself whether an entity is
relevant — no hand labels that go stale:

* **known item** (title, artist): other versions of the title (same core title), the artist
  and the artist's tracks and albums — what a page about that song should hold;
* **artist**: the artist and their tracks and albums;
* **genre / subgenre / mood / era** (browse): entities whose own tags say so — tracks by
  their playlist tags and audio-feature moods, albums, artists and playlists by the dominant
  tags of their tracks (the catalog's aggregates), era by release year;
* **activity** ("workout music"): the moods the activity implies;
* **symbol** ("💊"): entities whose name holds the symbol;
* **nonsense**: nothing should be presented as a match — the page must say `no_match`.

Precision@10 of one query = distinct relevant works in the top 10 / min(10, relevant works
in the catalog) — works, because three rows of one recording tell the user one thing
(`es_ltrr.search.collapse`); a page with fewer than 10 hits is not penalized below what the
catalog allows.
`python benchmarks/whole_page.py` prints the table per intent.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..catalog.names import core_title
from ..common.analysis import fold
from ..search.collapse import source_work_key

Source = Mapping[str, Any]
Judge = Callable[[Source], bool]
K = 10


@dataclass(frozen=True)
class PageQuery:
    query: str
    intent: str
    judge: Judge = field(repr=False)
    #: For `nonsense`: the page must be flagged as holding no match.
    expect_no_match: bool = False


def _same(a: Any, b: str) -> bool:
    return isinstance(a, str) and fold(a) == fold(b)


def known_item(title: str, artist: str) -> Judge:
    core = fold(core_title(title))
    return lambda s: fold(core_title(s.get("name") or "")) == core or _same(s.get("artist"), artist)


def by_artist(artist: str, entity_type: str | None = None) -> Judge:
    return lambda s: _same(s.get("artist"), artist) and (entity_type is None or s.get("type") == entity_type)


def tagged(field_name: str, *values: str, also: Judge | None = None) -> Judge:
    wanted = set(values)
    return lambda s: bool(wanted & set(s.get(field_name) or ())) and (also is None or also(s))


def released(start: int, end: int, also: Judge | None = None) -> Judge:
    def judge(s: Source) -> bool:
        year = s.get("release_year")
        return isinstance(year, int) and start <= year < end and (also is None or also(s))
    return judge


def named_with(symbol: str) -> Judge:
    return lambda s: symbol in (s.get("name") or "")


def nothing(_: Source) -> bool:
    return False


def _q(query: str, intent: str, judge: Judge, **kw: Any) -> PageQuery:
    return PageQuery(query, intent, judge, **kw)


#: 64 queries written for whole-page quality (none of them in tests/quality).
QUERIES: tuple[PageQuery, ...] = (
    # known items: the page should be about the song
    _q("back in black", "known_item", known_item("Back In Black", "AC/DC")),
    _q("bohemian rhapsody", "known_item", known_item("Bohemian Rhapsody", "Queen")),
    _q("blinding lights", "known_item", known_item("Blinding Lights", "The Weeknd")),
    _q("old town road", "known_item", known_item("Old Town Road", "Lil Nas X")),
    _q("uptown funk", "known_item", known_item("Uptown Funk", "Mark Ronson")),
    _q("rolling in the deep", "known_item", known_item("Rolling in the Deep", "Adele")),
    _q("hotel california", "known_item", known_item("Hotel California", "Eagles")),
    _q("sweet child o mine", "known_item", known_item("Sweet Child O' Mine", "Guns N' Roses")),
    _q("mr brightside", "known_item", known_item("Mr. Brightside", "The Killers")),
    _q("gangstas paradise", "known_item", known_item("Gangsta's Paradise", "Coolio")),
    _q("hey jude", "known_item", known_item("Hey Jude", "The Beatles")),
    _q("havana camila cabello", "known_item", known_item("Havana", "Camila Cabello")),
    # artists
    _q("drake", "artist", by_artist("Drake")),
    _q("queen", "artist", by_artist("Queen")),
    _q("ac/dc", "artist", by_artist("AC/DC")),
    _q("the weeknd", "artist", by_artist("The Weeknd")),
    _q("shakira", "artist", by_artist("Shakira")),
    _q("linkin park", "artist", by_artist("Linkin Park")),
    _q("daft punk", "artist", by_artist("Daft Punk")),
    _q("adele", "artist", by_artist("Adele")),
    # entity type + artist
    _q("drake albums", "entity_type", by_artist("Drake", "album")),
    _q("queen songs", "entity_type", by_artist("Queen", "track")),
    _q("adele albums", "entity_type", by_artist("Adele", "album")),
    _q("metallica songs", "entity_type", by_artist("Metallica", "track")),
    # genres
    _q("latin", "genre", tagged("genres", "latin")),
    _q("edm music", "genre", tagged("genres", "edm")),
    _q("r&b", "genre", tagged("genres", "r&b")),
    _q("rock songs", "genre", tagged("genres", "rock", also=lambda s: s.get("type") == "track")),
    _q("pop", "genre", tagged("genres", "pop")),
    # subgenres
    _q("gangster rap", "subgenre", tagged("subgenres", "gangster rap")),
    _q("tropical house", "subgenre", tagged("subgenres", "tropical")),
    _q("classic rock", "subgenre", tagged("subgenres", "classic rock")),
    _q("reggaeton", "subgenre", tagged("subgenres", "reggaeton")),
    _q("progressive electro house", "subgenre", tagged("subgenres", "progressive electro house")),
    _q("new jack swing", "subgenre", tagged("subgenres", "new jack swing")),
    _q("indie poptimism", "subgenre", tagged("subgenres", "indie poptimism")),
    _q("southern hip hop", "subgenre", tagged("subgenres", "southern hip hop")),
    # moods
    _q("happy music", "mood", tagged("moods", "happy")),
    _q("chill songs", "mood", tagged("moods", "chill", also=lambda s: s.get("type") == "track")),
    _q("energetic", "mood", tagged("moods", "energetic")),
    _q("melancholy songs", "mood", tagged("moods", "sad", also=lambda s: s.get("type") == "track")),
    _q("sad acoustic songs", "mood", tagged("moods", "sad", also=tagged("moods", "acoustic"))),
    _q("upbeat pop", "mood", tagged("moods", "happy", also=tagged("genres", "pop"))),
    _q("intense rock", "mood", tagged("moods", "intense", also=tagged("genres", "rock"))),
    # eras
    _q("90s hip hop", "era", released(1990, 2000, also=tagged("subgenres", "hip hop", "gangster rap", "southern hip hop"))),
    _q("70s rock", "era", released(1970, 1980, also=tagged("genres", "rock"))),
    _q("2000s pop", "era", released(2000, 2010, also=tagged("genres", "pop"))),
    _q("80s", "era", released(1980, 1990)),
    _q("songs from 2015", "era", released(2015, 2016, also=lambda s: s.get("type") == "track")),
    _q("sixties music", "era", released(1960, 1970)),
    # activities and everyday phrasings
    _q("songs for a rainy day", "activity", tagged("moods", "sad", "chill", "acoustic")),
    _q("workout music", "activity", tagged("moods", "energetic")),
    _q("party songs", "activity", tagged("moods", "danceable")),
    _q("music for studying", "activity", tagged("moods", "chill", "acoustic")),
    _q("sleep", "activity", tagged("moods", "chill", "acoustic")),
    _q("running playlist", "activity", tagged("moods", "energetic")),
    # symbols
    _q("💊", "symbol", named_with("💊")),
    _q("🔥🔥🔥", "symbol", named_with("🔥")),
    _q("🌴", "symbol", named_with("🌴")),
    _q("💎", "symbol", named_with("💎")),
    # nonsense: nothing should be presented as a match
    _q("asdkjh qwpoeiru zxmnv", "nonsense", nothing, expect_no_match=True),
    _q("qwxzv", "nonsense", nothing, expect_no_match=True),
    _q("zzkrrt vbbnm", "nonsense", nothing, expect_no_match=True),
    _q("xqjw plmk", "nonsense", nothing, expect_no_match=True),
)


def relevant_count(query: PageQuery, entities: Iterable[Source]) -> int:
    """Distinct relevant works in the catalog (a page shows one hit per work)."""
    return len({source_work_key(str(e.get("id")), e) for e in entities if query.judge(e)})


def precision_at_k(query: PageQuery, hits: Sequence[Source], n_relevant: int,
                   no_match: bool, k: int = K) -> float:
    """Share of the page that is relevant, capped by what the catalog holds (see module doc)."""
    if query.expect_no_match:
        return 1.0 if (no_match or not hits) else 0.0
    if n_relevant == 0:
        raise ValueError(f"query {query.query!r} has no relevant entity in the catalog: fix its judge")
    works = {source_work_key(str(s.get("id")), s) for s in hits[:k] if query.judge(s)}
    return len(works) / min(k, n_relevant)


@dataclass
class PageReport:
    """Precision@10 per query and per intent."""

    per_query: dict[str, float] = field(default_factory=dict)
    intents: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def add(self, query: PageQuery, value: float) -> None:
        self.per_query[query.query] = value
        self.intents[query.intent].append(value)

    def by_intent(self) -> dict[str, float]:
        return {intent: sum(v) / len(v) for intent, v in self.intents.items()}

    def overall(self) -> float:
        values = list(self.per_query.values())
        return sum(values) / len(values) if values else 0.0

    def rows(self) -> list[list[Any]]:
        return [[intent, len(v), round(sum(v) / len(v), 3)] for intent, v in self.intents.items()] + [
            ["all", len(self.per_query), round(self.overall(), 3)]]


def evaluate(search: Callable[[str], tuple[list[Source], bool]], entities: Sequence[Source],
             queries: Sequence[PageQuery] = QUERIES) -> PageReport:
    """Run `search(query) → (page sources, no_match)` over `queries` and judge every page."""
    report = PageReport()
    for q in queries:
        hits, no_match = search(q.query)
        report.add(q, precision_at_k(q, hits, relevant_count(q, entities), no_match))
    return report
