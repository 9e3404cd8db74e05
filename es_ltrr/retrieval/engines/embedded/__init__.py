"""EmbeddedEngine: an in-process engine that runs the query-DSL subset the arm templates use.

The corpus is indexed into numpy/scipy arrays (one BM25 weight matrix per text field, in the
style of `bm25s`: a query term's scores are one column slice), and every query clause
evaluates to `(scores: float32[n_docs], matched: bool[n_docs])` over the whole corpus. The
evaluator is a dispatch table of short functions, one per clause (`clauses.CLAUSES`).
Anything outside the subset raises `UnsupportedQuery` naming the clause and its JSON path;
nothing is silently approximated. Analysis comes from `es_ltrr.common.analysis` via `es_ltrr.common.schema`.

Modules, bottom up: `values` (ES value parsing), `lucene` (BM25, norms, feature
quantization, hashing), `ann` (the kNN graph), `fields` (per-field storage) and
`builders`, `snapshot` (the immutable
index: build, update, save, load), `params` (request JSON checks), `evaluator` with `clauses`
and `function_score`, `source` (`_source` filtering), and the facade `engine`.

Supported request body keys: `query`, `knn` (ES top-level form; scores add to the query's),
`size` (default 10), `from`, `_source` (bool / field / list / includes+excludes, wildcards),
`min_score`, `sort` (only `_score` descending), `track_total_hits` and `timeout` (ignored).

Supported clauses: `match_all`, `match_none`, `bool` (must / should / filter / must_not,
minimum_should_match, boost), `constant_score`, `dis_max`, `term`, `terms`, `range`
(gt/gte/lt/lte on numbers and dates), `exists`, `ids`, `match` (operator, minimum_should_match,
fuzziness, prefix_length, max_expansions, fuzzy_transpositions, lenient, zero_terms_query,
analyzer), `match_phrase` (slop 0), `multi_match` (best_fields, most_fields, phrase; field
boosts `name^3` and wildcards), `function_score` (field_value_factor, random_score, weight,
gauss/exp/linear decay on numeric and date fields; score_mode, boost_mode, max_boost,
min_score), `rank_feature` (saturation, log, sigmoid, linear), `knn` (OpenSearch
`{"knn": {field: {"vector", "k", "filter"}}}` and Elasticsearch `{"knn": {"field",
"query_vector", "k", "num_candidates", "filter", "similarity"}}`). Every clause takes
`boost` and `_name` (hits then carry `matched_queries`).

Scoring follows Lucene as used by Elasticsearch/OpenSearch with one shard:

* BM25 (k1 1.2, b 0.75): `(k1 + 1) · idf · tf / (tf + k1·(1 − b + b·dl/avgdl))`, idf =
  `ln(1 + (N − df + 0.5)/(df + 0.5))` with N = documents that have the field. Lucene ≥ 8
  dropped the `(k1 + 1)` factor, but Elasticsearch and OpenSearch use LegacyBM25Similarity,
  which keeps it (measured against the real node: scores agree within 1 %). Field lengths are quantized to one byte
  like Lucene's norms (`SmallFloat.intToByte4`; exact up to 40 tokens), avgdl is exact.
  Array-valued text is concatenated with a position gap of 100 (no phrase across values).
* Keyword fields have no norms and no frequencies: a term scores `(k1 + 1) · idf / (1 + k1·(1 − b +
  b/avgdl))` (avgdl = values per document), as in Lucene. Numeric/date/`terms`/`range`/
  `exists`/`ids`/`constant_score` score a constant 1 × boost.
* Fuzzy terms use Lucene's blended rewrite: each expansion is weighted by `1 − d /
  min(len(term), len(expansion))` and scored with the idf of the most frequent expansion.
* `match_phrase` scores phrase frequency with the sum of the terms' idfs, like PhraseQuery.
* rank_feature values are stored with Lucene FeatureField's 9 significant bits, and the
  default saturation pivot is FeatureField's approximation of the geometric mean.
* Fuzzy edit distance is Damerau (OSA, `fuzzy_transpositions` default true) or Levenshtein.
* kNN: score `(1 + cosine) / 2` (ES `cosine`, OpenSearch Lucene `cosinesimil`). As on a
  cluster, a knn clause's own `filter` pre-filters; filters elsewhere in the tree post-filter.
  Top-level `knn` hits are unioned with the query's and their scores add.
* `function_score` fails (400) on a matching doc without the field_value_factor field and no
  `missing`, or on a negative/NaN modifier result, as ES does.

Known differences from Elasticsearch (scores need not be identical; ranking should be close):

* Float arithmetic is numpy float32/float64, not Lucene's float: last-digit differences.
* Statistics are exact for the current corpus (ES: one shard, but deleted documents keep
  counting in df until segments merge; an update there is a delete plus an index).
* A fuzzy query term scores the *max* over its expansions; Lucene sums its expansions'
  SHOULD clauses (equal unless one field holds several expansions of the same term).
  Expansions whose weight would be <= 0 are dropped.
* kNN: with the `ann` extra (usearch) and ≥ 10k vectors, an HNSW graph built at index time
  and saved with the index finds the neighbours (recall@50 ≈ 0.96 on the catalog,
  `benchmarks/ann_recall.py`); their scores are exact. A knn `filter` still pre-filters:
  the graph is oversampled and filtered, or the allowed rows searched exactly when the filter
  is selective (`ann.py`). Without usearch, kNN is exact (brute-force cosine). A cluster's
  HNSW can miss other neighbours than ours. `num_candidates` only sets `k` for an ES knn *query* without `k`
  (ES then keeps num_candidates hits per shard, default 1.5 × size).
* `random_score` values differ from ES (a splitmix hash of seed and `_id`; `field` may only
  be `_seq_no`, `_id` or `id`), but are deterministic per (seed, _id); without a seed they
  are random per request, as in ES.
* `hits.total` is always exact (`"relation": "eq"`); `track_total_hits` and `timeout` are
  ignored.
* `_source` never includes the vector field unless it is named literally in the includes
  (ES returns it by default); it is returned as float32 (unit vector × stored norm).
* Date math (`now-1y`, `||+1d`, rounding) and time zones are unsupported (`UnsupportedQuery`);
  dates are UTC, partial dates in `lte`/`gt` round up to the end of their unit like ES.
* Analysis is `es_ltrr.common.analysis` (a regex approximation of the standard tokenizer).
* A document with a field not in the schema is rejected (the mappings are `dynamic:
  strict`); queries on fields not in the schema match nothing, as in ES.
"""

from .engine import EmbeddedEngine

__all__ = ["EmbeddedEngine"]
