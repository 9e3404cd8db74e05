"""Golden responses: the HTTP and CLI contracts stay byte-compatible across refactors.

Each case's response (HTTP body as sent, CLI table and `--json`) is compared with a file under
`tests/e2e/golden/`. Only what is meant to vary is normalized: timing values (their keys and
order stay) and nothing else — ids and the explore seed come from a fixed impression id.
Regenerate deliberately with `ES_LTRR_UPDATE_GOLDEN=1 pytest tests/e2e/test_golden.py` and
review the diff: a change here is a change of a public contract.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from es_ltrr.cli import format_table
from es_ltrr.serving.contract import parse_search_request, search_response
from es_ltrr.serving.http import create_app

GOLDEN = Path(__file__).parent / "golden"
UPDATE = bool(os.environ.get("ES_LTRR_UPDATE_GOLDEN"))
FIXED_ID = "0123456789abcdef0123456789abcdef"

CASES = {
    "memories": {"query": "memories maroon 5", "k": 5},
    "mood_debug": {"query": "happy songs", "k": 5, "debug": True},
    "artist_misspelt": {"query": "the chainsmoker", "k": 8, "context": {"segment": "a"}},
    "nothing": {"query": "qqqqzzzzxxxx"},
    "remix_debug": {"query": "pop remix", "k": 10, "debug": True},
}
BAD = {
    "empty": {"query": "  "},
    "unknown_field": {"query": "x", "size": 3},
    "k_range": {"query": "x", "k": 0},
}


@pytest.fixture(scope="module")
def searcher(small_searcher):
    return replace(small_searcher, new_id=lambda: FIXED_ID)


def _normalize_timings(text: str) -> str:
    """Timing values (`timings_ms`, per-arm `took_ms`) → 0.0 (the keys and their order are part of the contract)."""
    def zero(match: re.Match) -> str:
        return re.sub(r"-?\d+(\.\d+)?(e-?\d+)?", "0.0", match.group(0))

    text = re.sub(r'"timings_ms": \{[^}]*\}', zero, text)
    text = re.sub(r'"took_ms": [\d.]+', '"took_ms": 0.0', text)
    return re.sub(r"(candidates: \d+   )[\d.]+ ms", r"\g<1>0.0 ms", text)


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    text = _normalize_timings(text)
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path}: run with ES_LTRR_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


@pytest.mark.parametrize("case", CASES)
def test_http_body_is_byte_identical(searcher, case):
    resp = create_app(searcher).test_client().post("/search", json=CASES[case])
    assert resp.status_code == 200
    _check(f"http_{case}.json", resp.get_data(as_text=True))


@pytest.mark.parametrize("case", CASES)
def test_cli_table_and_json_are_identical(searcher, case):
    result = searcher.search(parse_search_request(CASES[case]))
    response = search_response(result)
    _check(f"cli_{case}.txt", format_table(response) + "\n")
    _check(f"cli_{case}.json", json.dumps(response, ensure_ascii=False, indent=2) + "\n")


@pytest.mark.parametrize("case", BAD)
def test_errors_are_identical(searcher, case):
    resp = create_app(searcher).test_client().post("/search", json=BAD[case])
    assert resp.status_code == 400
    _check(f"error_{case}.json", resp.get_data(as_text=True))
