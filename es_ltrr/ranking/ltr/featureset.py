"""The LTR featureset: feature queries as mustache templates, in the LTR plugin's own format.

A featureset is two parts. The *sidecar* features — each arm's rank and score of a
candidate, the fusion rank and score, how many arms found it, its similarity to the query
vector, the query's intent — carry what only the sidecar knows as query params
(`sidecar_features.py`); they derive from the arm registry and the intents, so a new arm gets
its features without editing JSON. The *document* features — how the query's words match the
candidate's fields, its popularity, type, genres, the Q2E memory — live in
`featuresets/<name>.json` (package data, so a wheel install has them). `es-ltrr apply`
uploads the whole set to the plugin's feature store; locally the same templates are rendered
with the same params and executed by whatever engine is in use, so a model sees identical
features on the embedded engine and inside the plugin's `sltr` query.

Every feature is **> 0 when it matches** (BM25, constant-score filters, `rank_feature`,
`ln(2 + popularity)`, a rank's 1 / (60 + rank)), so a 0 can only mean "did not match". The
OpenSearch plugin scores a feature that did not match as 0 while XGBoost sees NaN (missing);
this invariant is what lets `es_ltrr.ranking.ltr.upload` make the two agree exactly. A new
feature must keep it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ...common.analysis import q2e_key
from ...common.templating import check_template, render
from ...retrieval.union import Candidate
from ..fusion import fusion_weights, rrf_scores
from .sidecar_features import Context, sidecar_params, template

if TYPE_CHECKING:
    from ...understanding import Understanding

DEFAULT_FEATURESET = "music"


@dataclass(frozen=True)
class Feature:
    name: str
    params: tuple[str, ...]
    template: str


def sidecar_features() -> tuple[Feature, ...]:
    """The features whose values the sidecar computes per query (`sidecar_features.py`),
    each a clause list passed as the param of its own name."""
    return tuple(Feature(name, (name,), template(name)) for name in sidecar_params())


@dataclass(frozen=True)
class FeatureSet:
    name: str
    features: tuple[Feature, ...]

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @classmethod
    def load(cls, path: Path | str) -> "FeatureSet":
        """The sidecar features, then the document features of a plugin-format JSON file."""
        path = Path(path)
        data = json.loads(path.read_text())["featureset"]
        features = list(sidecar_features())
        for f in data["features"]:
            template = f["template"] if isinstance(f["template"], str) else json.dumps(f["template"])
            check_template(template)
            features.append(Feature(f["name"], tuple(f.get("params", ())), template))
        names = [f.name for f in features]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"{path}: duplicate feature names {duplicated} (the sidecar features are generated)")
        return cls(data.get("name", path.stem), tuple(features))

    def queries(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """One query clause per feature, rendered with `params`."""
        return [render(f.template, params) for f in self.features]

    def plugin_body(self) -> dict[str, Any]:
        """The body of `PUT _ltr/_featureset/<name>`: the featureset as the plugin stores it."""
        return {
            "featureset": {
                "features": [
                    {"name": f.name, "params": list(f.params), "template_language": "mustache", "template": f.template}
                    for f in self.features
                ],
            }
        }


def feature_params(text: str, understanding: Understanding, candidates: Sequence[Candidate],
                   vector: Sequence[float] | None = None, flavor: str = "embedded",
                   memory: str | None = "rank_features") -> dict[str, Any]:
    """The sltr params of a query: its keywords, Q2E key, QU slot values (entity types,
    genres, subgenres, moods) and every sidecar feature's clause list (the fusion scores
    with the arms' own weights, so a configured `rrf_weights` does not move the features).
    `flavor` and `memory` are the engine's (`Engine.flavor`, `Engine.capabilities.memory`):
    the vector clause's syntax, and `q2e_memory`'s clause (`rank_feature` on `q2e.<key>`, or
    `term` on a sparse_vector `q2e`), so one stored featureset serves every cluster."""
    def values(kind: str) -> list[str]:
        return sorted({str(s.value) for s in understanding.slots if s.kind == kind})

    key = q2e_key(text) or "_"
    params: dict[str, Any] = {
        "keywords": text,
        "q2e_field": f"q2e.{key}",
        "q2e_key": key,
        "q2e_terms": memory == "sparse_vector",
        "types": values("entity_type"),
        "genres": values("genre"),
        "subgenres": values("subgenre"),
        "moods": values("mood"),
    }
    context = Context(candidates, understanding, rrf_scores(candidates, fusion_weights(understanding)), vector, flavor)
    params.update({name: build(context) for name, build in sidecar_params().items()})
    return params


def featureset_path(name: str = DEFAULT_FEATURESET) -> Path:
    """The shipped query-feature file of featureset `name` (package data)."""
    path = Path(str(resources.files(__package__) / "featuresets" / f"{name}.json"))
    if not path.is_file():
        raise ValueError(f"no featureset {name!r} shipped in es_ltrr/ranking/ltr/featuresets/")
    return path


def default_featureset() -> FeatureSet:
    return FeatureSet.load(featureset_path())


def shipped_featuresets() -> list[FeatureSet]:
    """Every featureset shipped in `es_ltrr/ranking/ltr/featuresets/` (what `es-ltrr apply` uploads)."""
    folder = resources.files(__package__) / "featuresets"
    return [FeatureSet.load(Path(str(folder / name))) for name in sorted(p.name for p in folder.iterdir())
            if name.endswith(".json")]
