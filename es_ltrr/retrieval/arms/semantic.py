"""Dense-vector kNN on MiniLM embeddings: meaning over spelling (topics, moods, paraphrases)."""

from .base import Arm, ArmInput, vector_param

#: HNSW candidates per query. A cluster's Lucene HNSW search with k = size (10) finds ~70 % of
#: the exact top 10 (measured with `es-ltrr parity`); exploring 200 and keeping `size` is
#: near-exact, for a few ms.
NUM_CANDIDATES = 200


def semantic_params(inp: ArmInput) -> dict:
    return {"vector": vector_param(inp.vector), "num_candidates": NUM_CANDIDATES}


ARM = Arm(
    "semantic",
    "embedding",
    semantic_params,
    default_depth=50,
    fusion_weight=0.7,
    needs_vector=True,
    description="kNN over all-MiniLM-L6-v2 vectors (knn_vector / dense_vector)",
)
