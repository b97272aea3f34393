"""`vahti sources add|list|remove|check`: the sources in $VAHTI_HOME/sources.toml."""

from __future__ import annotations

import click


@click.group("sources")
def sources_group() -> None:
    """Sources to crawl: paste listings, forums, sites, single URLs."""
