"""Shared fixtures: a small real-data searcher (fast) and the full-catalog searcher (slow).

The small one indexes the first rows of the shipped Spotify CSV without the embedding
model; the full one indexes all 28k tracks with MiniLM vectors (cached under
~/.cache/es-ltrr, so only the first run on a machine pays the ~3 minutes).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from es_ltrr.catalog.spotify import write_head
from es_ltrr.common.settings import Settings

SMALL_ROWS = 400


@pytest.fixture(scope="session")
def small_catalog(tmp_path_factory) -> Path:
    return write_head(tmp_path_factory.mktemp("catalog") / "small.csv.gz", SMALL_ROWS)


@pytest.fixture(scope="session")
def small_searcher(small_catalog, tmp_path_factory):
    from es_ltrr.serving.wiring import build_searcher

    settings = Settings.load(env={}, catalog=small_catalog, data_dir=tmp_path_factory.mktemp("small"), embed=False)
    return build_searcher(settings, say=lambda _: None)


@pytest.fixture
def cli(small_catalog, tmp_path):
    """`es-ltrr` on the small catalog with a fresh data dir `tmp_path / "d"`, already indexed
    (no embedding): `cli("search", "rock", "--json")` returns click's Result."""
    from click.testing import CliRunner

    from es_ltrr.cli import main

    runner = CliRunner()
    base = ["--catalog", str(small_catalog), "--data-dir", str(tmp_path / "d"), "--no-embed"]
    assert runner.invoke(main, [*base, "index"]).exit_code == 0
    return lambda *args: runner.invoke(main, [*base, *args])


@pytest.fixture(scope="session")
def music_settings(tmp_path_factory) -> Settings:
    data_dir = os.environ.get("ES_LTRR_TEST_DATA_DIR")
    return Settings.load(env={}, data_dir=Path(data_dir) if data_dir else tmp_path_factory.mktemp("music"))


@pytest.fixture(scope="session")
def music_searcher(music_settings):
    from es_ltrr.serving.wiring import build_searcher

    return build_searcher(music_settings, say=lambda _: None)


def _url_from_env(var: str, how: str) -> str:
    """The test node's URL from `var`; skip without it, fail if CI requires clusters."""
    url = os.environ.get(var)
    if not url:
        if os.environ.get("ES_LTRR_REQUIRE_CLUSTER"):
            pytest.fail(f"ES_LTRR_REQUIRE_CLUSTER is set but {var} is not")
        pytest.skip(f"no test node: run `{how}` and set {var}")
    return url


@pytest.fixture(scope="session")
def cluster_url() -> str:
    return _url_from_env("ES_LTRR_TEST_CLUSTER", "es-ltrr node start")


@pytest.fixture(scope="session")
def es_url() -> str:
    return _url_from_env("ES_LTRR_TEST_ES_CLUSTER", "es-ltrr node start --distribution elasticsearch")


def pytest_terminal_summary(terminalreporter) -> None:
    """The hostile-input tally (tests/hostile.py): how many bad-input cases ran, how many 5xx;
    then the figures tests reported (tests/reports.py), e.g. the kill-a-node timeline."""
    from .hostile import CASES, SERVER_ERRORS
    from .reports import REPORTS

    if CASES:
        per = ", ".join(f"{surface} {n}" for surface, n in sorted(CASES.items()))
        terminalreporter.write_line(f"hostile input: {sum(CASES.values())} cases ({per}); "
                                    f"5xx: {sum(SERVER_ERRORS.values())}")
    for title, lines in REPORTS:
        terminalreporter.write_sep("-", title)
        for line in lines:
            terminalreporter.write_line(line)
