"""One field list → index mappings for each engine flavor.

The schema is data: the embedded engine reads the same `Field` objects to know which
analyzer a text field uses, and `mappings/*.json` are generated from it (a test keeps the
checked-in files equal to what this module produces). Music is the shipped example; a
different catalog supplies its own `Schema`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

FieldKind = Literal[
    "keyword", "text", "float", "integer", "date", "rank_features", "vector", "boolean"
]
Flavor = Literal["elasticsearch", "opensearch"]
FLAVORS: tuple[Flavor, ...] = ("elasticsearch", "opensearch")

EMBEDDING_DIM = 384

#: How a cluster stores a `rank_features` field (the Q2E memory): `rank_features` (the
#: mapper-extras module) queried with `rank_feature`, or, on an Elasticsearch ≥ 8.11 without
#: that module, `sparse_vector` (in the server itself) queried with `term`. Both index each key
#: as a Lucene FeatureField (9 significant bits), and a `term` scores the key's value, as
#: `rank_feature` with `linear` does: the same scores, only the query syntax differs.
Memory = Literal["rank_features", "sparse_vector"]

#: Analysis chain shared by both flavors. `ltrr_text` folds case and accents so "Beyoncé"
#: matches "beyonce"; `ltrr_trigram` indexes character trigrams so a misspelt name still
#: shares most of its grams with the right one; `ltrr_norm` normalizes keyword sub-fields
#: for exact (case/accent-insensitive) matching of whole names; `ltrr_symbol` keeps each
#: "other symbol" character (emoji, ★, ♪; Unicode So) as a token, so "🔥🔥🔥" finds names
#: with 🔥 (see `es_ltrr.common.analysis`).
ANALYSIS: dict[str, Any] = {
    "analyzer": {
        "ltrr_text": {
            "type": "custom",
            "tokenizer": "standard",
            "filter": ["lowercase", "asciifolding"],
        },
        "ltrr_trigram": {
            "type": "custom",
            "tokenizer": "ltrr_trigram_tokenizer",
            "filter": ["lowercase", "asciifolding"],
        },
        "ltrr_symbol": {"type": "custom", "tokenizer": "ltrr_symbol_tokenizer"},
    },
    "tokenizer": {
        "ltrr_trigram_tokenizer": {
            "type": "ngram",
            "min_gram": 3,
            "max_gram": 3,
            "token_chars": ["letter", "digit"],
        },
        "ltrr_symbol_tokenizer": {"type": "pattern", "pattern": "\\p{So}", "group": 0},
    },
    "normalizer": {"ltrr_norm": {"type": "custom", "filter": ["lowercase", "asciifolding"]}},
}


@dataclass(frozen=True)
class Capabilities:
    """What the cluster's modules let the schema use; everything rendered for a cluster (the
    mappings, the q2e arm, the featureset's params) is chosen by it, in one place each.

    * `memory`: how `rank_features` fields are stored and queried (see `Memory`);
    * `analysis_common`: the analysis-common module (asciifolding, the n-gram and pattern
      tokenizers). Without it every analyzer is the standard tokenizer + lowercase: no accent
      folding, and the trigram and symbol sub-fields hold words (`CORE_ANALYSIS`).

    >>> Capabilities.of("elasticsearch", {"x-pack-core", "transport-netty4"})
    Capabilities(memory='sparse_vector', analysis_common=False)
    >>> Capabilities.of("opensearch", {"mapper-extras", "analysis-common"}) == Capabilities()
    True
    >>> Capabilities.of("opensearch", set()).memory is None    # no representation: apply says so
    True
    """

    memory: Memory | None = "rank_features"
    analysis_common: bool = True

    @classmethod
    def of(cls, flavor: str, components: set[str], version: tuple[int, ...] = (8, 19)) -> "Capabilities":
        """The capabilities of a cluster of `flavor` (at `version`) whose nodes all have the
        plugins and modules `components`."""
        if "mapper-extras" in components:
            memory: Memory | None = "rank_features"
        elif flavor == "elasticsearch" and tuple(version[:2]) >= (8, 11):
            memory = "sparse_vector"
        else:
            memory = None
        return cls(memory, "analysis-common" in components)

    @property
    def gaps(self) -> list[str]:
        """What differs from a full cluster, for `apply`'s plan."""
        return ([] if self.memory == "rank_features" else [f"q2e as {self.memory}"]) + (
            [] if self.analysis_common else ["core analysis (no folding, trigrams or symbols)"])


#: The analysis a server without analysis-common offers: every `ANALYSIS` analyzer becomes the
#: standard tokenizer + lowercase, the normalizer lowercase only.
CORE_ANALYSIS: dict[str, Any] = {
    "analyzer": {name: {"type": "custom", "tokenizer": "standard", "filter": ["lowercase"]}
                 for name in ANALYSIS["analyzer"]},
    "normalizer": {"ltrr_norm": {"type": "custom", "filter": ["lowercase"]}},
}


@dataclass(frozen=True)
class Field:
    """One indexed field; `subfields` become `name.sub` multi-fields."""

    name: str
    kind: FieldKind
    analyzer: str | None = None
    normalizer: str | None = None
    subfields: tuple["Field", ...] = ()
    dims: int | None = None

    def mapping(self, flavor: Flavor, capabilities: Capabilities = Capabilities()) -> dict[str, Any]:
        """The mapping JSON of this field for `flavor` with `capabilities`."""
        if self.kind == "vector":
            return _vector_mapping(self.dims or EMBEDDING_DIM, flavor)
        if self.kind == "rank_features":
            if capabilities.memory is None:
                raise ValueError(f"{self.name}: the cluster has no rank_features field type (mapper-extras)")
            return {"type": capabilities.memory}
        body: dict[str, Any] = {"type": self.kind}
        if self.analyzer:
            body["analyzer"] = self.analyzer
        if self.normalizer:
            body["normalizer"] = self.normalizer
        if self.subfields:
            body["fields"] = {sub.name: sub.mapping(flavor, capabilities) for sub in self.subfields}
        return body


def _vector_mapping(dims: int, flavor: Flavor) -> dict[str, Any]:
    if flavor == "elasticsearch":
        return {"type": "dense_vector", "dims": dims, "index": True, "similarity": "cosine"}
    # Lucene engine: the integ-test OpenSearch node has no native faiss/nmslib libraries.
    return {
        "type": "knn_vector",
        "dimension": dims,
        "method": {"name": "hnsw", "space_type": "cosinesimil", "engine": "lucene"},
    }


@dataclass(frozen=True)
class Schema:
    """A catalog's fields plus the names every other module relies on."""

    fields: tuple[Field, ...]
    vector_field: str = "embedding"
    q2e_field: str = "q2e"
    analysis: dict[str, Any] = field(default_factory=lambda: ANALYSIS)

    def field(self, path: str) -> Field:
        """Look up `name` or `name.sub`; KeyError names the unknown path."""
        head, _, sub = path.partition(".")
        for f in self.fields:
            if f.name == head:
                if not sub:
                    return f
                if f.kind == "rank_features":
                    return f
                for s in f.subfields:
                    if s.name == sub:
                        return Field(path, s.kind, s.analyzer, s.normalizer, (), s.dims)
        raise KeyError(f"unknown field {path!r}")

    def index_body(self, flavor: Flavor, shards: int = 1, replicas: int = 0,
                   capabilities: Capabilities = Capabilities()) -> dict[str, Any]:
        """Settings + mappings for creating the index on `flavor` with `shards` primary shards,
        each with `replicas` copies on other nodes, using what `capabilities` allow."""
        index_settings: dict[str, Any] = {"number_of_shards": shards, "number_of_replicas": replicas}
        if flavor == "opensearch":
            index_settings["knn"] = True
        analysis = self.analysis if capabilities.analysis_common else CORE_ANALYSIS
        return {
            "settings": {"index": index_settings, "analysis": analysis},
            "mappings": {
                "dynamic": "strict",
                "properties": {f.name: f.mapping(flavor, capabilities) for f in self.fields},
            },
        }


def _name_field(name: str) -> Field:
    return Field(
        name,
        "text",
        analyzer="ltrr_text",
        subfields=(
            Field("exact", "keyword", normalizer="ltrr_norm"),
            Field("trigram", "text", analyzer="ltrr_trigram"),
            Field("symbols", "text", analyzer="ltrr_symbol"),
        ),
    )


#: The shipped music schema (tracks, artists, albums, playlists, genres, subgenres).
MUSIC = Schema(
    fields=(
        Field("id", "keyword"),
        Field("type", "keyword"),
        _name_field("name"),
        _name_field("artist"),
        Field("album", "text", analyzer="ltrr_text"),
        Field("description", "text", analyzer="ltrr_text"),
        Field("genres", "keyword"),
        Field("subgenres", "keyword"),
        Field("moods", "keyword"),
        Field("popularity", "float"),
        Field("release_date", "date"),
        Field("release_year", "integer"),
        Field("track_count", "integer"),
        Field("duration_ms", "integer"),
        Field("danceability", "float"),
        Field("energy", "float"),
        Field("valence", "float"),
        Field("acousticness", "float"),
        Field("tempo", "float"),
        Field("instrumentalness", "float"),
        Field("q2e", "rank_features"),
        Field("q2e_queries", "text", analyzer="ltrr_text"),
        Field("embedding", "vector", dims=EMBEDDING_DIM),
    )
)


def write_mappings(schema: Schema, directory: Path) -> list[Path]:
    """Write one `<flavor>.json` per flavor; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for flavor in FLAVORS:
        path = directory / f"{flavor}.json"
        path.write_text(json.dumps(schema.index_body(flavor), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
