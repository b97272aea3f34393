"""Small helpers shared by the CLI's command modules."""

from __future__ import annotations

import click

from vahti.config import Config
from vahti.display import console  # the one console every command prints with

__all__ = ["config_of", "console"]


def config_of(ctx: click.Context) -> Config:
    return ctx.obj["config"]
