"""Popularity-biased lexical: BM25 multiplied by log1p(popularity), for head queries."""

from .base import Arm, ArmInput


def popular_params(inp: ArmInput) -> dict:
    return {"text": inp.text}


ARM = Arm(
    "popular",
    "lexical",
    popular_params,
    description="BM25 over name/artist/album × log1p(popularity)",
)
