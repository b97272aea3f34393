"""`vahti tor status`: the tor vahti uses (launched or external)."""

from __future__ import annotations

import click


@click.group("tor")
def tor_group() -> None:
    """The tor vahti crawls through."""
