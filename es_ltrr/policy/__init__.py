"""Arm-selection policies (learning to retrieve): one policy per module behind `Policy`."""

from __future__ import annotations

from .base import STATE_VERSION, Decision, Policy, PolicyContext
from .static import StaticPolicy, default_allocation

#: Every policy by name (the conformance test runs over all of them).
POLICIES: dict[str, type[Policy]] = {StaticPolicy.name: StaticPolicy}

__all__ = [
    "POLICIES", "STATE_VERSION", "Decision", "Policy", "PolicyContext", "StaticPolicy", "default_allocation",
]
