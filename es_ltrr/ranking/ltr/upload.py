"""Upload an XGBoost model to the LTR plugin: check it, convert it, create it, prove parity.

The input is a model saved with `Booster.save_model("x.json")` whose feature names are the
featureset's, in order. The plugin gets `model/xgboost+json` as `{"objective", "splits"}`:

* **objective** — the plugin only uses it to pick a normalizer (none, or a sigmoid for the
  logistic ones); every ranking objective (`rank:ndcg`, `rank:map`, `rank:pairwise`) ranks
  by the raw margin, so it is sent as `rank:pairwise`, which both plugins accept. Other
  objectives are sent as named and the plugin decides (it refuses `reg:squarederror`).
* **base_score** — the plugin ignores it, so the model's base margin is added to every leaf
  of the first tree: `sltr` then returns XGBoost's own prediction, and the plugin ranker
  and the local one give the same scores.
* **missing features** — es-ltrr logs a feature that did not match as NaN (XGBoost's
  missing, see `feature_log.py`). The Elasticsearch plugin does too and follows each split's
  missing branch; the OpenSearch plugin scores it as 0 and ignores `missing`. Every feature
  is > 0 when it matches (`featureset.py`), so where XGBoost's missing branch is not the
  branch 0 takes, a guard split `feature < 1e-30` sends 0 (and NaN) to the missing branch —
  one definition, exact on both plugins.

`upload_model` then creates the model under a versioned name, compares `sltr` scores with
local predictions on features logged by the plugin (`ltr_log`) for real candidate unions,
deletes the model again when they differ by more than `PARITY_TOLERANCE`, and saves it
(`models/<name>/`) with the parity figure in `metrics.json`.

A model is stored once: when the data dir already holds the same file (its sha256, as
uploaded or as saved by `es-ltrr train`), that model's name is used — the node's copy is
reused, or created under that name — never a second copy under another name.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from ...retrieval.engines.cluster import ClusterError
from .feature_log import PluginFeatureLogger
from .featureset import FeatureSet, feature_params
from .model import METRICS_FILE, MODEL_FILE, LtrModel, _xgboost
from .model_file import ModelFileError, read_booster
from .plugin import LtrPlugin

if TYPE_CHECKING:
    from ...retrieval.union import Candidate
    from ...understanding import Understanding

#: Largest |sltr − XGBoost| accepted over the parity documents (float32 sums differ ~1e-7).
PARITY_TOLERANCE = 1e-4
RANKING_OBJECTIVES = ("rank:pairwise", "rank:ndcg", "rank:map")
#: A threshold below every matched feature value (they are all > 0): `< GUARD` means missing.
GUARD = 1e-30
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class UploadError(ValueError):
    """The model cannot be uploaded; the message says why (and what to do)."""


@dataclass(frozen=True)
class ParityCase:
    """One query's candidate union: the sltr params and the ids to log and rescore."""

    params: dict[str, Any]
    ids: tuple[str, ...]

    @classmethod
    def of(cls, text: str, understanding: Understanding, candidates: Sequence[Candidate],
           vector: Sequence[float] | None = None, flavor: str = "embedded",
           memory: str | None = "rank_features") -> "ParityCase":
        """The case of one search; `flavor` and `memory` are the cluster's (the vector clause's
        syntax, the Q2E memory's clause: `feature_params`)."""
        return cls(feature_params(text, understanding, candidates, vector, flavor, memory),
                   tuple(c.id for c in candidates))


@dataclass(frozen=True)
class Uploaded:
    name: str
    featureset: str
    parity_max_abs_diff: float
    documents: int
    created: bool  # False: the node already held this very model
    directory: Path


# -- checking and converting -------------------------------------------------------------


def load_booster(path: Path, featureset: FeatureSet) -> Any:
    """The booster in `path`, if it is a single-output tree model over exactly `featureset`."""
    try:
        booster = read_booster(_xgboost(), path)
        names = list(booster.feature_names or [])
    except ModelFileError as exc:
        raise UploadError(str(exc)) from exc
    except UnicodeDecodeError as exc:  # garbled bytes garble the feature names too
        raise UploadError(f"cannot load XGBoost model {path}: {exc}") from exc
    learner = json.loads(booster.save_config())["learner"]
    if learner["gradient_booster"]["name"] != "gbtree" or int(learner["learner_model_param"].get("num_class", "0")) > 1:
        raise UploadError(f"{path}: only single-output gbtree models can be uploaded")
    _check_features(path, names, featureset)
    return booster


def _check_features(path: Path, names: list[str], fs: FeatureSet) -> None:
    if not names:
        raise UploadError(f"{path} has no feature names: train on DMatrix(..., feature_names=<featureset {fs.name!r}>.names)")
    unknown = [n for n in names if n not in fs.names]
    if unknown:
        raise UploadError(f"featureset mismatch: {path} uses {unknown}, which featureset {fs.name!r} does not have "
                          f"(its features: {fs.names})")
    missing = [n for n in fs.names if n not in names]
    if missing:
        raise UploadError(f"{path} lacks feature(s) {missing} of featureset {fs.name!r}: a model takes every feature")
    if names != fs.names:
        raise UploadError(f"{path} has the features of {fs.name!r} in another order: {names}, expected {fs.names}")


def objective(booster: Any) -> str:
    """The objective the plugin gets: ranking objectives as `rank:pairwise`, others as named."""
    name = json.loads(booster.save_config())["learner"]["objective"]["name"]
    return "rank:pairwise" if name in RANKING_OBJECTIVES else name


def plugin_definition(booster: Any) -> dict[str, Any]:
    """`{"objective", "splits"}` for `model/xgboost+json`: base margin folded, missing guarded."""
    trees = [json.loads(t) for t in booster.get_dump(dump_format="json")]
    if not trees:
        raise UploadError("the model has no trees")
    splits = [_plugin_tree(tree, 0, itertools.count()) for tree in trees]
    base = base_margin(booster, trees)
    splits[0] = _add_to_leaves(splits[0], base)
    return {"objective": objective(booster), "splits": splits}


def base_margin(booster: Any, trees: list[dict[str, Any]]) -> float:
    """What XGBoost adds to the trees' sum (base_score in margin space): margin − Σ leaves."""
    xgb = _xgboost()
    row = xgb.DMatrix(np.full((1, booster.num_features()), np.nan, dtype=np.float32), feature_names=booster.feature_names)
    margin = float(booster.predict(row, output_margin=True)[0])
    leaves = booster.predict(row, pred_leaf=True).reshape(-1)
    return margin - sum(_leaf(tree, int(leaf)) for tree, leaf in zip(trees, leaves))


def _leaf(node: dict[str, Any], nodeid: int) -> float:
    found = next(n for n in _nodes(node) if n["nodeid"] == nodeid)
    return float(found["leaf"])


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("children", ()):
        yield from _nodes(child)


def _plugin_tree(node: dict[str, Any], depth: int, ids: Iterator[int], guarded: bool = False) -> dict[str, Any]:
    """The tree renumbered; a guard split where 0 would not take XGBoost's missing branch."""
    if "leaf" in node:
        return {"nodeid": next(ids), "leaf": node["leaf"]}
    yes, no = (next(c for c in node["children"] if c["nodeid"] == node[k]) for k in ("yes", "no"))
    missing = yes if node["missing"] == node["yes"] else no
    zero_goes = yes if node["split_condition"] > 0 else no  # the plugin's `threshold > value`
    if missing is not zero_goes and not guarded:
        return _split(node["split"], GUARD, depth, ids, lambda d: _plugin_tree(missing, d, ids),
                      lambda d: _plugin_tree(node, d, ids, guarded=True), missing_yes=True)
    return _split(node["split"], node["split_condition"], depth, ids, lambda d: _plugin_tree(yes, d, ids),
                  lambda d: _plugin_tree(no, d, ids), missing_yes=missing is yes)


def _split(feature: str, threshold: float, depth: int, ids: Iterator[int], yes: Callable[[int], dict],
           no: Callable[[int], dict], missing_yes: bool) -> dict[str, Any]:
    nodeid = next(ids)
    left, right = yes(depth + 1), no(depth + 1)
    return {"nodeid": nodeid, "depth": depth, "split": feature, "split_condition": threshold,
            "yes": left["nodeid"], "no": right["nodeid"], "missing": (left if missing_yes else right)["nodeid"],
            "children": [left, right]}


def _add_to_leaves(node: dict[str, Any], value: float) -> dict[str, Any]:
    if "leaf" in node:
        return {**node, "leaf": float(np.float32(node["leaf"]) + np.float32(value))}
    return {**node, "children": [_add_to_leaves(c, value) for c in node["children"]]}


# -- uploading ----------------------------------------------------------------------------


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def upload_model(plugin: LtrPlugin, model_file: Path, featureset: FeatureSet, cases: Sequence[ParityCase],
                 model_dir: Callable[[str], Path], name: str | None = None, stored: Iterable[Path] = ()) -> Uploaded:
    """Check, convert, create (under `name` or `<featureset>-<sha8>`), prove parity, save.

    `stored`: the model directories the data dir holds; one holding this very model gives
    its name (a `name` that differs is an error saying so)."""
    model_file = Path(model_file)
    booster = load_booster(model_file, featureset)
    definition = plugin_definition(booster)
    digest = file_digest(model_file)
    same = next((d for d in stored if digest in _digests(d)), None)
    if same is not None and name is not None and name != same.name:
        raise UploadError(f"this model is already stored as {same.name!r} (same sha256 {digest[:12]}…): use that "
                          f"name, or delete it first (`es-ltrr models --delete {same.name}`)")
    name = name or (same.name if same is not None else f"{featureset.name}-{digest[:8]}")
    if not _NAME.match(name):
        raise UploadError(f"invalid model name {name!r}: letters, digits, '.', '_', '-' (at most 100)")
    directory = model_dir(name)
    _check_local(directory, digest)
    if not plugin.featureset_matches(featureset):
        raise UploadError(f"the node does not store featureset {featureset.name!r} as es-ltrr defines it: "
                          "run `es-ltrr apply` (without --no-ltr) first")
    created = _create(plugin, featureset.name, name, definition)
    model = LtrModel(booster, featureset, name)
    try:
        diff, documents = parity(plugin, model, cases)
    except (ClusterError, RuntimeError) as exc:
        diff, documents, reason = math.inf, 0, f"could not run: {exc}"
    else:
        reason = (f"max |sltr − XGBoost| = {diff:.3g} over {documents} documents, tolerance {PARITY_TOLERANCE:g}"
                  if documents else "no candidate documents to compare")
    if not documents or not diff <= PARITY_TOLERANCE:
        if created:
            plugin.delete_model(name)
        raise UploadError(f"parity check of model {name!r} failed ({reason})"
                          + ("; the model was deleted from the node" if created else ""))
    # a model saved by `es-ltrr train` keeps its training report beside the upload's figures
    metrics = {**_metrics(directory), "parity_max_abs_diff": diff, "parity_documents": documents,
               "parity_tolerance": PARITY_TOLERANCE, "model_sha256": digest, "plugin_objective": definition["objective"]}
    if not (directory / MODEL_FILE).is_file():  # else this very model (`_check_local`), kept byte for byte
        model.save(directory)
    (directory / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    return Uploaded(name, featureset.name, diff, documents, created, directory)


def _metrics(directory: Path) -> dict[str, Any]:
    try:
        found = json.loads((directory / METRICS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _digests(directory: Path) -> set[str]:
    """The sha256s a stored model answers to: of the file it was uploaded from and of its model.json."""
    found = {_metrics(directory).get("model_sha256")}
    if (directory / MODEL_FILE).is_file():
        found.add(file_digest(directory / MODEL_FILE))
    return {d for d in found if isinstance(d, str)}


def _check_local(directory: Path, digest: str) -> None:
    """A model directory of that name may only hold this very model."""
    if directory.exists() and digest not in _digests(directory):
        raise UploadError(f"a different model named {directory.name!r} exists in {directory.parent}: choose another --name")


def _create(plugin: LtrPlugin, featureset: str, name: str, definition: dict[str, Any]) -> bool:
    """Create the model; False when the node already holds this definition under `name`."""
    existing = plugin.get_model(name)
    if existing is not None:
        stored = existing.get("model", {}).get("definition")
        if isinstance(stored, str):
            stored = json.loads(stored)
        if stored == definition:
            return False
        raise UploadError(f"model {name!r} already exists on the node with another definition: choose another "
                          f"--name (or delete it: DELETE _ltr/_model/{name})")
    try:
        plugin.create_model(featureset, name, definition)
    except ClusterError as exc:
        if 400 <= exc.status < 500:
            raise UploadError(f"the LTR plugin rejected model {name!r}: {exc}") from exc
        raise
    return True


def parity(plugin: LtrPlugin, model: LtrModel, cases: Sequence[ParityCase]) -> tuple[float, int]:
    """Max |sltr score − local prediction| on features the plugin logged; documents compared."""
    logger = PluginFeatureLogger()
    worst, documents = 0.0, 0
    for case in cases:
        if not case.ids:
            continue
        local = model.predict(logger.log(plugin.engine, model.featureset, case.params, case.ids))
        remote = plugin.rescore(case.ids, model.name, case.params)
        for doc_id, score in zip(case.ids, local):
            worst = max(worst, abs(remote.get(doc_id, math.inf) - float(score)))
        documents += len(case.ids)
    return worst, documents
