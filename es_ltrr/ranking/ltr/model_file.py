"""Reading an XGBoost model file without trusting it.

XGBoost's own loader trusts the arrays of a JSON model: a corrupt parent index or a node
listed as categorical without categories crashes the whole process (a segfault, found by the
hostile-input tests) instead of raising. A model file comes from the data dir or from the
user (`upload-model`), so before XGBoost sees it, its trees are checked here for what the
loader relies on: consistent array lengths, child and parent links that form trees, split
features within the model's features, categorical nodes with their categories. A file that
fails is a ValueError naming it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Node arrays every tree holds, one entry per node.
NODE_ARRAYS = ("left_children", "right_children", "parents", "split_indices", "split_conditions", "default_left",
               "split_type", "base_weights", "loss_changes", "sum_hessian")
#: The root's parent in XGBoost's JSON.
NO_PARENT = 2147483647


class ModelFileError(ValueError):
    """A model file that XGBoost must not be given."""


def read_booster(xgb: Any, path: Path) -> Any:
    """An `xgb.Booster` from `path`, its trees checked first when the file is JSON; every
    failure is a ModelFileError: `cannot load XGBoost model <path>: <why>`."""
    try:
        data = Path(path).read_bytes()
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            doc = None  # not JSON (UBJSON, or garbage): XGBoost's own parser decides
        if doc is not None:
            check_trees(doc)
    except (OSError, ModelFileError) as exc:
        raise ModelFileError(f"cannot load XGBoost model {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    booster = xgb.Booster()
    try:
        booster.load_model(str(path))  # by path: XGBoost picks the parser by the suffix, as it always did
    except (xgb.core.XGBoostError, UnicodeDecodeError) as exc:  # garbled bytes garble XGBoost's message too
        raise ModelFileError(f"cannot load XGBoost model {path}: {(str(exc).splitlines() or [type(exc).__name__])[0]}") from exc
    return booster


def check_trees(doc: Any) -> None:
    """Raise ModelFileError unless every tree of the JSON model `doc` is well formed.

    >>> tree = {"tree_param": {"num_nodes": "3"}, "left_children": [1, -1, -1], "right_children": [2, -1, -1],
    ...         "parents": [NO_PARENT, 0, 0], "split_indices": [0, 0, 0], "split_type": [0, 0, 0],
    ...         "split_conditions": [0.5, 1.0, 2.0], "default_left": [0, 0, 0], "base_weights": [0, 1, 2],
    ...         "loss_changes": [1, 0, 0], "sum_hessian": [2, 1, 1], "categories_nodes": []}
    >>> doc = {"learner": {"learner_model_param": {"num_feature": "1"},
    ...        "gradient_booster": {"model": {"trees": [tree]}}}}
    >>> check_trees(doc)
    >>> tree["parents"][2] = -1
    >>> check_trees(doc)
    Traceback (most recent call last):
    ...
    es_ltrr.ranking.ltr.model_file.ModelFileError: tree 0: node 2 is a child of 0 but names -1 as its parent
    """
    try:
        learner = doc["learner"]
        n_features = _int(learner["learner_model_param"]["num_feature"])
        trees = learner["gradient_booster"]["model"]["trees"]
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ModelFileError(f"not an XGBoost tree model ({type(exc).__name__}: {exc})") from None
    if not isinstance(trees, list):
        raise ModelFileError("'trees' is not a list")
    for t, tree in enumerate(trees):
        problem = _tree_problem(tree, n_features)
        if problem:
            raise ModelFileError(f"tree {t}: {problem}")


def _tree_problem(tree: Any, n_features: int) -> str | None:
    try:
        n = _int(tree["tree_param"]["num_nodes"])
        arrays = {name: tree[name] for name in NODE_ARRAYS}
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        return f"malformed ({type(exc).__name__}: {exc})"
    for name, values in arrays.items():
        if not isinstance(values, list) or len(values) != n or not all(_is_number(v) for v in values):
            return f"{name} must be {n} numbers"
    left, right, parents, features = (arrays[k] for k in ("left_children", "right_children", "parents", "split_indices"))
    if n < 1 or parents[0] not in (NO_PARENT, -1):
        return "the root has a parent"
    for i in range(n):
        if (left[i] == -1) != (right[i] == -1):
            return f"node {i} has one child"
        if left[i] == -1:
            continue
        for child in (left[i], right[i]):
            if not (isinstance(child, int) and 0 < child < n):
                return f"node {i} has child {child!r} outside 1..{n - 1}"
            if parents[child] != i:
                return f"node {child} is a child of {i} but names {parents[child]!r} as its parent"
        if not (isinstance(features[i], int) and 0 <= features[i] < n_features):
            return f"node {i} splits on feature {features[i]!r}, not one of {n_features}"
    return _categories_problem(tree, n, arrays["split_type"])


def _categories_problem(tree: Any, n: int, split_type: list) -> str | None:
    """Categorical splits must name their categories (a node marked categorical without them
    crashes XGBoost as surely as a bad index)."""
    nodes = tree.get("categories_nodes", [])
    segments = tree.get("categories_segments", [])
    sizes = tree.get("categories_sizes", [])
    categories = tree.get("categories", [])
    if not all(isinstance(x, list) for x in (nodes, segments, sizes, categories)):
        return "categories must be lists"
    if not (len(nodes) == len(segments) == len(sizes)) or not all(isinstance(v, int) for v in nodes + segments + sizes):
        return "categories_nodes, _segments and _sizes disagree"
    for node, start, size in zip(nodes, segments, sizes):
        if not 0 <= node < n or start < 0 or size < 0 or start + size > len(categories):
            return f"categorical node {node} points outside the categories"
    if {i for i, kind in enumerate(split_type) if kind != 0} - set(nodes):
        return "a categorical split has no categories"
    return None


def _int(value: Any) -> int:
    """XGBoost writes counts as strings ("7") or numbers."""
    if isinstance(value, bool):
        raise ValueError(f"not a count: {value!r}")
    return int(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
