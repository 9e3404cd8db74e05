"""Lexical BM25 over names, artist, album and description, fuzzy for misspellings."""

from .base import Arm, text_params

ARM = Arm(
    "lexical",
    "lexical",
    text_params,
    default_depth=50,
    description="BM25 best_fields over name/artist/album/description, fuzzy + trigram + exact name",
)
