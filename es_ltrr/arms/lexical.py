"""Lexical BM25 over names, artist, album and description, fuzzy for misspellings."""

from .base import Arm, ArmInput


def lexical_params(inp: ArmInput) -> dict:
    return {"text": inp.text}


ARM = Arm(
    "lexical",
    "lexical",
    lexical_params,
    description="BM25 best_fields over name/artist/album/description, fuzzy + trigram + exact name",
)
