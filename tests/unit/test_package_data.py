"""Everything the package reads at run time ships in the wheel (a non-repo install works)."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import tomllib

from es_ltrr.ranking.ltr import default_featureset
from es_ltrr.ranking.ltr.featureset import featureset_path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "es_ltrr"


def test_every_data_file_is_declared_package_data():
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["es_ltrr"]
    data_files = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*")
                  if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]
    assert data_files, "no data files found: the check would pass vacuously"
    missing = [f for f in data_files if not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"


def test_the_featureset_comes_from_the_package():
    assert featureset_path().is_relative_to(PACKAGE)
    names = default_featureset().names
    assert names[:6] == ["rank_lexical", "rank_popular", "rank_structured", "rank_semantic", "rank_q2e", "rank_explore"]
