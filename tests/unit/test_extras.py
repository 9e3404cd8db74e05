"""The core runs without the optional extras (pyproject: embedding, server, cluster, ltr, ann).

Each check runs in a subprocess where every module that only the extras bring is blocked
(`sys.modules[name] = None`, so importing it raises ModuleNotFoundError, as if it were not
installed). The blocked set is derived from the installed metadata, so a dependency added to
an extra is blocked too, and a core module that starts importing it fails here.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

EXTRAS = ("embedding", "server", "cluster", "ltr", "ann")
ROOT = Path(__file__).resolve().parents[2]
PRELUDE = "import json, os, sys\nfor name in json.loads(os.environ['BLOCKED']): sys.modules[name] = None\n"
CLI = PRELUDE + "from es_ltrr.cli import main\nmain()\n"


def _selected(requirements: list[str], extras: set[str]) -> list[Requirement]:
    """The requirements that apply on this interpreter when `extras` are asked for."""
    envs = [{"extra": extra} for extra in (*extras, "")]
    reqs = [Requirement(r) for r in requirements]
    return [r for r in reqs if r.marker is None or any(r.marker.evaluate(env) for env in envs)]


def _closure(roots: list[Requirement]) -> set[str]:
    """Every installed distribution the requirements pull in, transitively."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            todo += _selected(md.requires(name) or [], set(req.extras))
        except md.PackageNotFoundError:
            pass  # not installed here (a marker for another platform, say): nothing to block
    return seen


@lru_cache(maxsize=1)
def blocked_modules() -> tuple[str, ...]:
    """Top-level modules of the distributions only the extras bring."""
    own = md.requires("es-ltrr") or []
    core = _closure(_selected(own, set()))
    extra_only = [r for r in _selected(own, set(EXTRAS)) if r not in _selected(own, set())]
    optional = _closure(extra_only) - core - {"es-ltrr"}
    modules = md.packages_distributions()
    return tuple(sorted(m for m, dists in modules.items() if all(canonicalize_name(d) in optional for d in dists)))


def _run(code: str, *args: str, cwd: Path = ROOT, also: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    env = {**os.environ, "BLOCKED": json.dumps([*blocked_modules(), *also])}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_extras_are_blocked():
    """The test can fail: what each extra brings (and what they pull in) is not importable."""
    blocked = set(blocked_modules())
    assert {"flask", "waitress", "onnxruntime", "tokenizers", "opensearchpy", "elasticsearch", "requests", "xgboost",
            "usearch"} <= blocked
    assert not blocked & {"numpy", "scipy", "rapidfuzz", "click", "tqdm", "tabulate"}
    result = _run(PRELUDE + "import onnxruntime")
    assert result.returncode == 1 and "ModuleNotFoundError" in result.stderr


def test_the_core_imports():
    modules = ["es_ltrr", "es_ltrr.cli", "es_ltrr.search.pipeline", "es_ltrr.serving.wiring", "es_ltrr.retrieval.engines", "es_ltrr.ranking.ltr",
               "es_ltrr.ranking", "es_ltrr.ops.bench.latency", "es_ltrr.ops.engine_parity", "es_ltrr.retrieval.embedding"]
    result = _run(PRELUDE + "".join(f"import {m}\n" for m in modules))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("args", [["--help"], ["mappings", "--check"], ["node", "--help"]])
def test_commands_without_an_extra_run(args):
    result = _run(CLI, *args)
    assert result.returncode == 0, result.stderr


def test_search_on_the_embedded_engine_needs_no_extra(small_catalog, tmp_path):
    result = _run(CLI, "--catalog", str(small_catalog), "--data-dir", str(tmp_path), "--no-embed",
                  "search", "memories", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["hits"]


@pytest.mark.parametrize(
    "args, extra",
    [
        (["search", "memories"], "embedding"),  # the semantic arm is on by default
        (["--no-embed", "serve"], "server"),
        (["--no-embed", "bench"], "server"),
        (["--no-embed", "--cluster", "http://127.0.0.1:9", "--flavor", "opensearch", "apply", "--dry-run"], "cluster"),
        (["--no-embed", "--cluster", "http://127.0.0.1:9", "--flavor", "elasticsearch", "apply", "--dry-run"], "cluster"),
    ],
)
def test_a_command_needing_an_extra_names_it(small_catalog, tmp_path, args, extra):
    result = _run(CLI, "--catalog", str(small_catalog), "--data-dir", str(tmp_path), *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and f'pip install "es-ltrr[{extra}]"' in result.stderr
    assert "Traceback" not in result.stderr


def test_knn_without_the_ann_extra_is_exact():
    code = PRELUDE + (
        "import numpy as np\n"
        "from es_ltrr.retrieval.engines.embedded import ann\n"
        "unit = np.eye(4, dtype=np.float32)\n"
        "assert not ann.available() and ann.AnnIndex.build(unit, np.ones(4, bool), min_docs=0) is None\n"
        "rows, cos = ann.nearest(unit, np.ones(4, bool), None, unit[2], 1, None)\n"
        "assert rows.tolist() == [2]\n")
    result = _run(code, also=("usearch",))  # named too: an install older than the extra
    assert result.returncode == 0, result.stderr


def test_a_model_needs_the_ltr_extra():
    result = _run(PRELUDE + "from es_ltrr.ranking.ltr.model import _xgboost\n_xgboost()")
    assert "es_ltrr.common.extras.MissingExtra: an LTR model (XGBoost) needs the 'ltr' extra" in result.stderr
