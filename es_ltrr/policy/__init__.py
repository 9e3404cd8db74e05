"""Arm-selection policies (learning to retrieve)."""

from .base import Decision, Policy, PolicyContext
from .static import DEFAULT_ALLOCATION, StaticPolicy

__all__ = ["DEFAULT_ALLOCATION", "Decision", "Policy", "PolicyContext", "StaticPolicy"]
