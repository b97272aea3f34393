"""`vahti export misp|stix`: stored alerts as a MISP JSON file or a STIX 2.1 bundle.

For an analyst's tool that vahti cannot reach: the same MISP events the misp channel
creates (MISP: Events > Import from... > MISP JSON), or a STIX bundle (observed data and
sightings). Alerts created in [--since, --until). The file gets mode 0600 and is written
via a temporary file then renamed; an existing file is kept unless --force.
pymisp and stix2 are imported when the command runs, not when the CLI starts.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from vahti.clictx import config_of
from vahti.display import echo
from vahti.errors import VahtiError
from vahti.outfiles import write_private
from vahti.scheduler.stix_bundle import TLP_NAMES
from vahti.storage.clock import now
from vahti.wiring import open_db

RELATIVE_RE = re.compile(r"(\d{1,5})([hdw])")
UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def parse_when(text: str, at: datetime) -> datetime:
    """An ISO date (midnight UTC), an ISO date-time (UTC if no zone) or a relative time
    before `at`: 24h, 7d, 2w."""
    text = text.strip()
    if match := RELATIVE_RE.fullmatch(text):
        return at - timedelta(**{UNITS[match[2]]: int(match[1])})
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise VahtiError(f"not a time: {text!r} (use 2026-11-01, 2026-11-01T08:00Z, "
                         "24h, 7d or 2w)") from None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _payloads(ctx: click.Context, since: str, until: str | None) -> tuple[list[dict], str]:
    from vahti.scheduler.channels.message import build_payload, iso
    from vahti.storage.alerts import alerts_created_between

    at = now()
    start = parse_when(since, at)
    end = parse_when(until, at) if until else at
    if start >= end:
        raise VahtiError("--since must be before --until")
    with open_db(config_of(ctx)) as storage:
        alerts = alerts_created_between(storage, start, end)
    span = f"{iso(start)} to {iso(end)}"
    return [build_payload(a) for a in alerts if a.get("kind") == "sighting"], span


def _write(path: Path, text: str, force: bool) -> None:
    if path.exists() and not force:
        raise VahtiError(f"{path} exists: pass --force to replace it")
    if not path.parent.is_dir():
        raise VahtiError(f"cannot write {path}: no such directory {path.parent}")
    write_private(path, text)


def _options(func: Any) -> Any:
    for option in reversed((
        click.option("--since", required=True, metavar="WHEN",
                     help="Alerts created from then: 2026-11-01, 2026-11-01T08:00Z, 7d, 24h."),
        click.option("--until", metavar="WHEN", help="Alerts created before then (default: now)."),
        click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
                     help="The file to write (mode 0600)."),
        click.option("--force", is_flag=True, help="Replace --out if it exists."),
        click.option("--tlp", type=click.Choice(TLP_NAMES), default="amber", show_default=True,
                     help="Traffic Light Protocol marking."),
    )):
        func = option(func)
    return func


@click.group("export")
def export_group() -> None:
    """Stored alerts as files for MISP and STIX 2.1 tools."""


@export_group.command("misp")
@_options
@click.option("--event-per", type=click.Choice(("alert", "source")), default="alert",
              show_default=True, help="One event per alert, or one per source.")
@click.option("--include-refs", is_flag=True,
              help="Add the controller's refs as attributes (off: counts only).")
@click.pass_context
def export_misp(ctx: click.Context, since: str, until: str | None, out: str, force: bool,
                tlp: str, event_per: str, include_refs: bool) -> None:
    """Sighting alerts as MISP events (MISP JSON, for Import from MISP JSON)."""
    from vahti.scheduler.channels.misp_event import MispSettings, export_events

    payloads, span = _payloads(ctx, since, until)
    events = export_events(payloads, MispSettings(tlp=tlp, include_refs=include_refs,
                                                  event_per=event_per))
    document = {"response": [json.loads(e.to_json()) for e in events]}
    _write(Path(out), json.dumps(document, indent=1, sort_keys=True) + "\n", force)
    echo(f"{len(events)} MISP events ({len(payloads)} sighting alerts, {span}) written to {out}")


@export_group.command("stix")
@_options
@click.pass_context
def export_stix(ctx: click.Context, since: str, until: str | None, out: str, force: bool,
                tlp: str) -> None:
    """Sighting alerts as a STIX 2.1 bundle (indicator, observed data, sighting)."""
    from vahti.scheduler.stix_bundle import build_bundle

    payloads, span = _payloads(ctx, since, until)
    bundle = build_bundle(payloads, tlp)
    _write(Path(out), bundle.serialize(pretty=True) + "\n", force)
    echo(f"STIX 2.1 bundle of {len(payloads)} sighting alerts ({span}) written to {out}")
