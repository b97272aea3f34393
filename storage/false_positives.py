"""False positives remembered: (keyed page content id, ref) pairs never alerted again.

When an analyst marks a sighting alert `false_positive`, each pair of the alert's page
content id (keyed: matchers/contentid.py) and ref (all of the alert's refs, or the ones
named) is stored here with the key id the content id is under. The alert raiser
(scheduler/alerting.py) then leaves a sighting of that person on that same content
unalerted: it is marked alerted with `fp_suppressed` (the time), which the weekly report
counts. Another page with different content, or the page after its content changed,
has another content id and alerts as before. A copy of the same content at another URL
is the same content: it is suppressed too.

Document: `_id` "<key id>:<content id>:<ref>", `key_id`, `content_id`, `ref`,
`alert_key` (the alert it came from), `marked` (when), `by`.

Key rotation: the content ids cannot be re-keyed without the page, so the records stay
under the old key id, kept like alerts (no retention) and keeping no retired key
alive (storage/keyids.py). They keep suppressing sightings of content named under the
old key; content read again under the new key has a new id and alerts once more (mark
it false positive again). `vahti forget` removes a person's records; `db dump/load`
carries them like every collection.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from vahti.storage import schema
from vahti.storage.connection import Storage

SUPPRESSED_FIELD = "fp_suppressed"  # on a sighting left unalerted because of a record


def record_id(key_id: str, content_id: str, ref: str) -> str:
    return f"{key_id}:{content_id}:{ref}"


def remember(storage: Storage, alert: dict[str, Any], refs: Iterable[str], by: str,
             now: datetime) -> int:
    """Store the pairs of this sighting alert's content and `refs`; returns pairs new
    (a repeat finds them there and changes nothing)."""
    content_id = str(alert.get("page_content_id") or "")
    if alert.get("kind") != "sighting" or not content_id:
        return 0
    key_id = str(alert.get("key_id") or "")
    new = 0
    for ref in sorted(set(refs)):
        result = storage.db[schema.FALSE_POSITIVES].update_one(
            {"_id": record_id(key_id, content_id, ref)},
            {"$setOnInsert": {"key_id": key_id, "content_id": content_id, "ref": ref,
                              "alert_key": alert["alert_key"], "marked": now, "by": by}},
            upsert=True)
        new += result.upserted_id is not None
    return new


def forget_alert(storage: Storage, alert_key: str) -> int:
    """The records an alert made (it was reopened: no longer a false positive)."""
    return storage.db[schema.FALSE_POSITIVES].delete_many({"alert_key": alert_key}).deleted_count


def suppressed_pairs(storage: Storage, sightings: Iterable[dict[str, Any]]) -> set[str]:
    """The record ids among these sightings' (key id, content id, ref)."""
    ids = {record_id(str(s.get("key_id") or ""), str(s.get("page_content_id") or ""), s["ref"])
           for s in sightings if s.get("page_content_id")}
    if not ids:
        return set()
    docs = storage.db[schema.FALSE_POSITIVES].find({"_id": {"$in": sorted(ids)}}, {"_id": 1})
    return {d["_id"] for d in docs}


def is_suppressed(sighting: dict[str, Any], pairs: set[str]) -> bool:
    return record_id(str(sighting.get("key_id") or ""), str(sighting.get("page_content_id") or ""),
                     sighting["ref"]) in pairs


def mark_suppressed(storage: Storage, sighting_ids: Iterable[Any], now: datetime) -> int:
    ids = list(sighting_ids)
    if not ids:
        return 0
    return storage.db[schema.SIGHTINGS].update_many(
        {"_id": {"$in": ids}, "alerted": False},
        {"$set": {"alerted": True, SUPPRESSED_FIELD: now}}).modified_count


def of_ref(storage: Storage, ref: str) -> int:
    return storage.db[schema.FALSE_POSITIVES].count_documents({"ref": ref})


def remove_ref(storage: Storage, ref: str) -> int:
    return storage.db[schema.FALSE_POSITIVES].delete_many({"ref": ref}).deleted_count


def suppressed_between(storage: Storage, start: datetime, end: datetime) -> int:
    """(page, person) pairs left unalerted as known false positives in [start, end)."""
    docs = storage.db[schema.SIGHTINGS].find(
        {SUPPRESSED_FIELD: {"$gte": start, "$lt": end}}, {"_id": 0, "page_url": 1, "ref": 1})
    return len({(d["page_url"], d["ref"]) for d in docs})
