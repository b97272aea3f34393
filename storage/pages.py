"""Pages seen: URL, source, hash, size, times, status and hit counts. Never text."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime

from pymongo import UpdateOne

from storage import schema
from storage.clock import now
from storage.connection import Storage


@dataclass
class PageRecord:
    url: str  # for local dumps: the location, e.g. "dump.zip!rows.csv"
    source: str
    sha256: str
    size: int
    status: str = "ok"  # ok | truncated | binary | error:<kind>
    hit_counts: dict[str, int] = field(default_factory=dict)  # id_type -> hits
    watchlist_version: int = 0  # the watchlist this page was scanned with
    seen_at: datetime | None = None


def upsert_pages(storage: Storage, pages: Iterable[PageRecord]) -> int:
    """Record pages in bulk, keyed by URL; returns how many were new."""
    ops = []
    for page in pages:
        fields = asdict(page)
        seen = fields.pop("seen_at") or now()
        ops.append(
            UpdateOne(
                {"url": page.url},
                {"$set": {**fields, "last_seen": seen}, "$setOnInsert": {"first_seen": seen}},
                upsert=True,
            )
        )
    if not ops:
        return 0
    return storage.db[schema.PAGES].bulk_write(ops, ordered=False).upserted_count


def scanned_with(storage: Storage, sha256: str, watchlist_version: int) -> bool:
    """Was a page with these bytes already scanned against this watchlist?"""
    return (
        storage.db[schema.PAGES].find_one(
            {"sha256": sha256, "watchlist_version": watchlist_version}, {"_id": 1}
        )
        is not None
    )
