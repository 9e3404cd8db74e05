"""The retrieval arms. `ARMS` maps each arm's name to its definition, in a stable order."""

from . import explore, lexical, popular, q2e, semantic, structured
from .base import Arm, ArmInput, CatalogStats, DISPLAY_FIELDS
from .render import TemplateError, check_template, render

ARMS: dict[str, Arm] = {
    m.ARM.name: m.ARM for m in (lexical, popular, structured, semantic, q2e, explore)
}

__all__ = [
    "ARMS", "Arm", "ArmInput", "CatalogStats", "DISPLAY_FIELDS",
    "TemplateError", "check_template", "render",
]
