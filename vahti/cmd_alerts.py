"""`vahti alerts ...`: alerts raised and their deliveries (the outbox)."""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

import click
from rich.table import Table

from vahti.clictx import config_of, console
from vahti.config import Config
from vahti.display import echo
from vahti.errors import VahtiError
from vahti.scheduler.alerting import raise_sighting_alerts
from vahti.scheduler.channels import DeliveryError, send
from vahti.scheduler.channels.config import (
    ChannelConfig,
    ChannelConfigError,
    channel_problems,
    parse_channels,
)
from vahti.scheduler.channels.message import iso, plain, sample_message
from vahti.scheduler.delivery import AlertSettings, deliver_due
from vahti.storage import alerts as alerts_repo
from vahti.storage import outbox
from vahti.storage.clock import now
from vahti.wiring import open_db

STATES = ("pending", "sending", "sent", "dead")


def _channels(cfg: Config) -> dict[str, ChannelConfig]:
    try:
        return parse_channels(cfg.tables.get("channels", {}))
    except ChannelConfigError as exc:
        raise VahtiError(str(exc)) from None


def _settings(cfg: Config) -> AlertSettings:
    try:
        return AlertSettings.from_config(cfg)
    except ChannelConfigError as exc:
        raise VahtiError(str(exc)) from None


@click.group("alerts")
def alerts_group() -> None:
    """Alerts and their delivery to the configured channels."""


@alerts_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--state", type=click.Choice(STATES),
              help="Only alerts with a delivery in this state.")
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True,
              help="At most this many alerts, newest first (0: all).")
@click.pass_context
def alerts_list(ctx: click.Context, as_json: bool, state: str | None, limit: int) -> None:
    """Alerts, newest first, with their delivery state per channel."""
    with open_db(config_of(ctx)) as storage:
        keys = outbox.alert_keys_in_state(storage, state) if state else None
        alerts = alerts_repo.list_alerts(storage, limit, keys)
        deliveries = outbox.deliveries_for(storage, [a["alert_key"] for a in alerts])
    items = []
    for alert in alerts:
        item = plain(alert)
        item["deliveries"] = {
            d["channel"]: {"mode": d["mode"], "state": d["state"], "attempts": d["attempts"],
                           "last_error": d.get("last_error", ""),
                           "sent_at": iso(d.get("sent_at"))}
            for d in deliveries.get(alert["alert_key"], [])
        }
        items.append(item)
    if as_json:
        echo(json.dumps(items, indent=2))
        return
    if not items:
        echo("no alerts" + (f" with a delivery {state}" if state else ""))
        return
    table = Table("created", "kind", "source", "what", "deliveries", "key")
    for item in items:
        if item["kind"] == "sighting":
            what = f"{item['persons']} persons on {item['url']}"
        else:
            what = str(item.get("problem", ""))
        shown = ", ".join(f"{ch} {d['state']}" + (f" ({d['last_error']})" if d["last_error"]
                                                   and d["state"] != "sent" else "")
                          for ch, d in item["deliveries"].items()) or "no channel"
        table.add_row(str(item["created"])[:19], item["kind"], str(item.get("source", "")),
                      what, shown, item["alert_key"][:12])
    console().print(table)


@alerts_group.command("raise")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def alerts_raise(ctx: click.Context, as_json: bool) -> None:
    """One pass: an alert per page for the persons newly seen on it, queued per channel."""
    cfg = config_of(ctx)
    channels = _channels(cfg)
    with open_db(cfg) as storage:
        raised = raise_sighting_alerts(storage, channels)
    if as_json:
        echo(json.dumps({"alerts": len(raised),
                         "persons": sum(a["persons"] for a in raised),
                         "alert_keys": [a["alert_key"] for a in raised]}, indent=2))
        return
    persons = sum(a["persons"] for a in raised)
    echo(f"{len(raised)} alerts raised ({persons} persons), "
         f"queued for {len(channels)} channels")


@alerts_group.command("deliver")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def alerts_deliver(ctx: click.Context, as_json: bool) -> None:
    """One delivery pass over the outbox (due retries and closed digest periods too)."""
    cfg = config_of(ctx)
    settings = _settings(cfg)
    with open_db(cfg) as storage:
        report = deliver_due(storage, settings)
    if as_json:
        echo(json.dumps(report.to_dict(), indent=2))
        return
    echo(f"{report.sent} sent ({report.summaries} digest summaries), "
         f"{report.retrying} to retry, {report.dead} dead")
    for error in report.errors:
        echo(f"  {error}")


@alerts_group.command("channels")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def alerts_channels(ctx: click.Context, as_json: bool) -> None:
    """The configured channels (secrets hidden); exit 1 when one cannot send now."""
    channels = _channels(config_of(ctx))
    rows: list[dict[str, Any]] = []
    for ch in channels.values():
        rows.append({**ch.describe(), "problems": channel_problems(ch)})
    if as_json:
        echo(json.dumps(rows, indent=2))
    elif not rows:
        echo("no channels: add [channels.NAME] tables to config.toml")
    else:
        table = Table("name", "type", "mode", "kinds", "target", "secret", "problems")
        for row in rows:
            mode = row["mode"] + (f" ({row['digest']})" if "digest" in row else "")
            kind = row["type"] + (f" ({row['format']})" if "format" in row else "")
            secrets = "; ".join(row[k] for k in ("secret", "auth") if k in row)
            table.add_row(row["name"], kind, mode, ",".join(row["kinds"]),
                          row["target"], secrets,
                          "; ".join(row["problems"]) or "ok")
        console().print(table)
    if any(row["problems"] for row in rows):
        sys.exit(1)


@alerts_group.command("test")
@click.argument("channel")
@click.pass_context
def alerts_test(ctx: click.Context, channel: str) -> None:
    """Send a synthetic test alert (no sighting in it) to CHANNEL now."""
    channels = _channels(config_of(ctx))
    if channel not in channels:
        known = ", ".join(channels) or "none configured"
        raise VahtiError(f"no channel {channel} in config.toml (channels: {known})")
    message = sample_message(channel, now(), "test-" + uuid.uuid4().hex)
    try:
        send(channels[channel], message)
    except DeliveryError as exc:
        raise VahtiError(f"channel {channel}: test alert not delivered: {exc}") from None
    echo(f"test alert sent to channel {channel} (key {message.idempotency_key})")
