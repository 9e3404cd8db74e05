"""Figures a test measures and the run should show without `-s`: each is a titled block of
lines, written at the end of the session by `pytest_terminal_summary` (tests/conftest.py),
beside the hostile-input tally. E.g. the kill-a-node timeline of tests/integration/test_multinode.py,
the figures docs/cluster.md quotes.
"""

from __future__ import annotations

#: (title, lines) in the order the tests reported them.
REPORTS: list[tuple[str, list[str]]] = []


def report(title: str, lines: list[str]) -> None:
    """Show `lines` under `title` in the session's terminal summary."""
    REPORTS.append((title, list(lines)))
