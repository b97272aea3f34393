"""Exposure queries for reports: who was first seen when, and what a week holds.

Only indexed range queries, point lookups and lean projections, aggregated in Python:
the embedded server is slow at `$group`/`$addToSet` and at `$in` lists combined with a
range (those become collection scans). Everything returned is refs, URLs, source
names, identifier types, counts, scores and times: never a value or page text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from vahti.storage import schema
from vahti.storage.connection import Storage

# what a report needs of a sighting (no page hash, no offsets beyond the occurrence)
SIGHTING_FIELDS = {"_id": 0, "ref": 1, "id_type": 1, "kind": 1, "source": 1, "page_url": 1,
                   "first_seen": 1, "score": 1}
PAGE_FIELDS = {"_id": 0, "url": 1, "source": 1, "first_seen": 1, "last_seen": 1}
ALERT_FIELDS = {"_id": 0, "alert_key": 1, "kind": 1, "created": 1, "source": 1, "url": 1,
                "persons": 1, "problem": 1, "since": 1, "first_seen": 1, "state": 1,
                "history": 1}


@dataclass
class FirstSeen:
    """When each ref and each source was first seen (by their sightings)."""

    refs: dict[str, datetime] = field(default_factory=dict)
    sources: dict[str, datetime] = field(default_factory=dict)


def _skip(ref: str, skip_ref_prefix: str) -> bool:
    return bool(skip_ref_prefix) and ref.startswith(skip_ref_prefix)


def first_sightings(storage: Storage, before: datetime, *,
                    skip_ref_prefix: str = "") -> FirstSeen:
    """The first sighting time of every ref and every source, over the sightings first
    seen before `before` (one lean pass over the first_seen index).

    Refs starting with `skip_ref_prefix` (canaries) are left out of `refs` and do not
    make a source exposed either.
    """
    out = FirstSeen()
    cursor = storage.db[schema.SIGHTINGS].find(
        {"first_seen": {"$lt": before}}, {"_id": 0, "ref": 1, "source": 1, "first_seen": 1})
    refs, sources = out.refs, out.sources
    for doc in cursor:
        ref = doc.get("ref", "")
        if _skip(ref, skip_ref_prefix):
            continue
        seen = doc["first_seen"]
        known = refs.get(ref)
        if known is None or seen < known:
            refs[ref] = seen
        source = doc.get("source", "")
        known = sources.get(source)
        if known is None or seen < known:
            sources[source] = seen
    return out


def sightings_between(storage: Storage, start: datetime, end: datetime, *,
                      skip_ref_prefix: str = "") -> list[dict[str, Any]]:
    """Sightings first seen in [start, end), oldest first (the first_seen index)."""
    cursor = storage.db[schema.SIGHTINGS].find(
        {"first_seen": {"$gte": start, "$lt": end}}, SIGHTING_FIELDS)
    docs = [d for d in cursor if not _skip(d.get("ref", ""), skip_ref_prefix)]
    docs.sort(key=lambda d: (d["first_seen"], d.get("page_url", ""), d.get("ref", "")))
    return docs


def pages_by_url(storage: Storage, urls: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The page records of these URLs (one unique-index lookup each: few URLs only)."""
    col = storage.db[schema.PAGES]
    out: dict[str, dict[str, Any]] = {}
    for url in dict.fromkeys(urls):
        doc = col.find_one({"url": url}, PAGE_FIELDS)
        if doc is not None:
            out[url] = doc
    return out


def alerts_between(storage: Storage, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Alerts created in [start, end), oldest first (the created index)."""
    cursor = storage.db[schema.ALERTS].find(
        {"created": {"$gte": start, "$lt": end}}, ALERT_FIELDS).sort("created", ASCENDING)
    return list(cursor)
