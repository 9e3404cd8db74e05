"""The CLI's result table lines up names in wide characters (CJK, full-width Latin).

tabulate measures display width only when `wcwidth` is importable, so the alignment users see
depends on a package: it is a declared dependency (pyproject.toml), and this test fails
without it.
"""

from __future__ import annotations

import unicodedata

from es_ltrr.cli import format_table


def wcswidth(text: str) -> int:
    """Display columns of `text`: wide and full-width characters take two (measured here
    without wcwidth, so that the test shows the misalignment rather than an ImportError)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _response(*names: str) -> dict:
    hits = [{"type": "track", "name": name, "artist": name, "album": name, "release_year": 2020,
             "score": 0.5, "arms": [{"arm": "lexical", "rank": i}]} for i, name in enumerate(names, start=1)]
    return {"query": "q", "ranker": "rrf", "candidates": len(hits), "timings_ms": {"total": 1.0},
            "confidence": 1.0, "arms": [{"arm": "lexical", "returned": len(hits), "requested": 10}], "hits": hits}


def test_rows_with_wide_characters_have_the_display_width_of_the_others():
    table = format_table(_response("Memories", "ＣＨＡＮＭＩＮＡ", "夜に駆ける"))
    rows = table.splitlines()[2:]  # after the two header lines: column titles, rule, rows
    widths = {wcswidth(row.rstrip()) for row in rows[2:]}
    assert len(widths) == 1, "\n".join(rows)
    # the last column starts at the same display column on every row
    columns = {wcswidth(row[: row.index("lexical#")]) for row in rows[2:]}
    assert len(columns) == 1, "\n".join(rows)
