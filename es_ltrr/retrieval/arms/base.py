"""What an arm is: a search template plus the function that turns a query into its params.

An arm never builds DSL in Python. Its template (a `.mustache` file beside this module) is the
whole query structure; the params builder only decides *values* (escaped by `toJson`) and
boolean flags, and returns None when the arm has nothing to say about a query (no slots for
the structured arm, no vector for the semantic arm, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Callable, Literal

import numpy as np

from ...catalog.stats import CatalogStats
from ...common.schema import Memory
from ...common.templating import check_template, render

if TYPE_CHECKING:
    from ...understanding import Understanding

Family = Literal["lexical", "structured", "embedding", "memory", "explore"]

#: Fields every arm returns in `_source`: enough to show a hit and to rank it.
DISPLAY_FIELDS = [
    "id", "type", "name", "artist", "album", "genres", "subgenres", "moods",
    "popularity", "release_date", "release_year", "track_count",
]


@dataclass(frozen=True)
class ArmInput:
    """Everything a params builder may look at for one query."""

    text: str
    understanding: Understanding
    vector: np.ndarray | None = None
    seed: int = 0
    catalog: CatalogStats = field(default_factory=CatalogStats)
    #: How the engine stores the Q2E memory (the engine's `capabilities.memory`).
    memory: Memory | None = "rank_features"


ParamsBuilder = Callable[[ArmInput], "dict[str, Any] | None"]


@dataclass(frozen=True)
class Arm:
    """A retrieval strategy: name, family, template and params builder, plus the defaults
    everything else derives from — the static policy's depth and the fusion weight."""

    name: str
    family: Family
    build_params: ParamsBuilder
    #: Candidates the static policy draws from this arm (the bandit's prior, too).
    default_depth: int
    #: Weight of this arm's ranks in reciprocal-rank fusion.
    fusion_weight: float = 1.0
    #: The shallowest a learning policy runs this arm: every arm votes on every query
    #: (`retrieval/policy/contextual.py`); a policy buys depth beyond it.
    floor: int = 10
    needs_vector: bool = False
    description: str = ""

    def template(self, flavor: str) -> str:
        """Template text for `flavor`: `<name>.<flavor>.mustache` if present, else `<name>.mustache`."""
        return _template_text(self.name, flavor)

    def params(self, inp: ArmInput, size: int) -> dict[str, Any] | None:
        """Template params for `inp` drawing `size` candidates, or None if not applicable."""
        if self.needs_vector and inp.vector is None:
            return None
        built = self.build_params(inp)
        if built is None:
            return None
        return {"size": int(size), "source": DISPLAY_FIELDS, **spelling_params(inp.understanding), **built}

    def render(self, inp: ArmInput, size: int, flavor: str = "embedded") -> dict[str, Any] | None:
        """The search body this arm sends for `inp`, or None if the arm does not apply."""
        params = self.params(inp, size)
        return None if params is None else render(self.template(flavor), params)


@lru_cache(maxsize=None)
def _template_text(name: str, flavor: str) -> str:
    folder = resources.files(__package__) / "templates"
    specific = folder / f"{name}.{flavor}.mustache"
    text = (specific if specific.is_file() else folder / f"{name}.mustache").read_text()
    check_template(text)
    return text


def spelling_params(u: Understanding) -> dict[str, Any]:
    """`fuzziness` of the text clauses and the `fuzzy` flag (trigram clauses): on only when the
    understanding sees a likely misspelling, since fuzzy expansion is what text costs most."""
    fuzzy = u.misspelled
    return {"fuzziness": "AUTO" if fuzzy else "0", "fuzzy": fuzzy}


def text_params(inp: ArmInput) -> dict[str, Any]:
    """Params of the arms that only need the query text (lexical, popular)."""
    return {"text": inp.text}


def vector_param(vector: np.ndarray) -> list[float]:
    """A vector as a JSON-ready list, rounded to float32 precision to keep bodies small."""
    return [round(float(x), 6) for x in np.asarray(vector, dtype=np.float32)]
