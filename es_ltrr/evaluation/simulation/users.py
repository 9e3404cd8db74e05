"""Simulated users: the queries they type, what they count as relevant, and where they click.

The bandit simulator needs users whose behaviour it does not learn from the system under
test. A user here has an **intent** (:data:`INTENTS`), a **target** entity it wants (for a
broad intent, one representative it would be happy with), and a set of **relevant**
entities computed from the catalog's fields (never from any arm's output):

* navigational intents — ``known_item``, ``known_item_typo``, ``partial_title``, ``artist``,
  ``artist_typo`` — want one entity; the other versions of the same work (same core title
  and artist) are relevant too, the artist's other songs earn grade 1 for nDCG;
* broad intents — ``genre``, ``mood``, ``mood_genre``, ``era_genre``, ``entity_type`` —
  want anything meeting every constraint the query states (mood AND genre, genre AND
  decade, playlists of a genre, albums of an artist), cut to the
  :attr:`QueryGenerator.max_relevant` most popular matches: nobody pages through 9,000
  rock songs, and recall against such a set would measure nothing.

Targets are drawn popularity-biased with a long tail (weight ``exp(popularity / 20)``:
a popularity-80 track is searched 20× as often as a popularity-20 one, yet the 77 % of the
Spotify tracks below popularity 60 still get about 40 % of the known-item searches).
Each target is in the train or the holdout share by a hash of its id (:func:`is_holdout`),
so the queries a policy learns from and the queries a report scores never share a target.


**Independence from the cold-start Q2E generator** (:mod:`es_ltrr.catalog.queries`). The
q2e arm is seeded with the queries that module predicts; users typing exactly those would
make the arm look perfect by construction. So nothing here imports its templates or its
typo model. Users phrase requests with their own templates ("play X by Y", "Y's X",
"songs like X", "rock from the 90s", "albums by Y", "something to cry to"), paraphrase
moods with words query understanding may or may not know, misspell with their own model
(:mod:`es_ltrr.evaluation.simulation.typos`) and drop words of long titles. Only the bare title or
artist name — which real users do type — coincides with a predicted query; the unit test
measures that share.

Clicks follow a position-based model (:mod:`es_ltrr.evaluation.simulation.clicks`).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from itertools import islice
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from es_ltrr.catalog.names import core_title

from .catalog_index import CatalogIndex, TargetPool, labels, norm
from .phrasing import (
    ARTIST_TEMPLATES,
    GENRE_COLLOQUIAL,
    GENRE_TEMPLATES,
    MOOD_ACTIVITIES,
    MOOD_ADJECTIVES,
    MOOD_PHRASES,
    TRACK_TEMPLATES,
    decade_forms,
    weighted,
)
from .typos import drop_words, misspell_text

INTENTS: tuple[str, ...] = (
    "known_item",
    "known_item_typo",
    "artist",
    "artist_typo",
    "genre",
    "mood",
    "mood_genre",
    "era_genre",
    "entity_type",
    "partial_title",
)

#: Share of each intent. Music search logs are mostly navigational (a song or an artist by
#: name, about 60 % here, with one in five of those misspelt or half-remembered); the rest
#: is browsing by genre, mood, era or entity type. Override with ``QueryGenerator(mix=...)``.
INTENT_MIX: Mapping[str, float] = MappingProxyType(
    {
        "known_item": 0.25,
        "known_item_typo": 0.07,
        "partial_title": 0.06,
        "artist": 0.15,
        "artist_typo": 0.05,
        "genre": 0.08,
        "mood": 0.09,
        "mood_genre": 0.09,
        "era_genre": 0.08,
        "entity_type": 0.08,
    }
)

#: Intents after which a user who has clicked the target stops examining the page.
NAVIGATIONAL: frozenset[str] = frozenset(
    {"known_item", "known_item_typo", "partial_title", "artist", "artist_typo"}
)

#: Share of targets held out for reports (decided by a hash of the target id).
HOLDOUT_SHARE = 0.2
#: Popularity temperature of target sampling: weight = exp(popularity / TEMPERATURE).
POPULARITY_TEMPERATURE = 20.0
#: Broad intents count at most this many (most popular) matches as relevant.
MAX_RELEVANT = 200
#: Graded relevance for nDCG.
GRADE_TARGET, GRADE_RELEVANT, GRADE_RELATED = 3, 2, 1


@dataclass(frozen=True)
class SimulatedQuery:
    """One search a simulated user makes: the text, why, and what would satisfy it."""

    text: str
    intent: str
    target: str
    relevant: frozenset[str]
    grades: Mapping[str, int] = field(default_factory=dict, hash=False)
    holdout: bool = False

    def grade(self, entity_id: str) -> int:
        """Graded relevance of `entity_id` (0 when unrelated)."""
        return self.grades.get(entity_id, GRADE_RELEVANT if entity_id in self.relevant else 0)


# --- the train/report split ---------------------------------------------------------


def is_holdout(entity_id: str, share: float = HOLDOUT_SHARE) -> bool:
    """Deterministic train/report split of targets: a hash of the id, not of any seed."""
    digest = hashlib.sha1(f"holdout:{entity_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def split(ids: Iterable[str], share: float = HOLDOUT_SHARE) -> tuple[list[str], list[str]]:
    """(train ids, holdout ids), by :func:`is_holdout`."""
    train: list[str] = []
    holdout: list[str] = []
    for i in ids:
        (holdout if is_holdout(i, share) else train).append(i)
    return train, holdout


# --- the generator --------------------------------------------------------------------


class QueryGenerator:
    """Simulated users' queries over a catalog, split into train and holdout targets.

    Parameters
    ----------
    entities : the catalog's entity dicts (``id``, ``type``, ``name``, ``artist``, ``genres``,
        ``subgenres``, ``moods``, ``popularity``, ``release_year``).
    seed : seeds :meth:`sample`; :meth:`generate` takes its own seed.
    mix : intent → weight (default :data:`INTENT_MIX`); intents without any possible
        target in the catalog are skipped and the rest renormalized.
    holdout_share, max_relevant, temperature : see the module constants.

    Examples
    --------
    >>> gen = QueryGenerator([{"id": "t1", "type": "track", "name": "Lover",
    ...                        "artist": "Taylor Swift", "popularity": 80}], seed=1,
    ...                      holdout_share=0.0)
    >>> q = gen.sample(1)[0]
    >>> q.target, q.relevant
    ('t1', frozenset({'t1'}))
    """

    def __init__(
        self,
        entities: Iterable[Mapping[str, Any]],
        seed: int = 0,
        *,
        mix: Mapping[str, float] | None = None,
        holdout_share: float = HOLDOUT_SHARE,
        max_relevant: int = MAX_RELEVANT,
        temperature: float = POPULARITY_TEMPERATURE,
    ) -> None:
        mix = dict(INTENT_MIX if mix is None else mix)
        unknown = set(mix) - set(INTENTS)
        if unknown:
            raise ValueError(f"unknown intents in mix: {sorted(unknown)}")
        self.seed = seed
        self.holdout_share = holdout_share
        self.max_relevant = max_relevant
        self._index = CatalogIndex(entities)
        self._rng = random.Random(seed)
        self._relevant_cache: dict[tuple[Any, ...], list[str]] = {}
        self._pools = {
            holdout: {
                intent: TargetPool(
                    [e for e in self._candidates(intent) if is_holdout(e["id"], holdout_share) == holdout],
                    temperature,
                )
                for intent in mix
            }
            for holdout in (False, True)
        }
        self.mix = {i: w for i, w in mix.items() if w > 0 and (self._pools[False][i] or self._pools[True][i])}
        if not self.mix:
            raise ValueError("no intent has a target in this catalog")

    # -- public --

    def sample(self, n: int) -> list[SimulatedQuery]:
        """`n` training queries from the generator's own seeded stream (continues across calls)."""
        return [self._one(self._rng, holdout=False) for _ in range(n)]

    def generate(self, n: int, *, holdout: bool = False, seed: int | None = None) -> list[SimulatedQuery]:
        """`n` queries whose targets are all train (or all holdout) targets; same seed, same list."""
        rng = random.Random(f"{self.seed}:{seed}:{holdout}")
        return [self._one(rng, holdout=holdout) for _ in range(n)]

    def query(self, intent: str, target_id: str, rng: random.Random) -> SimulatedQuery:
        """The query a user with `intent` types for `target_id` (for tests and replays)."""
        return self._build(intent, self._index.by_id[target_id], rng)

    # -- sampling --

    def _one(self, rng: random.Random, holdout: bool) -> SimulatedQuery:
        pools = self._pools[holdout]
        intents = [i for i in self.mix if pools[i]]
        if not intents:
            raise ValueError(f"no {'holdout' if holdout else 'train'} targets in this catalog")
        intent = rng.choices(intents, [self.mix[i] for i in intents])[0]
        return self._build(intent, pools[intent].draw(rng), rng)

    def _candidates(self, intent: str) -> list[Mapping[str, Any]]:
        """Entities an intent may target (the pool is then split by holdout)."""
        by_type = self._index.by_type
        tracks = by_type.get("track", [])
        if intent in ("known_item", "known_item_typo"):
            return [t for t in tracks if norm(core_title(t["name"]))]
        if intent == "partial_title":
            return [t for t in tracks if len(norm(core_title(t["name"])).split()) >= 3]
        if intent in ("artist", "artist_typo"):
            return [a for a in by_type.get("artist", []) if norm(a["name"])]
        if intent == "genre":
            return by_type.get("genre", []) + by_type.get("subgenre", [])
        if intent == "mood":
            return [t for t in tracks if t.get("moods")]
        if intent == "mood_genre":
            return [t for t in tracks if t.get("moods") and labels(t)]
        if intent == "era_genre":
            return [t for t in tracks if t.get("release_year") and t.get("genres")]
        if intent == "entity_type":
            # "<artist> albums" is browsing only when the artist has more than one album
            albums_of = self._index.albums_by_artist
            albums = [a for a in by_type.get("album", [])
                      if norm(a.get("artist") or "") and len(albums_of.get(norm(a["artist"]), ())) >= 2]
            playlists = [p for p in by_type.get("playlist", []) if labels(p)]
            artists = [a for a in by_type.get("artist", []) if a.get("genres")]
            return playlists + albums + artists
        raise ValueError(f"unknown intent {intent!r}")

    def _build(self, intent: str, target: Mapping[str, Any], rng: random.Random) -> SimulatedQuery:
        text, relevant, related = getattr(self, f"_{intent}")(target, rng)
        tid = target["id"]
        grades = {i: GRADE_RELATED for i in related}
        grades.update({i: GRADE_RELEVANT for i in relevant})
        grades[tid] = GRADE_TARGET
        return SimulatedQuery(
            text=" ".join(text.split()),
            intent=intent,
            target=tid,
            relevant=frozenset(relevant) | {tid},
            grades=MappingProxyType(grades),
            holdout=is_holdout(tid, self.holdout_share),
        )

    # -- relevance --

    def _same_work(self, track: Mapping[str, Any]) -> list[str]:
        return self._index.work.get(CatalogIndex.work_key(track), [track["id"]])

    def _artist_related(self, artist_name: str) -> list[str]:
        key = norm(artist_name)
        ids = self._index.tracks_by_artist.get(key, [])[:20] + self._index.albums_by_artist.get(key, [])[:5]
        artist = self._index.artist_by_name.get(key)
        return ids + ([artist] if artist else [])

    def _matching(self, types: tuple[str, ...], label: str | None = None, mood: str | None = None,
                  decade: int | None = None) -> list[str]:
        """The most popular entities of `types` meeting every given constraint (cached)."""
        key = (types, label, mood, decade)
        if key not in self._relevant_cache:
            out: list[str] = []
            for kind in types:
                out += self._match_type(kind, label, mood, decade)
            by_id = self._index.by_id
            out.sort(key=lambda i: -float(by_id[i].get("popularity") or 0.0))
            self._relevant_cache[key] = out[: self.max_relevant]
        return self._relevant_cache[key]

    def _match_type(self, kind: str, label: str | None, mood: str | None, decade: int | None) -> list[str]:
        idx = self._index
        lists = []
        if label is not None:
            lists.append(idx.by_label.get((kind, label), []))
        if mood is not None:
            lists.append(idx.by_mood.get((kind, mood), []))
        if not lists:
            lists.append([e["id"] for e in idx.by_type.get(kind, [])])
        base = min(lists, key=len)
        others = [set(lst) for lst in lists if lst is not base]
        ids = (i for i in base if all(i in s for s in others))
        if decade is not None:
            ids = (i for i in ids if (idx.by_id[i].get("release_year") or 0) // 10 * 10 == decade)
        return list(islice(ids, self.max_relevant))

    # -- one method per intent: (text, relevant ids, related ids) --

    def _title(self, track: Mapping[str, Any], rng: random.Random) -> str:
        title = core_title(track["name"])
        return title if rng.random() < 0.3 else title.lower()

    def _known_item(self, t: Mapping[str, Any], rng: random.Random,
                    mistype: bool = False) -> tuple[str, list[str], list[str]]:
        template = weighted(TRACK_TEMPLATES, rng)[0]
        title, artist = self._title(t, rng), (t.get("artist") or "").lower()
        if not artist:
            template = "{t}"
        if mistype:
            title = misspell_text(title.lower(), rng)
            if "{a}" in template and rng.random() < 0.3:
                artist = misspell_text(artist, rng)
        text = template.format(t=title, a=artist)
        return text, self._same_work(t), self._artist_related(t.get("artist") or "")

    def _known_item_typo(self, t: Mapping[str, Any], rng: random.Random) -> tuple[str, list[str], list[str]]:
        return self._known_item(t, rng, mistype=True)

    def _partial_title(self, t: Mapping[str, Any], rng: random.Random) -> tuple[str, list[str], list[str]]:
        fragment = drop_words(norm(core_title(t["name"])), rng)
        artist = (t.get("artist") or "").lower()
        text = f"{fragment} {artist}" if artist and rng.random() < 0.25 else fragment
        return text, self._same_work(t), self._artist_related(artist)

    def _artist(self, a: Mapping[str, Any], rng: random.Random) -> tuple[str, list[str], list[str]]:
        template, _, wants_songs = weighted(ARTIST_TEMPLATES, rng)
        name = a["name"] if rng.random() < 0.2 else a["name"].lower()
        songs = self._index.tracks_by_artist.get(norm(a["name"]), [])[:20]
        relevant = [a["id"]] + (songs if wants_songs else [])
        return template.format(a=name), relevant, songs

    def _artist_typo(self, a: Mapping[str, Any], rng: random.Random) -> tuple[str, list[str], list[str]]:
        text, relevant, related = self._artist(a, rng)
        name = a["name"].lower()
        typed = misspell_text(name, rng)
        return text.lower().replace(name, typed) if name in text.lower() else typed, relevant, related

    def _genre_words(self, label: str, rng: random.Random) -> str:
        return rng.choice(GENRE_COLLOQUIAL.get(label, (label,)))

    def _genre(self, g: Mapping[str, Any], rng: random.Random) -> tuple[str, list[str], list[str]]:
        field_name = "subgenres" if g["type"] == "subgenre" else "genres"
        label = str((g.get(field_name) or [g["name"]])[0]).lower()
        text = weighted(GENRE_TEMPLATES, rng)[0].format(g=self._genre_words(label, rng))
        relevant = self._matching(("playlist", "track"), label=label)
        return text, relevant, []

    def _mood(self, t: Mapping[str, Any], rng: random.Random) -> tuple[str, list[str], list[str]]:
        mood = rng.choice(list(t["moods"]))
        text = rng.choice(MOOD_PHRASES.get(mood, (f"{mood} songs",)))
        return text, self._matching(("track", "playlist"), mood=mood), []

    def _mood_genre(self, t: Mapping[str, Any], rng: random.Random) -> tuple[str, list[str], list[str]]:
        mood, label = rng.choice(list(t["moods"])), rng.choice(labels(t))
        genre = self._genre_words(label, rng)
        r = rng.random()
        if r < 0.6:
            adjective = rng.choice(MOOD_ADJECTIVES.get(mood, (mood,)))
            text = f"{adjective} {genre}" + (" songs" if rng.random() < 0.3 else "")
        else:
            activity = rng.choice(MOOD_ACTIVITIES.get(mood, (mood,)))
            text = f"{genre} for {activity}"
        relevant = self._matching(("track", "playlist"), label=label, mood=mood)
        return text, relevant, []

    def _era_genre(self, t: Mapping[str, Any], rng: random.Random) -> tuple[str, list[str], list[str]]:
        decade = int(t["release_year"]) // 10 * 10
        label = rng.choice([str(g).lower() for g in t["genres"]])
        era, genre = rng.choice(decade_forms(decade)), self._genre_words(label, rng)
        template = rng.choice(("{e} {g}", "{g} from the {e}", "{g} {e}", "{e} {g} songs", "best {g} of the {e}"))
        relevant = self._matching(("track", "album"), label=label, decade=decade)
        return template.format(e=era, g=genre), relevant, []

    def _entity_type(self, e: Mapping[str, Any], rng: random.Random) -> tuple[str, list[str], list[str]]:
        if e["type"] == "album":
            artist = e["artist"].lower()
            template = rng.choice(("{a} albums", "albums by {a}", "{a} discography", "{a} records"))
            albums = self._index.albums_by_artist.get(norm(e["artist"]), [])[: self.max_relevant]
            return template.format(a=artist), albums, self._artist_related(artist)
        if e["type"] == "artist":
            label = str(e["genres"][0]).lower()
            template = rng.choice(("{g} artists", "best {g} bands", "{g} singers", "who sings {g}"))
            text = template.format(g=self._genre_words(label, rng))
            return text, self._primary_genre_artists(label), []
        label = rng.choice(labels(e))
        template = rng.choice(("{g} playlists", "playlists for {g}", "{g} mixes", "a {g} playlist"))
        text = template.format(g=self._genre_words(label, rng))
        return text, self._matching(("playlist",), label=label), []

    def _primary_genre_artists(self, label: str) -> list[str]:
        """Artists whose main genre is `label` (an artist in 4 genres is no "rock artist")."""
        key = ("artist-primary", label)
        if key not in self._relevant_cache:
            artists = self._index.by_type.get("artist", [])
            ids = (a["id"] for a in artists if a.get("genres") and str(a["genres"][0]).lower() == label)
            self._relevant_cache[key] = list(islice(ids, self.max_relevant))
        return self._relevant_cache[key]
