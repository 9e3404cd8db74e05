"""Judged query sets: queries with graded relevant entities, the ground truth `es-ltrr evaluate`
scores systems against.

The hand-labelled set ships with the package (`judged/hand.jsonl`): queries written as users
type them, one per line, each with its intent, what the user meant (`target`) and graded
entity ids (3 = exactly what was asked, 2 = relevant, 1 = related). How the grades were
chosen is written at the top of the file and in docs/evaluation.md; `scripts/label.py`
shows candidates and applies the written rules. The file is a reviewed judgment, never
computed at run time, so a change of the catalog code cannot move the ground truth silently.

A line is JSON, or a comment (`#`) or blank. A bad line is an error naming its number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Collection, Mapping, Sequence

#: Where the shipped hand-labelled set lives (package data).
HAND_SET = "hand.jsonl"
GRADES = (1, 2, 3)
#: A query must name at least one entity of this grade or above (MRR and recall count them).
RELEVANT = 2


class JudgedSetError(ValueError):
    """A judged set that cannot be used; the message names the file and the line."""


@dataclass(frozen=True)
class JudgedQuery:
    """One judged query: the text a user types, why, and the grade of each relevant entity."""

    text: str
    intent: str
    grades: Mapping[str, int] = field(hash=False)
    qid: str = ""
    target: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)


def hand_set_path() -> Path:
    """The shipped hand-labelled set."""
    return Path(str(resources.files(__package__) / HAND_SET))


def load_judged(path: Path | None = None) -> list[JudgedQuery]:
    """The queries of a judged set file (default: the shipped hand set).

    >>> queries = load_judged()
    >>> len(queries) >= 80 and all(max(q.grades.values()) >= 2 for q in queries)
    True
    """
    path = path or hand_set_path()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise JudgedSetError(f"cannot read judged set {path}: {exc}") from exc
    queries: list[JudgedQuery] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        query = _parse(line, f"{path}:{number}")
        if query.qid in seen:
            raise JudgedSetError(f"{path}:{number}: duplicate query id {query.qid!r}")
        seen.add(query.qid)
        queries.append(query)
    if not queries:
        raise JudgedSetError(f"{path}: no judged queries")
    return queries


def _parse(line: str, where: str) -> JudgedQuery:
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as exc:
        raise JudgedSetError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(doc, dict):
        raise JudgedSetError(f"{where}: expected an object, got {type(doc).__name__}")
    for key in ("id", "text", "intent"):
        if not isinstance(doc.get(key), str) or not doc[key].strip():
            raise JudgedSetError(f"{where}: {key!r} must be a non-empty string")
    grades = doc.get("grades")
    if not isinstance(grades, dict) or not grades:
        raise JudgedSetError(f"{where}: 'grades' must be a non-empty object of entity id → grade")
    bad = {k: v for k, v in grades.items() if type(v) is not int or v not in GRADES}
    if bad:
        raise JudgedSetError(f"{where}: grades must be one of {GRADES}: {bad}")
    if max(grades.values()) < RELEVANT:
        raise JudgedSetError(f"{where}: no entity graded {RELEVANT} or more")
    target = doc.get("target", {})
    return JudgedQuery(doc["text"], doc["intent"], dict(grades), doc["id"], target if isinstance(target, dict) else {})


def on_catalog(queries: Sequence[JudgedQuery], ids: Collection[str]) -> list[JudgedQuery]:
    """The queries answerable on a catalog holding `ids`: grades of entities it lacks dropped,
    queries left without an entity graded ≥ 2 dropped (a smaller catalog, a test slice)."""
    kept = []
    for q in queries:
        grades = {doc: g for doc, g in q.grades.items() if doc in ids}
        if grades and max(grades.values()) >= RELEVANT:
            kept.append(JudgedQuery(q.text, q.intent, grades, q.qid, q.target))
    return kept


#: The shipped reformulation set (package data): nickname, abbreviation and vague-reference
#: queries, each with the canonical wording a user types next and the entity both mean.
REFORMULATION_SET = "reformulations.jsonl"


@dataclass(frozen=True)
class Reformulation:
    """A query that shares no words with what it means ("mother monster"), the canonical
    wording a user who does not find it types next ("lady gaga"), and the entity both mean."""

    qid: str
    text: str
    reformulation: str
    target: str
    kind: str = "nickname"  # nickname | abbreviation | vague
    name: str = ""  # the target as a person reads it


def load_reformulations(path: Path | None = None) -> list[Reformulation]:
    """The reformulation set (default: the shipped one).

    >>> tasks = load_reformulations()
    >>> len(tasks) >= 30 and {t.kind for t in tasks} == {"nickname", "abbreviation", "vague"}
    True
    """
    path = path or Path(str(resources.files(__package__) / REFORMULATION_SET))
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise JudgedSetError(f"cannot read reformulation set {path}: {exc}") from exc
    tasks = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            doc = json.loads(line)
            tasks.append(Reformulation(doc["id"], doc["text"], doc["reformulation"], doc["target"],
                                       doc.get("kind", "nickname"), doc.get("name", "")))
        except (ValueError, KeyError, TypeError) as exc:
            raise JudgedSetError(f"{path}:{number}: not a reformulation ({exc})") from exc
    return tasks
