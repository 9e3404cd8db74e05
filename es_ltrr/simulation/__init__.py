"""Simulation of users and bandit policies over the catalog (no cluster, no served traffic)."""

from .users import (
    INTENT_MIX,
    INTENTS,
    ClickModel,
    QueryGenerator,
    SimulatedQuery,
    drop_words,
    is_holdout,
    misspell_text,
    split,
    typo,
)

__all__ = [
    "INTENT_MIX",
    "INTENTS",
    "ClickModel",
    "QueryGenerator",
    "SimulatedQuery",
    "drop_words",
    "is_holdout",
    "misspell_text",
    "split",
    "typo",
]
