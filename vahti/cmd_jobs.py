"""`vahti daemon` and `vahti jobs ...`: scheduled crawls."""

from __future__ import annotations

import click


@click.group("jobs")
def jobs_group() -> None:
    """The daemon's jobs: one per enabled source."""
