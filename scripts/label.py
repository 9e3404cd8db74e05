"""Labelling helper for the hand-judged query set (`es_ltrr/evaluation/judged/hand.jsonl`).

A person writes each query as a user would type it, with its intent and its `target` (what
the user meant: a track, an artist, a genre…); this script shows the catalog's candidates
and turns a target into graded entity ids by the written rules (docs/evaluation.md,
"The hand-labelled set"), for that person to review before the grades are committed:

    python scripts/label.py show "sweet but psycho"      # entities whose name/artist match
    python scripts/label.py fill FILE                    # (re)grade every line from its target
    python scripts/label.py fill FILE --only h012        # one line

Targets and their rules (ties in popularity broken by id; "top N" = most popular N):

* ``{"track": [title, artist]}`` — 3: tracks of that artist whose name is the title (the
  same recording on several albums; `title` may be a list: the remasters a user cannot tell
  apart); 2: the artist's other versions of the title (same core
  title: remixes, edits, "feat." credits) and the artist's albums named like it (singles);
  1: the artist.
* ``{"artist": name}`` — 3: the artist; 2: their top 10 tracks; 1: their top 10 albums.
* ``{"albums_by": name}`` — 3: the artist's albums (top 30); 1: the artist.
* ``{"playlists": genre}`` — 3: playlists of that genre (top 30); 1: the genre entity.
* ``{"genre": g}`` / ``{"subgenre": s}`` — 3: that genre/subgenre entity; 2: its top 50
  tracks; 1: its top 20 playlists.
* ``{"mood": m}`` (+ optional ``"genre"``) — 2: top 50 tracks with that mood (and genre);
  1: the next 50 of them.
* ``{"genre": g, "decade": 1990}`` — 2: top 50 tracks of the genre released in that decade;
  1: top 20 albums of the genre released in that decade.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

from es_ltrr.catalog import DEFAULT_CATALOG, load_catalog
from es_ltrr.catalog.names import core_title
from es_ltrr.common.analysis import fold

Doc = dict[str, Any]


def top(docs: Iterable[Doc], n: int) -> list[Doc]:
    """The `n` most popular of `docs` (ties by id, so a re-run gives the same list)."""
    return sorted(docs, key=lambda d: (-(d.get("popularity") or 0), d["id"]))[:n]


class Labeller:
    """The catalog, indexed for the rules."""

    def __init__(self, docs: list[Doc]):
        self.docs = docs
        self.by_type: dict[str, list[Doc]] = {}
        for d in docs:
            self.by_type.setdefault(d["type"], []).append(d)

    def of_artist(self, kind: str, artist: str) -> list[Doc]:
        return [d for d in self.by_type[kind] if fold(d.get("artist") or "") == fold(artist)]

    def artist(self, name: str) -> Doc:
        found = self.of_artist("artist", name)
        if not found:
            raise SystemExit(f"no artist named {name!r}")
        return found[0]

    def track(self, title: str | list[str], artist: str) -> dict[str, int]:
        titles = [title] if isinstance(title, str) else title
        mine = self.of_artist("track", artist)
        exact = [d for d in mine if fold(d["name"]) in {fold(t) for t in titles}]
        if len({fold(d["name"]) for d in exact}) < len(titles):
            raise SystemExit(f"not every one of {titles!r} is a track by {artist!r}")
        core = fold(core_title(titles[0]))
        versions = [d for d in mine if fold(core_title(d["name"])) == core]
        albums = [d for d in self.of_artist("album", artist) if fold(core_title(d["name"])) == core]
        return grade({3: exact, 2: versions + albums, 1: [self.artist(artist)]})

    def artist_grades(self, name: str) -> dict[str, int]:
        return grade({3: [self.artist(name)], 2: top(self.of_artist("track", name), 10),
                      1: top(self.of_artist("album", name), 10)})

    def albums_by(self, name: str) -> dict[str, int]:
        return grade({3: top(self.of_artist("album", name), 30), 1: [self.artist(name)]})

    def playlists(self, genre: str) -> dict[str, int]:
        return grade({3: top(self.tagged("playlist", "genres", genre), 30), 1: [self.entity("genre", genre)]})

    def entity(self, kind: str, tag: str) -> Doc:
        found = [d for d in self.by_type[kind] if tag in d.get("genres" if kind == "genre" else "subgenres", ())
                 and fold(d["name"]) == fold(tag)] or [d for d in self.by_type[kind] if tag in d.get("genres", ())]
        if not found:
            raise SystemExit(f"no {kind} entity {tag!r}")
        return found[0]

    def tagged(self, kind: str, field: str, value: str, keep: Callable[[Doc], bool] = lambda d: True) -> list[Doc]:
        return [d for d in self.by_type[kind] if value in (d.get(field) or ()) and keep(d)]

    def genre(self, target: dict[str, Any]) -> dict[str, int]:
        field, tag = ("subgenres", target["subgenre"]) if "subgenre" in target else ("genres", target["genre"])
        entity = self.entity("subgenre" if field == "subgenres" else "genre", tag)
        return grade({3: [entity], 2: top(self.tagged("track", field, tag), 50),
                      1: top(self.tagged("playlist", field, tag), 20)})

    def mood(self, target: dict[str, Any]) -> dict[str, int]:
        genre = target.get("genre")
        keep = (lambda d: genre in (d.get("genres") or ())) if genre else (lambda d: True)
        ranked = top(self.tagged("track", "moods", target["mood"], keep), 100)
        return grade({2: ranked[:50], 1: ranked[50:]})

    def era(self, target: dict[str, Any]) -> dict[str, int]:
        start = int(target["decade"])
        keep = lambda d: start <= (d.get("release_year") or 0) < start + 10  # noqa: E731
        return grade({2: top(self.tagged("track", "genres", target["genre"], keep), 50),
                      1: top(self.tagged("album", "genres", target["genre"], keep), 20)})

    def grades(self, target: dict[str, Any]) -> dict[str, int]:
        if "track" in target:
            return self.track(*target["track"])
        if "artist" in target:
            return self.artist_grades(target["artist"])
        if "albums_by" in target:
            return self.albums_by(target["albums_by"])
        if "playlists" in target:
            return self.playlists(target["playlists"])
        if "mood" in target:
            return self.mood(target)
        if "decade" in target:
            return self.era(target)
        if "genre" in target or "subgenre" in target:
            return self.genre(target)
        raise SystemExit(f"unknown target {target}")

    def show(self, text: str, n: int = 25) -> list[str]:
        words = fold(text).split()
        hits = [d for d in self.docs if all(w in fold(f"{d['name']} {d.get('artist') or ''}") for w in words)]
        return [f"{d['id']:40} {d['type']:8} {d.get('popularity') or 0:5.0f}  {d['name']} — {d.get('artist', '')}"
                for d in top(hits, n)]


def grade(levels: dict[int, list[Doc]]) -> dict[str, int]:
    """Entity id → grade; an entity in two levels keeps the higher one."""
    out: dict[str, int] = {}
    for level in sorted(levels, reverse=True):
        for d in levels[level]:
            out.setdefault(d["id"], level)
    return out


def fill(labeller: Labeller, path: Path, only: str | None) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        if line.strip() and not line.lstrip().startswith("#"):
            doc = json.loads(line)
            if only is None or doc["id"] == only:
                doc["grades"] = labeller.grades(doc["target"])
                counts = {g: sum(1 for v in doc["grades"].values() if v == g) for g in (3, 2, 1)}
                print(f"{doc['id']} {doc['intent']:15} {doc['text']!r:40} grades 3/2/1: {counts[3]}/{counts[2]}/{counts[1]}")
            line = json.dumps(doc, ensure_ascii=False)
        out.append(line)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("show", help="entities whose name and artist hold every word of QUERY")
    show.add_argument("query")
    filler = sub.add_parser("fill", help="grade every line of FILE from its target (rules above)")
    filler.add_argument("file", type=Path)
    filler.add_argument("--only", help="grade only the line with this id")
    args = parser.parse_args(argv)
    labeller = Labeller(load_catalog(args.catalog, progress=False))
    if args.command == "show":
        print("\n".join(labeller.show(args.query)) or "no match", file=sys.stdout)
    else:
        fill(labeller, args.file, args.only)


if __name__ == "__main__":
    main()
