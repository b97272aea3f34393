"""`vahti alerts ...`: alerts raised and their deliveries (the outbox)."""

from __future__ import annotations

import click


@click.group("alerts")
def alerts_group() -> None:
    """Alerts and their delivery to the configured channels."""
