"""`vahti tor status`: the tor vahti uses (launched or external).

Never starts a tor: in launch mode it reports vahti's own tor if one runs (from its
state under $VAHTI_HOME/tor), and otherwise that crawls start it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from vahti.clictx import config_of, console
from vahti.config import Config
from vahti.display import clean, echo, styled
from vahti.errors import VahtiError
from vahti.spiders.torctl import tor_status
from vahti.wiring import tor_settings


def tor_info(cfg: Config) -> dict[str, Any]:
    """tor_status() for the configuration; never raises (a bad [tor] value is an error)."""
    try:
        settings = tor_settings(cfg)
    except VahtiError as exc:
        external = cfg.get("tor.socks") or cfg.get("tor.control")
        return {"mode": "external" if external else cfg.get("tor.mode"),
                "state": "misconfigured", "ready": False, "reachable": False,
                "error": str(exc)}
    return tor_status(settings)


def tor_line(info: dict[str, Any]) -> Text:
    """One line for `vahti status`."""
    where = info.get("socks") or info.get("control") or ""
    head = clean(f"{info.get('mode')}{' ' + where if where else ''}: ")
    state = str(info.get("state", ""))
    if info.get("error"):
        return Text.assemble(head, styled(state, "red"), (
            "" if info["error"] == info.get("state") else clean(f" ({info['error']})")))
    if info.get("ready"):
        extra = []
        if info.get("version"):
            extra.append(f"tor {info['version']}")
        if "circuits" in info:
            extra.append(f"{info['circuits']['built']} circuits")
        if info.get("pid"):
            extra.append(f"pid {info['pid']}")
        return Text.assemble(head, styled(state, "green"),
                             clean(f" ({', '.join(extra)})") if extra else "")
    return Text(head + clean(state))


def _table(info: dict[str, Any]) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    color = "red" if info.get("error") else "green" if info.get("ready") else "yellow"
    table.add_row("mode", str(info.get("mode")))
    table.add_row("state", styled(info.get("state", ""), color))
    for key in ("socks", "control"):
        if info.get(key):
            table.add_row(key, str(info[key]))
    if info.get("version"):
        table.add_row("version", f"tor {info['version']}")
    boot = info.get("bootstrap")
    if boot:
        text = f"{boot['progress']} % ({boot['summary'] or boot['tag']})"
        if boot.get("warning"):
            text += f", warning: {boot['warning']}"
        table.add_row("bootstrap", text)
    if "circuit_established" in info:
        table.add_row("circuit established", "yes" if info["circuit_established"] else "no")
    circuits = info.get("circuits")
    if circuits:
        purposes = ", ".join(f"{name} {n}" for name, n in sorted(circuits["purposes"].items()))
        table.add_row("circuits built", f"{circuits['built']}"
                      + (f" ({purposes})" if purposes else ""))
    if "streams" in info:
        table.add_row("streams open", str(info["streams"]["open"]))
    if info.get("pid"):
        table.add_row("pid", f"{info['pid']} (launched by vahti, {info.get('users', '?')})")
    if info.get("log"):
        table.add_row("log", str(info["log"]))
    for note in info.get("notes", []):
        table.add_row("note", note)
    if info.get("error"):
        table.add_row("error", styled(info["error"], "red"))
    return table


@click.group("tor")
def tor_group() -> None:
    """The tor vahti crawls through."""


@tor_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def tor_status_command(ctx: click.Context, as_json: bool) -> None:
    """Mode, addresses, bootstrap, circuits and streams; exit 2 when tor is not usable.

    Never starts tor. In launch mode an idle vahti (no crawl running) has no tor, which
    is fine: crawls and the daemon start it.
    """
    info = tor_info(config_of(ctx))
    if as_json:
        echo(json.dumps(info, indent=2, sort_keys=True))
    else:
        console().print(_table(info))
    if info.get("error"):
        sys.exit(2)
