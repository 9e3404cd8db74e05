"""es-ltrr catalog: catalog files — `slice`, a small catalog that looks like the whole one."""

from __future__ import annotations

from pathlib import Path

import click

from .group import Ctx, fail, main, settings_options


@main.group()
def catalog() -> None:
    """Catalog files (docs/catalog.md)."""


@catalog.command("slice")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--rows", default=2000, show_default=True, type=click.IntRange(1, None),
              help="Rows of the slice (the shipped catalog has 32,833).")
@click.option("--seed", default=1, show_default=True, help="Seed of the sample: the same seed gives the same file.")
@settings_options()
@click.pass_obj
def catalog_slice(obj: Ctx, out: Path, rows: int, seed: int) -> None:
    """Write OUT (gzipped when it ends in .gz): --rows rows of the Spotify CSV (--catalog, default
    the shipped one) drawn from every genre × release decade × popularity quartile in
    proportion, each at least once — not the first rows, which are all pop. Index it with
    `es-ltrr --catalog OUT index`."""
    from ..catalog.slicing import write_slice

    source = obj.settings().catalog
    if not source.exists():
        fail(f"catalog not found: {source}")
    try:
        report = write_slice(out, rows, seed, source)
    except (OSError, ValueError) as exc:
        fail(str(exc))
    click.echo(report.summary())
