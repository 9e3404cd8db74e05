"""Simulation of users and bandit policies over the catalog (no cluster, no served traffic)."""

from .clicks import ClickModel
from .typos import drop_words, misspell_text, typo
from .users import INTENT_MIX, INTENTS, QueryGenerator, SimulatedQuery, is_holdout, split

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
