"""Alerts: what the controller was told, and the sightings' `alerted` flag.

An alert document holds counts, pseudonymous refs, a URL, a keyed page content id and
timestamps (see scheduler/alerting.py); the raiser decides its content, this
module only reads and writes it, upserting on `alert_key` so a repeated write
after a crash changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from vahti.storage import schema
from vahti.storage.connection import Storage
from vahti.storage.triage import new_alert_fields

SIGHTING_FIELDS = {"_id": 1, "page_url": 1, "ref": 1, "id_type": 1, "kind": 1, "start": 1,
                   "score": 1, "source": 1, "page_content_id": 1, "key_id": 1, "first_seen": 1,
                   "last_seen": 1}


def unalerted_sightings(storage: Storage, skip_ref_prefix: str = "") -> list[dict[str, Any]]:
    """Sightings no alert has covered yet (`alerted: False`), without the refs that
    start with `skip_ref_prefix` (those stay untouched for whoever handles them)."""
    query: dict[str, Any] = {"alerted": False}
    if skip_ref_prefix:
        query["ref"] = {"$not": re.compile("^" + re.escape(skip_ref_prefix))}
    docs = storage.db[schema.SIGHTINGS].find(query, SIGHTING_FIELDS)
    return [d for d in docs if not (skip_ref_prefix and d["ref"].startswith(skip_ref_prefix))]


def alerted_refs_on_page(storage: Storage, page_url: str) -> set[str]:
    """Refs that an earlier alert already covered on this exact page."""
    docs = storage.db[schema.SIGHTINGS].find({"alerted": True, "page_url": page_url},
                                             {"_id": 0, "ref": 1})
    return {d["ref"] for d in docs}


def mark_sightings_alerted(storage: Storage, sighting_ids: Iterable[Any]) -> int:
    ids = list(sighting_ids)
    if not ids:
        return 0
    result = storage.db[schema.SIGHTINGS].update_many(
        {"_id": {"$in": ids}, "alerted": False}, {"$set": {"alerted": True}}
    )
    return result.modified_count


def upsert_alert(storage: Storage, alert: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Insert the alert unless its key exists; returns (the stored alert, whether new)."""
    fields = {**new_alert_fields(), **{k: v for k, v in alert.items() if k != "_id"}}
    result = storage.db[schema.ALERTS].update_one(
        {"alert_key": fields["alert_key"]}, {"$setOnInsert": fields}, upsert=True
    )
    stored = get_alert(storage, fields["alert_key"]) or fields
    return stored, result.upserted_id is not None


def get_alert(storage: Storage, alert_key: str) -> dict[str, Any] | None:
    return storage.db[schema.ALERTS].find_one({"alert_key": alert_key}, {"_id": 0})


def get_alerts(storage: Storage, alert_keys: Iterable[str]) -> list[dict[str, Any]]:
    """The alerts of these keys, oldest first."""
    keys = list(alert_keys)
    if not keys:
        return []
    docs = storage.db[schema.ALERTS].find({"alert_key": {"$in": keys}}, {"_id": 0})
    return sorted(docs, key=lambda d: (d["created"], d["alert_key"]))


def list_alerts(storage: Storage, limit: int = 50,
                alert_keys: Iterable[str] | None = None,
                state: str | None = None) -> list[dict[str, Any]]:
    """Newest first; `state`: only alerts in this triage state."""
    query: dict[str, Any] = {}
    if alert_keys is not None:
        query["alert_key"] = {"$in": list(alert_keys)}
    if state is not None:
        query["state"] = state
    cursor = storage.db[schema.ALERTS].find(query, {"_id": 0}).sort("created", -1)
    if limit:
        cursor = cursor.limit(limit)
    return list(cursor)


def count_alerts(storage: Storage) -> int:
    return storage.db[schema.ALERTS].count_documents({})


def alerts_created_between(storage: Storage, start: datetime, end: datetime
                           ) -> list[dict[str, Any]]:
    """Whole alerts created in [start, end), oldest first (for `vahti export`)."""
    cursor = storage.db[schema.ALERTS].find(
        {"created": {"$gte": start, "$lt": end}}, {"_id": 0}).sort(
        [("created", 1), ("alert_key", 1)])
    return list(cursor)
