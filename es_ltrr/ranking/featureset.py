"""The LTR featureset: feature queries as mustache templates, in the LTR plugin's own format.

`ltr_features/<name>.json` is what `es-ltrr apply` uploads to the plugin's feature store;
locally the same templates are rendered with the same params and executed by whatever
engine is in use, so a model sees identical features on the embedded engine and inside the
plugin's `sltr` query.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..analysis import q2e_key
from ..arms.render import check_template, render
from ..union import Candidate

if TYPE_CHECKING:
    from ..understanding import Understanding

FEATURES_DIR = Path(__file__).resolve().parents[2] / "ltr_features"
ARM_NAMES = ("lexical", "popular", "structured", "semantic", "q2e", "explore")


@dataclass(frozen=True)
class Feature:
    name: str
    params: tuple[str, ...]
    template: str


@dataclass(frozen=True)
class FeatureSet:
    name: str
    features: tuple[Feature, ...]

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @classmethod
    def load(cls, path: Path) -> "FeatureSet":
        data = json.loads(Path(path).read_text())["featureset"]
        features = []
        for f in data["features"]:
            template = f["template"] if isinstance(f["template"], str) else json.dumps(f["template"])
            check_template(template)
            features.append(Feature(f["name"], tuple(f.get("params", ())), template))
        return cls(data.get("name", Path(path).stem), tuple(features))

    def queries(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """One query clause per feature, rendered with `params`."""
        return [render(f.template, params) for f in self.features]


def feature_params(text: str, understanding: Understanding, candidates: Sequence[Candidate]) -> dict[str, Any]:
    """The sltr params of a query: its keywords, Q2E key, QU types and per-arm id lists.

    Arm provenance reaches the model as id lists (`found_<arm>`), which an `ids` query turns
    into a 0/1 feature — the same trick works inside the plugin, where no Python runs.
    """
    params: dict[str, Any] = {
        "keywords": text,
        "q2e_field": f"q2e.{q2e_key(text) or '_'}",
        "types": sorted({s.value for s in understanding.slots if s.kind == "entity_type"}),
    }
    for arm in ARM_NAMES:
        params[f"found_{arm}"] = [c.id for c in candidates if arm in c.arms]
    return params


def default_featureset() -> FeatureSet:
    return FeatureSet.load(FEATURES_DIR / "music.json")
