"""Delivering alerts from the outbox to the channels: at least once.

`enqueue_deliveries` adds one outbox row per channel that wants the alert's kind.
`deliver_due` runs one pass: digest periods that have closed get their summary row;
then due rows (immediate alerts and summaries) are claimed one at a time under a
lease, sent, and marked sent, or failed (retried with exponential backoff) and
finally dead after `[alerts] max_attempts`. Every message carries its row's
delivery key as idempotency key, so a receiver can drop the repeat that a crash
between "sent" and "marked sent" may cause.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from vahti.scheduler.channels import DeliveryError, send
from vahti.scheduler.channels.config import ChannelConfig, as_channels, parse_channels
from vahti.scheduler.channels.message import (
    Message,
    alert_message,
    digest_message,
    update_message,
)
from vahti.storage import alerts as alerts_repo
from vahti.storage import outbox
from vahti.storage.clock import now as clock_now
from vahti.storage.connection import Storage
from vahti.storage.outbox import RetryPolicy

log = logging.getLogger("vahti.alerts")

PERIODS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}
MAX_ROWS_PER_PASS = 1000


@dataclass(frozen=True)
class AlertSettings:
    """What delivery needs from the configuration."""

    channels: tuple[ChannelConfig, ...] = ()
    policy: RetryPolicy = RetryPolicy()
    lease_s: float = 60.0

    @classmethod
    def from_config(cls, cfg: Any) -> AlertSettings:
        """From vahti's Config: `[alerts]`, `[daemon] lease_s` and `[channels.NAME]`."""
        channels = tuple(parse_channels(cfg.tables.get("channels", {})).values())
        policy = RetryPolicy(
            max_attempts=max(int(cfg.get("alerts.max_attempts")), 1),
            backoff_base_s=max(float(cfg.get("alerts.backoff_base_s")), 0.0),
            backoff_max_s=max(float(cfg.get("alerts.backoff_max_s")), 0.0),
        )
        return cls(channels, policy, float(cfg.get("daemon.lease_s")))

    def channel_lease_s(self) -> float:
        """Long enough for the slowest channel to give up on its own."""
        slowest = max((float(c.options.get("timeout_s", 10.0)) for c in self.channels),
                      default=10.0)
        return max(self.lease_s, 4 * slowest + 10)


@dataclass
class DeliveryReport:
    sent: int = 0  # messages delivered (a digest summary counts once)
    summaries: int = 0  # of which digest summaries
    retrying: int = 0  # failed, to be retried after the backoff
    dead: int = 0  # failed for the last time
    errors: list[str] = field(default_factory=list)  # "channel NAME: reason", no payloads
    # channel -> result (sent, retrying, dead) -> attempts, for the daemon's metrics
    by_channel: dict[str, dict[str, int]] = field(default_factory=dict)

    def count(self, channel: str, result: str) -> None:
        results = self.by_channel.setdefault(channel, {})
        results[result] = results.get(result, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def period_of(when: datetime, digest: str) -> tuple[datetime, datetime]:
    """The UTC hour or day holding `when`: (start, end)."""
    when = when.astimezone(UTC)
    if digest == "hourly":
        start = when.replace(minute=0, second=0, microsecond=0)
    else:
        start = when.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + PERIODS[digest]


def digest_key(channel: str, digest: str, period_start: datetime) -> str:
    return f"digest:{channel}:{digest}:{period_start.astimezone(UTC):%Y-%m-%dT%H:%MZ}"


def delivery_key(alert_key: str, channel: str) -> str:
    return f"{alert_key}:{channel}"


def enqueue_deliveries(storage: Storage, channels: Any, alert: dict[str, Any],
                       now: datetime | None = None) -> int:
    """One outbox row per channel that wants this alert's kind; returns rows new.

    A digest row belongs to the period of the alert's `created` time, so enqueueing
    again (after a crash) finds the same row."""
    now = now or clock_now()
    rows = []
    for ch in as_channels(channels):
        if not ch.wants(alert["kind"]):
            continue
        key = delivery_key(alert["alert_key"], ch.name)
        if ch.mode == "immediate":
            rows.append(outbox.new_row(key, alert["alert_key"], ch.name, alert["kind"],
                                       "immediate", now))
        else:
            start, end = period_of(alert.get("created") or now, ch.digest)
            rows.append(outbox.new_row(
                key, alert["alert_key"], ch.name, alert["kind"], "digest", now,
                next_attempt=end, digest=ch.digest, digest_key=digest_key(ch.name, ch.digest,
                                                                          start),
                period_start=start, period_end=end))
    return outbox.enqueue(storage, rows)


def update_key(alert_key: str, number: int, channel: str) -> str:
    """One per change and channel: the idempotency key a receiver drops repeats by."""
    return f"{alert_key}:update{number}:{channel}"


def enqueue_updates(storage: Storage, channels: Any, payload: dict[str, Any], number: int,
                    now: datetime | None = None) -> int:
    """One outbox row per channel that takes updates (`updates`) and the alert's kind,
    for the alert_update `payload` of the alert's change `number`; returns rows new.
    Sent at once, also on digest channels (a change is news about an alert already
    sent). Enqueueing the same change again adds nothing."""
    now = now or clock_now()
    rows = [outbox.new_row(update_key(payload["alert_key"], number, ch.name),
                           payload["alert_key"], ch.name, payload["kind"], "update", now,
                           update=payload)
            for ch in as_channels(channels) if ch.updates and ch.wants(payload["kind"])]
    return outbox.enqueue(storage, rows)


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def form_digests(storage: Storage, now: datetime) -> int:
    """Make the summary row of every closed digest period; returns summaries seen."""
    groups = outbox.due_digest_members(storage, now)
    for key, members in sorted(groups.items()):
        first = members[0]
        row = outbox.new_row(
            key, key, first["channel"], "digest", "summary", now,
            alert_keys=sorted({m["alert_key"] for m in members}), digest=first["digest"],
            period_start=first["period_start"], period_end=first["period_end"])
        summary = outbox.ensure_summary(storage, row)
        covered = set(summary.get("alert_keys", []))
        if summary["state"] in ("sent", "dead"):  # a pass died before settling them
            outbox.settle_members(storage, summary, summary["state"], now,
                                  summary.get("last_error", ""))
        late = [m["delivery_key"] for m in members if m["alert_key"] not in covered]
        if late:  # enqueued after its period's summary was made: into the current period
            start, end = period_of(now, first["digest"])
            if end <= now:
                start, end = end, end + PERIODS[first["digest"]]
            outbox.move_to_period(storage, late, digest_key(first["channel"], first["digest"],
                                                            start), start, end)
    return len(groups)


def _message(storage: Storage, row: dict[str, Any]) -> Message:
    if row["mode"] == "update":
        return update_message(row["update"], row["delivery_key"])
    if row["mode"] == "summary":
        alerts = alerts_repo.get_alerts(storage, row.get("alert_keys", []))
        return digest_message(row["channel"], row["digest"], row["period_start"],
                              row["period_end"], alerts, row["delivery_key"])
    alert = alerts_repo.get_alert(storage, row["alert_key"])
    if alert is None:
        raise DeliveryError("the alert is no longer in the database")
    return alert_message(alert, row["delivery_key"])


def deliver_due(storage: Storage, cfg: Any, now: datetime | None = None, *,
                environ: Mapping[str, str] | None = None,
                max_rows: int = MAX_ROWS_PER_PASS) -> DeliveryReport:
    """One delivery pass. `cfg`: vahti's Config or an AlertSettings. `now` (tests)
    fixes the clock for the whole pass; otherwise each claim reads the clock."""
    settings = cfg if isinstance(cfg, AlertSettings) else AlertSettings.from_config(cfg)
    channels = {c.name: c for c in settings.channels}
    clock = (lambda: now) if now is not None else clock_now
    owner = _owner()
    lease_s = settings.channel_lease_s()
    report = DeliveryReport()
    form_digests(storage, clock())
    tried: set[str] = set()  # each row at most once a pass, whatever the backoff
    for _ in range(max_rows):
        row = outbox.claim_due(storage, clock(), lease_s, owner, tried)
        if row is None:
            break
        tried.add(row["delivery_key"])
        channel = channels.get(row["channel"])
        try:
            if channel is None:
                raise DeliveryError(f"channel {row['channel']} is not configured")
            send(channel, _message(storage, row), environ)
        except DeliveryError as exc:
            reason = str(exc)
            state = outbox.mark_failed(storage, row, owner, clock(), reason, settings.policy)
            report.count(row["channel"], "dead" if state == "dead" else "retrying")
            if state == "dead":
                report.dead += 1
                if row["mode"] == "summary":
                    outbox.settle_members(storage, row, "dead", clock(), reason)
                log.warning("alert delivery %s dead after %d attempts: %s",
                            row["delivery_key"], row["attempts"], reason)
            else:
                report.retrying += 1
                log.info("alert delivery %s failed (attempt %d): %s", row["delivery_key"],
                         row["attempts"], reason)
            report.errors.append(f"channel {row['channel']}: {reason}")
            continue
        if outbox.mark_sent(storage, row["delivery_key"], owner, clock()):
            if row["mode"] == "summary":
                outbox.settle_members(storage, row, "sent", clock())
                report.summaries += 1
            report.sent += 1
            report.count(row["channel"], "sent")
            log.info("alert delivery %s sent", row["delivery_key"])
    return report
