"""What a channel sends: a JSON payload plus a subject and text for e-mail.

The e-mail text holds counts, refs, source, times and the alert key only (no URL:
mail is stored and forwarded in places vahti does not control). Everything is
built only from an alert's allowed fields. An alert holds counts, pseudonymous
refs, a URL and timestamps; never an identifier, a name or page text, and the
builders here copy field by field so nothing else can slip through.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vahti.display import json_visible

SIGHTING_FIELDS = ("alert_key", "kind", "created", "source", "url", "page_content_id",
                   "counts", "fragment_scores", "persons", "refs", "first_seen")
HEALTH_FIELDS = ("alert_key", "kind", "created", "source", "problem", "since", "details")
ALLOWED_FIELDS = {"sighting": SIGHTING_FIELDS, "health": HEALTH_FIELDS}
REFS_IN_TEXT = 200  # an e-mail lists at most this many refs; the JSON payload has them all


@dataclass(frozen=True)
class Message:
    idempotency_key: str
    payload: dict[str, Any]
    subject: str
    text: str

    def body(self) -> bytes:
        """The exact bytes a webhook posts (and signs)."""
        return json_bytes(self.payload)


def json_bytes(payload: dict[str, Any]) -> bytes:
    # the stdout channel may be a terminal: control and bidi characters as JSON escapes
    return json_visible(json.dumps(payload, sort_keys=True, separators=(",", ":"),
                                   ensure_ascii=False, default=_json_default)).encode("utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def iso(value: Any) -> Any:
    return value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else value


def plain(value: Any) -> Any:
    """JSON-safe copy of a stored value (datetimes as ISO text)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def build_payload(alert: dict[str, Any]) -> dict[str, Any]:
    """The payload of one alert: its allowed fields only, in JSON types."""
    kind = alert.get("kind")
    if kind not in ALLOWED_FIELDS:
        raise ValueError(f"unknown alert kind {kind!r}")
    payload = {"type": "alert"}
    for key in ALLOWED_FIELDS[kind]:
        if key in alert:
            payload[key] = plain(alert[key])
    return payload


def alert_message(alert: dict[str, Any], idempotency_key: str) -> Message:
    payload = build_payload(alert)
    return Message(idempotency_key, payload, _subject(payload), _text([payload]))


def digest_message(channel: str, digest: str, period_start: datetime, period_end: datetime,
                   alerts: Iterable[dict[str, Any]], idempotency_key: str) -> Message:
    items = [build_payload(a) for a in alerts]
    refs = sorted({r for p in items for r in p.get("refs", [])})
    payload = {
        "type": "digest", "digest": digest, "channel": channel,
        "period_start": iso(period_start), "period_end": iso(period_end),
        "alerts_count": len(items),
        "counts": {k: sum(1 for p in items if p["kind"] == k) for k in ALLOWED_FIELDS},
        "persons": len(refs), "alerts": items,
    }
    subject = (f"vahti {digest} digest: {len(items)} alerts, {len(refs)} persons "
               f"({iso(period_start)} to {iso(period_end)})")
    return Message(idempotency_key, payload, subject, _text(items, header=subject))


UPDATE_FIELDS = ("type", "alert_key", "kind", "state", "previous_state", "changed", "by",
                 "comment")


def update_payload(alert_key: str, kind: str, change: dict[str, Any]) -> dict[str, Any]:
    """The alert_update payload of one triage change (storage/triage.py); `comment` only
    when there is one."""
    payload = {"type": "alert_update", "alert_key": alert_key, "kind": kind,
               "state": change["state"], "previous_state": change["previous_state"],
               "changed": iso(change["changed"]), "by": change["by"]}
    if change.get("comment"):
        payload["comment"] = change["comment"]
    return payload


def update_message(payload: dict[str, Any], idempotency_key: str) -> Message:
    """An alert_update as a message: the payload as it is, and a short text (no URL, no
    refs: the alert key names the alert)."""
    payload = {k: payload[k] for k in UPDATE_FIELDS if k in payload}
    subject = (f"vahti alert {payload['alert_key']}: {payload['state']} "
               f"(was {payload['previous_state']})")
    lines = [subject, "", f"  {payload['kind']} alert {payload['alert_key']}",
             f"  now {payload['state']}, was {payload['previous_state']}",
             f"  changed {payload['changed']} by {payload['by']}"]
    if "comment" in payload:
        lines.append(f"  comment: {payload['comment']}")
    return Message(idempotency_key, payload, subject, "\n".join(lines) + "\n")


def sample_message(channel: str, created: datetime, idempotency_key: str) -> Message:
    payload = {"type": "test", "kind": "test", "alert_key": idempotency_key,
               "channel": channel, "created": iso(created)}
    subject = f"vahti test alert for channel {channel}"
    text = (f"{subject}\n\nThis is a test sent by `vahti alerts test {channel}`. "
            "It holds no sighting.\n")
    return Message(idempotency_key, payload, subject, text)


def _subject(p: dict[str, Any]) -> str:
    if p["kind"] == "health":
        return f"vahti health: {p.get('source', '')}: {p.get('problem', '')}"
    hits = sum(p.get("counts", {}).values())
    frags = len(p.get("fragment_scores", {}))
    return (f"vahti sighting: {p.get('persons', 0)} persons on a page of source "
            f"{p.get('source', '')} ({hits} identifier hits, {frags} record fragments)")


def _text(items: list[dict[str, Any]], header: str = "") -> str:
    lines: list[str] = [header, ""] if header else []
    for p in items:
        lines.append(_subject(p))
        if p["kind"] == "sighting":
            lines.append(f"  first seen: {p.get('first_seen', '')}")
            counts = ", ".join(f"{t} {n}" for t, n in sorted(p.get("counts", {}).items()))
            lines.append(f"  identifier hits: {counts or 'none'}")
            if p.get("fragment_scores"):
                lines.append(f"  record fragments (refs): {len(p['fragment_scores'])}")
            refs = p.get("refs", [])
            shown = ", ".join(refs[:REFS_IN_TEXT])
            more = f" ... and {len(refs) - REFS_IN_TEXT} more" if len(refs) > REFS_IN_TEXT else ""
            lines.append(f"  refs: {shown}{more}")
        else:
            lines.append(f"  since: {p.get('since') or ''}")
            for key, value in sorted((p.get("details") or {}).items()):
                lines.append(f"  {key}: {value}")
        lines.append(f"  alert key: {p.get('alert_key', '')}")
        lines.append("")
    lines.append("The page URL of each alert: `vahti alerts list` (or the webhook and stdout "
                 "channels). vahti stores and sends no identifier, name or page text; refs "
                 "are the controller's own references.")
    return "\n".join(lines) + "\n"
