"""`load_catalog`: dispatch on the file suffix, JSON-lines validation with clear errors."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from es_ltrr.catalog import load_catalog, predicted_queries, read_jsonl

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "spotify_small.csv"

LOVER = {"id": "t1", "type": "track", "name": "Lover", "artist": "Taylor Swift",
         "genres": ["pop"], "moods": ["happy"], "popularity": 80}
SWIFT = {"id": "artist:taylor-swift", "type": "artist", "name": "Taylor Swift",
         "popularity": 86, "q2e": {"taylor_swift": 0.9}, "q2e_queries": ["taylor swift"]}


def write_lines(path: Path, lines: list[str]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def test_jsonl_loads_and_fills_q2e(tmp_path):
    path = write_lines(tmp_path / "items.jsonl", [json.dumps(LOVER), "", json.dumps(SWIFT)])
    track, artist = load_catalog(path)
    assert track["name"] == "Lover"
    assert track["q2e_queries"] == list(predicted_queries(LOVER))
    assert track["q2e"]["taylor_swift_lover"] > 0
    assert artist["q2e"] == {"taylor_swift": 0.9}  # given q2e is kept as is


def test_jsonl_gz(tmp_path):
    path = write_lines(tmp_path / "items.jsonl.gz", [json.dumps(LOVER)])
    assert [e["id"] for e in load_catalog(path)] == ["t1"]


def test_csv_dispatches_to_the_spotify_loader(tmp_path):
    entities = load_catalog(FIXTURE, progress=False)
    assert {e["type"] for e in entities} == {"track", "artist", "album", "playlist", "genre", "subgenre"}


@pytest.mark.parametrize(
    "line, message",
    [
        (json.dumps({**LOVER, "colour": "red"}), r"items.jsonl:2: unknown key 'colour'"),
        (json.dumps({k: v for k, v in LOVER.items() if k != "name"}), r"items.jsonl:2: key 'name' is required"),
        (json.dumps({**LOVER, "id": ""}), r"items.jsonl:2: key 'id' is required"),
        (json.dumps({**LOVER, "type": 3}), r"items.jsonl:2: key 'type' is required"),
        ('{"id": "x", ', r"items.jsonl:2: invalid JSON"),
        ("[1, 2]", r"items.jsonl:2: expected a JSON object, got list"),
        (json.dumps(LOVER), r"items.jsonl:2: duplicate id 't1' \(first on line 1\)"),
        (json.dumps({**SWIFT, "id": "a2", "q2e": {"a.b": 1.0}}), r"items.jsonl:2: q2e key 'a.b'"),
        (json.dumps({**SWIFT, "id": "a2", "q2e": {"ab": 0}}), r"items.jsonl:2: q2e\['ab'\] must be a positive"),
        (json.dumps({**SWIFT, "id": "a2", "q2e": [1]}), r"items.jsonl:2: key 'q2e' must be an object"),
    ],
)
def test_bad_lines_are_reported_by_file_line_and_key_and_the_good_ones_load(tmp_path, line, message):
    path = write_lines(tmp_path / "items.jsonl", [json.dumps(LOVER), line, json.dumps(SWIFT)])
    entities, skipped = read_jsonl(path)
    assert [e["id"] for e in entities] == ["t1", "artist:taylor-swift"]
    assert len(skipped) == 1 and re.search(message, skipped[0])
    assert [e["id"] for e in load_catalog(path)] == ["t1", "artist:taylor-swift"]


def test_a_file_without_a_good_line_is_an_error(tmp_path):
    path = write_lines(tmp_path / "items.jsonl", ["[1]", '{"id": "x"}'])
    with pytest.raises(ValueError, match=r"items.jsonl:1: expected a JSON object.*\(2 bad lines, no good one\)"):
        load_catalog(path)
    empty = write_lines(tmp_path / "empty.jsonl", [""])
    with pytest.raises(ValueError, match="no entity"):
        load_catalog(empty)


def test_not_utf8_lines_are_skipped_by_line(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_bytes(b'{"id": "\xff"}\n' + json.dumps(LOVER).encode() + b"\n" + b'{"id": "\\ud800", "type": "track", "name": "x"}\n')
    entities, skipped = read_jsonl(path)
    assert [e["id"] for e in entities] == ["t1"]
    assert re.search("items.jsonl:1: not UTF-8", skipped[0]) and re.search("items.jsonl:3: .*unpaired", skipped[1])


def test_csv_without_spotify_columns(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("id,name\n1,x\n")
    with pytest.raises(ValueError, match=r"other.csv: a CSV catalog needs the Spotify songs columns; missing \["):
        load_catalog(path)


def test_unknown_suffix_and_missing_file(tmp_path):
    path = tmp_path / "items.xml"
    path.write_text("<x/>")
    with pytest.raises(ValueError, match="unsupported catalog format"):
        load_catalog(path)
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        load_catalog(tmp_path / "nope.jsonl")
