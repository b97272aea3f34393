"""SIEM webhook formats: Splunk's HTTP Event Collector and Elasticsearch (ECS).

Both carry the vahti payload unchanged inside their envelope (HEC's `event`, the ECS
document's `vahti` object), so one JSON Schema describes what a SIEM stores.
"""

from __future__ import annotations

import json
import re
import socket
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from vahti.scheduler.channels.config import ChannelConfig
from vahti.scheduler.channels.errors import DeliveryError
from vahti.scheduler.channels.message import Message, json_bytes
from vahti.scheduler.channels.summary import one_line, summarize

HEC_PATH = "/services/collector/event"
ECS_VERSION = "8.11.0"
_ERROR_TYPE = re.compile(r"[a-z_]{1,80}")  # Elasticsearch's error types: shown as they are


def payload_time(payload: dict[str, Any]) -> float:
    """When it happened, in Unix seconds: the alert's `created`, an update's `changed`,
    a digest's period end; the sending time when none parses."""
    for key in ("created", "changed", "period_end"):
        value = payload.get(key)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value).timestamp()
            except ValueError:
                continue
    return time.time()


def _answer(answer: bytes) -> dict[str, Any]:
    try:
        value = json.loads(answer)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# --- Splunk HEC -------------------------------------------------------------------------


def hec_url(channel: ChannelConfig, url: str, message: Message) -> str:
    """The configured URL, or its HEC event endpoint when it names only the server."""
    return url.rstrip("/") + HEC_PATH if urlsplit(url).path in ("", "/") else url


def hec_body(channel: ChannelConfig, message: Message) -> bytes:
    event: dict[str, Any] = {
        "time": round(payload_time(message.payload), 3),
        "host": channel.option("host") or socket.gethostname(),
        "source": "vahti",
        "sourcetype": channel.option("sourcetype") or "vahti:alert",
        "event": message.payload,
        # indexed fields: the key a search drops repeats by
        "fields": {"vahti_idempotency_key": message.idempotency_key},
    }
    if channel.option("index"):
        event["index"] = channel.option("index")
    return json_bytes(event)


def hec_check(status: int, answer: bytes) -> None:
    """HEC answers `{"text": "Success", "code": 0}`; anything else (its error codes: 2
    token missing, 4 invalid token, 6 invalid data format, 9 server busy...) fails."""
    code = _answer(answer).get("code")
    if status == 200 and code == 0:
        return
    shown = f", HEC code {code}" if isinstance(code, int) else ""
    raise DeliveryError(f"HTTP {status}{shown}")


# --- Elasticsearch, Elastic Common Schema -----------------------------------------------


def elastic_url(channel: ChannelConfig, url: str, message: Message) -> str:
    """`<index URL>/_create/<idempotency key>`: a retry after a lost answer finds the
    document there (409) instead of indexing it twice. `url` is the index (or data
    stream) URL, with or without a trailing `/_doc`."""
    base = url.rstrip("/")
    base = base[:-len("/_doc")] if base.endswith("/_doc") else base
    return f"{base}/_create/{quote(message.idempotency_key, safe='')}"


def _url_fields(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    fields: dict[str, Any] = {"full": url, "original": url, "scheme": parts.scheme,
                              "domain": parts.hostname or "", "path": parts.path}
    if parts.port:
        fields["port"] = parts.port
    if parts.query:
        fields["query"] = parts.query
    if parts.fragment:
        fields["fragment"] = parts.fragment
    return {k: v for k, v in fields.items() if v != ""}


def _event_fields(payload: dict[str, Any]) -> dict[str, Any]:
    kind = payload.get("type")
    if kind == "alert" and payload.get("kind") == "sighting":
        return {"kind": "alert", "category": ["threat"], "type": ["indicator"],
                "action": "sighting"}
    if kind == "alert":
        return {"kind": "alert", "category": ["web"], "type": ["error"], "action": "health"}
    if kind == "alert_update":
        return {"kind": "event", "category": ["threat"], "type": ["change"],
                "action": "alert_update"}
    return {"kind": "event", "category": ["threat"], "type": ["info"], "action": str(kind)}


def ecs_document(payload: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
    """The payload under `vahti`, with the ECS fields a SIEM's rules and views use."""
    when = payload_time(payload)
    stamp = datetime.fromtimestamp(when, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")
    event = {**_event_fields(payload), "dataset": "vahti.alert", "module": "vahti",
             "provider": "vahti", "id": str(payload.get("alert_key") or idempotency_key)}
    doc: dict[str, Any] = {
        "@timestamp": stamp,
        "ecs": {"version": ECS_VERSION},
        "message": one_line(summarize(payload)),
        "event": event,
        "observer": {"vendor": "vahti", "product": "vahti", "type": "leak-monitor"},
        "labels": {k: str(payload[f]) for k, f in (
            ("vahti_type", "type"), ("vahti_kind", "kind"), ("vahti_source", "source"),
            ("vahti_state", "state")) if payload.get(f) not in (None, "")},
        "tags": ["vahti"],
        "vahti": payload,
    }
    if isinstance(payload.get("url"), str) and payload["url"]:
        doc["url"] = _url_fields(payload["url"])
    return doc


def elastic_body(channel: ChannelConfig, message: Message) -> bytes:
    return json_bytes(ecs_document(message.payload, message.idempotency_key))


def elastic_check(status: int, answer: bytes) -> None:
    """201 created (200: updated); 409 from _create: the document is there already
    (an earlier attempt's answer was lost), which is delivered too."""
    body = _answer(answer)
    if status in (200, 201) and body.get("result") in ("created", "updated"):
        return
    error = body.get("error")
    kind = error.get("type", "") if isinstance(error, dict) else ""
    if status == 409 and kind == "version_conflict_engine_exception":
        return
    shown = f" ({kind})" if isinstance(kind, str) and _ERROR_TYPE.fullmatch(kind) else ""
    raise DeliveryError(f"HTTP {status}{shown}")
