"""Pages seen: URL, source, keyed content id, size, times, status and hit counts. Never
text, never a plain hash of it (matchers/contentid.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime

from pymongo import UpdateOne

from vahti.storage import schema
from vahti.storage.clock import now
from vahti.storage.connection import Storage
from vahti.storage.keyids import key_field
from vahti.storage.query import find_in


@dataclass
class PageRecord:
    url: str  # for local dumps: the location, e.g. "dump.zip!rows.csv"
    source: str
    content_id: str  # keyed id of the bytes (matchers.contentid), "" when not read
    size: int
    # ok | truncated | binary | strings (binary, its strings read) | error:<kind>
    status: str = "ok"
    hit_counts: dict[str, int] = field(default_factory=dict)  # id_type -> hits
    watchlist_version: int = 0  # the watchlist this page was scanned with
    seen_at: datetime | None = None
    # Crawled pages only (local scans leave them empty):
    http_status: int = 0
    content_type: str = ""
    etag: str = ""  # validators for the next conditional GET (the ETag sealed: matchers/sealed.py)
    last_modified: str = ""
    final: bool = False  # content will not change (a raw paste, a full thread page, a file)
    max_item: int = 0  # the highest item id on the page (a forum's post ids), 0: none


def upsert_pages(storage: Storage, pages: Iterable[PageRecord]) -> int:
    """Record pages in bulk, keyed by URL; returns how many were new."""
    ops = []
    keyed = key_field(storage)  # the content id and URL tokens are under the active key
    for page in pages:
        fields = {**asdict(page), **keyed}
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


def scanned_with(storage: Storage, content_id: str, watchlist_version: int) -> bool:
    """Was a page with these bytes already scanned against this watchlist?"""
    return scanned_copy(storage, content_id, watchlist_version) is not None


def page(storage: Storage, url: str) -> dict | None:
    return storage.db[schema.PAGES].find_one({"url": url}, {"_id": 0})


def final_urls(storage: Storage, urls: Iterable[str]) -> set[str]:
    """Of `urls`, those already fetched whole and marked final: never fetched again."""
    wanted = list(dict.fromkeys(urls))
    if not wanted:
        return set()
    found = storage.db[schema.PAGES].find({"url": {"$in": wanted}, "final": True}, {"url": 1})
    return {doc["url"] for doc in found}


def touch(storage: Storage, url: str) -> None:
    """A page seen again unchanged (a 304 to a conditional GET)."""
    storage.db[schema.PAGES].update_one({"url": url}, {"$set": {"last_seen": now()}})


def scanned_copy(storage: Storage, content_id: str, watchlist_version: int) -> dict | None:
    """A page with these bytes already scanned against this watchlist, if any."""
    return storage.db[schema.PAGES].find_one(
        {"content_id": content_id, "watchlist_version": watchlist_version}, {"_id": 0})


def under(storage: Storage, prefix: str) -> list[dict]:
    """Page records whose URL starts with `prefix` (an index range, not a regex)."""
    query = {"url": {"$gte": prefix, "$lt": prefix + "\U0010ffff"}}
    fields = {"_id": 0, "url": 1, "final": 1, "max_item": 1}
    return list(storage.db[schema.PAGES].find(query, fields))


def with_content_ids(storage: Storage, content_ids: Iterable[str]) -> dict[str, list[dict]]:
    """The pages (URL, source, times) holding each of these contents."""
    out: dict[str, list[dict]] = {}
    fields = {"_id": 0, "url": 1, "source": 1, "content_id": 1, "first_seen": 1, "last_seen": 1}
    for d in find_in(storage.db[schema.PAGES], "content_id", content_ids, fields):
        out.setdefault(d["content_id"], []).append(d)
    return out
