"""`vahti alerts ...`: alerts raised, their deliveries (the outbox) and their triage
(`ack`, `resolve`, `false-positive`: scheduler/triage.py)."""

from __future__ import annotations

import getpass
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
from vahti.storage.alert_states import COMMANDS, FALSE_POSITIVE, state_of
from vahti.storage.alert_states import STATES as TRIAGE_STATES
from vahti.storage.clock import now
from vahti.wiring import open_db

STATES = ("pending", "sending", "sent", "dead")  # of a delivery (the outbox)


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
@click.option("--state", type=click.Choice(TRIAGE_STATES + STATES),
              help="Only alerts in this triage state (new, acknowledged, false_positive, "
                   "resolved), or with a delivery in this state (pending, sending, sent, "
                   "dead).")
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True,
              help="At most this many alerts, newest first (0: all).")
@click.pass_context
def alerts_list(ctx: click.Context, as_json: bool, state: str | None, limit: int) -> None:
    """Alerts, newest first, with their triage state and delivery state per channel."""
    triage_state = state if state in TRIAGE_STATES else None
    delivery_state = state if state in STATES else None
    with open_db(config_of(ctx)) as storage:
        keys = outbox.alert_keys_in_state(storage, delivery_state) if delivery_state else None
        alerts = alerts_repo.list_alerts(storage, limit, keys, triage_state)
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
        echo("no alerts" + (f" with a delivery {state}" if delivery_state else "")
             + (f" in state {state}" if triage_state else ""))
        return
    table = Table("created", "kind", "source", "what", "state", "deliveries", "key")
    for item in items:
        if item["kind"] == "sighting":
            what = f"{item['persons']} persons on {item['url']}"
        else:
            what = str(item.get("problem", ""))
        shown = ", ".join(f"{ch} {d['state']}" + (f" ({d['last_error']})" if d["last_error"]
                                                   and d["state"] != "sent" else "")
                          for ch, d in item["deliveries"].items()) or "no channel"
        table.add_row(str(item["created"])[:19], item["kind"], str(item.get("source", "")),
                      what, _state_shown(item), shown, item["alert_key"][:12])
    console().print(table)


def _state_shown(item: dict[str, Any]) -> str:
    state = state_of(item)
    if item.get("state_by"):
        state += f" by {item['state_by']} {str(item.get('state_changed') or '')[:16]}"
    if item.get("state_comment"):
        state += f": {item['state_comment']}"
    return state


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


# --- triage -------------------------------------------------------------------------------

NOTE_HELP = ("Never an identifier: a comment holding an identity code, e-mail address or "
             "phone number is refused (names cannot be told from words: leave them out).")


def _checked_note(cfg: Config, text: str, what: str, limit: int) -> str:
    """Free text the analyst typed, refused (one line that does not repeat it) when it
    is too long or holds anything identifier-shaped (matchers/free_text.py)."""
    from vahti.matchers.free_text import holds_identifier

    if len(text) > limit:
        raise VahtiError(f"{what} is {len(text)} characters long, at most {limit} are kept: "
                         "shorten it; nothing was changed")
    if holds_identifier(text, region=str(cfg.get("matchers.phone_region")),
                        customer_id_pattern=str(cfg.get("matchers.customer_id_pattern"))):
        raise VahtiError(f"{what} holds what looks like an identifier (an identity code, "
                         "e-mail address or phone number) and vahti never stores one: write "
                         "it without that; nothing was changed")
    return text


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container)
        return "unknown"


def _run_triage(ctx: click.Context, target: str, alert_id: str, comment: str,
                by: str | None, as_json: bool, refs: tuple[str, ...]) -> None:
    from vahti.scheduler.triage import BY_MAX, COMMENT_MAX, triage
    from vahti.storage.alert_states import TransitionRefused
    from vahti.storage.triage import AlertLookupError, ChangedMeanwhile, find_alert

    cfg = config_of(ctx)
    comment = _checked_note(cfg, comment, "the comment", COMMENT_MAX)
    by = _checked_note(cfg, _os_user() if by is None else by, "--by", BY_MAX)
    if not by.strip():
        raise VahtiError("--by: a name is required (who made the change)")
    channels = _channels(cfg)
    with open_db(cfg) as storage:
        try:
            alert = find_alert(storage, alert_id)
            result = triage(storage, channels, alert, target, by, comment, refs)
        except (AlertLookupError, TransitionRefused, ChangedMeanwhile) as exc:
            raise VahtiError(str(exc)) from None
    if as_json:
        echo(json.dumps(result.to_dict(), indent=2))
        return
    if result.changed:
        echo(f"alert {result.alert_key}: {result.state} (was {result.previous_state}) "
             f"by {result.by}")
    else:
        echo(f"alert {result.alert_key}: already {result.state}"
             + (f" (since {result.changed_at}, by {result.by})" if result.changed_at else "")
             + ": nothing changed")
    if result.false_positives_new:
        echo(f"{result.false_positives_new} (page content, person) pairs remembered: those "
             "persons are not alerted again for this same content")
    if result.false_positives_forgotten:
        echo(f"{result.false_positives_forgotten} remembered false-positive pairs forgotten: "
             "the content alerts again")
    if result.updates_queued:
        echo(f"{result.updates_queued} update messages queued (vahti alerts deliver)")


def _triage_command(verb: str, target: str, summary: str) -> click.Command:
    def command(ctx: click.Context, alert_id: str, comment: str, by: str | None,
                as_json: bool, refs: tuple[str, ...] = ()) -> None:
        _run_triage(ctx, target, alert_id, comment, by, as_json, refs)

    command.__doc__ = (f"{summary}\n\nID: the alert key or a unique start of it (as "
                       "`vahti alerts list` shows it). Asking again for the state an alert "
                       "already has changes nothing.")
    decorated = click.pass_context(command)
    if target == FALSE_POSITIVE:
        decorated = click.option(
            "--ref", "refs", multiple=True,
            help="Only this ref of the alert (repeatable); default: all its refs.")(decorated)
    decorated = click.option("--json", "as_json", is_flag=True,
                             help="Machine-readable output.")(decorated)
    decorated = click.option("--by", "by", default=None,
                             help="Who did it (default: the OS user). " + NOTE_HELP)(decorated)
    decorated = click.option("--comment", default="",
                             help="A short note, at most 500 characters. " + NOTE_HELP
                             )(decorated)
    decorated = click.argument("alert_id", metavar="ID")(decorated)
    return click.command(verb)(decorated)


_SUMMARIES = {
    "ack": "Acknowledge an alert: somebody is on it (also reopens a closed one).",
    "resolve": "Mark an alert resolved.",
    "false-positive": "Mark an alert a false positive: its persons are not alerted again "
                      "for the same page content.",
}
for _verb, _target in COMMANDS.items():
    alerts_group.add_command(_triage_command(_verb, _target, _SUMMARIES[_verb]))
