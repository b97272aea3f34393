"""A short human summary of any payload (alert, digest, test, alert_update), for the
chat formats (Slack, Teams), the syslog MSG part and the SIEM `message` fields.

A summary holds no page URL and no refs, only counts, the source, times, states and
the alert key: chat messages are stored, searched and forwarded by a third party and
read by more people than the SOC mailbox, so they get what e-mail gets minus the
refs (the analyst opens the alert with `vahti alerts list` or in the SIEM). Values
here are plain text: each format escapes them for its own markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_DIGEST_ITEMS = 40  # alerts listed in one chat message; the rest are counted


@dataclass(frozen=True)
class Summary:
    title: str  # one line
    facts: list[tuple[str, str]] = field(default_factory=list)  # label, value
    items: list[Summary] = field(default_factory=list)  # a digest's alerts
    more: int = 0  # a digest's alerts not listed


def _hits(payload: dict[str, Any]) -> str:
    counts = payload.get("counts") or {}
    return ", ".join(f"{t} {n}" for t, n in sorted(counts.items())) or "none"


def alert_title(p: dict[str, Any]) -> str:
    if p.get("kind") == "health":
        return f"vahti health: {p.get('source', '')}: {p.get('problem', '')}"
    return (f"vahti sighting: {p.get('persons', 0)} persons on a page of source "
            f"{p.get('source', '')}")


def summarize(payload: dict[str, Any]) -> Summary:
    kind = payload.get("type")
    if kind == "digest":
        alerts = payload.get("alerts") or []
        items = [summarize(a) for a in alerts[:MAX_DIGEST_ITEMS]]
        title = (f"vahti {payload.get('digest', '')} digest: {payload.get('alerts_count', 0)} "
                 f"alerts, {payload.get('persons', 0)} persons")
        facts = [("period", f"{payload.get('period_start', '')} to "
                            f"{payload.get('period_end', '')}"),
                 ("sightings", str((payload.get("counts") or {}).get("sighting", 0))),
                 ("health", str((payload.get("counts") or {}).get("health", 0)))]
        return Summary(title, facts, items, max(len(alerts) - len(items), 0))
    if kind == "test":
        return Summary(f"vahti test alert for channel {payload.get('channel', '')}",
                       [("sent", str(payload.get("created", ""))),
                        ("note", "a test: it holds no sighting")])
    if kind == "alert_update":
        facts = [("state", f"{payload.get('previous_state', '')} -> {payload.get('state', '')}"),
                 ("by", str(payload.get("by", ""))), ("changed", str(payload.get("changed", "")))]
        if payload.get("comment"):
            facts.append(("comment", str(payload["comment"])))
        facts.append(("alert key", str(payload.get("alert_key", ""))))
        return Summary(f"vahti {payload.get('kind', '')} alert {payload.get('state', '')}",
                       facts)
    if payload.get("kind") == "health":
        facts = [("since", str(payload.get("since") or ""))]
        facts += [(str(k), str(v)) for k, v in sorted((payload.get("details") or {}).items())]
    else:
        facts = [("identifier hits", _hits(payload)),
                 ("record fragments", str(len(payload.get("fragment_scores") or []))),
                 ("first seen", str(payload.get("first_seen", "")))]
    facts.append(("alert key", str(payload.get("alert_key", ""))))
    return Summary(alert_title(payload), facts)


def one_line(summary: Summary) -> str:
    """Title and facts on one line (syslog MSG, CEF msg, ECS message)."""
    facts = "; ".join(f"{label}: {value}" for label, value in summary.facts)
    return " ".join(f"{summary.title}. {facts}".split()) if facts else summary.title
