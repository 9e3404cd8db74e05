"""What commands print for people: progress and status lines on stderr, with every registered
secret scrubbed (`common.redact`), so stdout stays the command's result (tables, `--json`)."""

from __future__ import annotations

import click

from .redact import scrub


def say(message: str) -> None:
    """One status line on stderr, secrets masked."""
    click.echo(scrub(message), err=True)
