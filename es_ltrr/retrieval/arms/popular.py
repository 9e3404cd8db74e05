"""Popularity-biased lexical: BM25 multiplied by log1p(popularity), for head queries."""

from .base import Arm, text_params

ARM = Arm(
    "popular",
    "lexical",
    text_params,
    default_depth=25,
    description="BM25 over name/artist/album × log1p(popularity)",
)
