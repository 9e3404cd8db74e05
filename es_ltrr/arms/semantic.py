"""Dense-vector kNN on MiniLM embeddings: meaning over spelling (topics, moods, paraphrases)."""

from .base import Arm, ArmInput, vector_param


def semantic_params(inp: ArmInput) -> dict:
    return {"vector": vector_param(inp.vector), "num_candidates": 200}


ARM = Arm(
    "semantic",
    "embedding",
    semantic_params,
    needs_vector=True,
    description="kNN over all-MiniLM-L6-v2 vectors (knn_vector / dense_vector)",
)
