"""The retrieval arms. `ARMS` is the one registry: each arm's name, family, default depth and
fusion weight are defined on the arm, and the static policy, fusion weights and the LTR
featureset's per-arm features all derive from it."""

from __future__ import annotations

from typing import Iterable

from ...common.templating import TemplateError, check_template, render
from . import explore, lexical, popular, q2e, semantic, structured
from .base import DISPLAY_FIELDS, Arm, ArmInput, CatalogStats

ARMS: dict[str, Arm] = {
    m.ARM.name: m.ARM for m in (lexical, popular, structured, semantic, q2e, explore)
}


def check_arm_names(names: Iterable[str], what: str) -> None:
    """Raise ValueError naming every unknown arm: a misspelt arm must not silently vanish.

    >>> check_arm_names(["lexical", "semantic"], "allocation")
    >>> check_arm_names(["lexial"], "allocation")
    Traceback (most recent call last):
    ...
    ValueError: unknown arm(s) in allocation: lexial (arms: lexical, popular, structured, semantic, q2e, explore)
    """
    unknown = [n for n in names if n not in ARMS]
    if unknown:
        raise ValueError(f"unknown arm(s) in {what}: {', '.join(unknown)} (arms: {', '.join(ARMS)})")


__all__ = [
    "ARMS", "Arm", "ArmInput", "CatalogStats", "DISPLAY_FIELDS",
    "TemplateError", "check_arm_names", "check_template", "render",
]
