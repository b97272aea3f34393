"""`vahti crawl NAME`: run one source's crawl now, through Tor."""

from __future__ import annotations

import click


@click.command()
@click.argument("name")
def crawl(name: str) -> None:
    """Crawl the source NAME now (through Tor unless the source is direct)."""
    raise click.ClickException("not built yet")
