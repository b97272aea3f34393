"""Small helpers shared by the CLI's command modules."""

from __future__ import annotations

import click
from rich.console import Console

from vahti.config import Config


def config_of(ctx: click.Context) -> Config:
    return ctx.obj["config"]


def console(stderr: bool = False) -> Console:
    return Console(highlight=False, soft_wrap=True, stderr=stderr)
