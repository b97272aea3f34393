"""Sightings: an enrolled person's identifier or record fragment on a page."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pymongo import UpdateOne
from vahti.storage import schema
from vahti.storage.clock import now
from vahti.storage.connection import Storage
from vahti.storage.keyids import key_field
from vahti.storage.query import find_in


@dataclass(frozen=True)
class Sighting:
    page_url: str
    source: str
    ref: str
    id_type: str  # hetu, email, ... or "fragment"
    kind: str  # identifier | fragment
    start: int
    end: int
    score: float
    page_content_id: str = ""  # keyed id of the page's bytes (matchers.contentid)
    seen_at: datetime | None = None
    via: str = ""  # "retro": found in retained candidates, not by a scan (start is -1)
    # the key its page content id is under; "": the active key (a retro-hunt under a
    # retired key finds pages named under that one)
    key_id: str = ""

    @property
    def occurrence(self) -> tuple[str, str, str, int]:
        return (self.page_url, self.ref, self.id_type, self.start)


def record_sightings(storage: Storage, sightings: Iterable[Sighting]) -> list[Sighting]:
    """Upsert in bulk on the occurrence key; returns the sightings that were new.

    Repeating a write (a rerun after a crash, a rescan) adds nothing: that is
    what makes "resume without duplicates" hold.
    """
    items = list(sightings)
    if not items:
        return []
    ops = []
    active = key_field(storage)
    for s in items:
        seen = s.seen_at or now()
        page_url, ref, id_type, start = s.occurrence
        ops.append(
            UpdateOne(
                {"page_url": page_url, "ref": ref, "id_type": id_type, "start": start},
                {
                    "$setOnInsert": {
                        "source": s.source,
                        "kind": s.kind,
                        "end": s.end,
                        "first_seen": seen,
                        "alerted": False,  # until an alert covers it (or decides not to)
                        **({"via": s.via} if s.via else {}),
                    },
                    "$set": {"last_seen": seen, "page_content_id": s.page_content_id,
                             **({"key_id": s.key_id} if s.key_id else active)},
                    "$max": {"score": s.score},
                },
                upsert=True,
            )
        )
    result = storage.db[schema.SIGHTINGS].bulk_write(ops, ordered=False)
    return [items[i] for i in sorted(result.upserted_ids)]


def count_for_ref(storage: Storage, ref: str) -> int:
    return storage.db[schema.SIGHTINGS].count_documents({"ref": ref})


def of_page(storage: Storage, page_url: str) -> list[Sighting]:
    """The sightings on one page and its archive members ("URL!member"), by the
    occurrence index's page_url prefix."""
    members = {"page_url": {"$gte": page_url + "!", "$lt": page_url + '"'}}
    query = {"$or": [{"page_url": page_url}, members]}
    return [
        Sighting(page_url=d["page_url"], source=d.get("source", ""), ref=d["ref"],
                 id_type=d["id_type"], kind=d.get("kind", ""), start=d["start"],
                 end=d.get("end", d["start"]), score=d.get("score", 0.0),
                 page_content_id=d.get("page_content_id", ""))
        for d in storage.db[schema.SIGHTINGS].find(query, {"_id": 0})
    ]


def known_on_pages(storage: Storage, page_urls: Iterable[str]) -> set[tuple[str, str, str]]:
    """(page_url, ref, id_type) of every sighting on these pages."""
    fields = {"page_url": 1, "ref": 1, "id_type": 1}
    return {(d["page_url"], d["ref"], d["id_type"])
            for d in find_in(storage.db[schema.SIGHTINGS], "page_url", page_urls, fields)}


def of_refs(storage: Storage, refs: Iterable[str], limit: int = 10_000) -> list[dict]:
    """The sightings of these people (the ref_first_seen index), at most `limit`."""
    fields = {"_id": 0, "alerted": 0}
    out = []
    for d in find_in(storage.db[schema.SIGHTINGS], "ref", refs, fields):
        out.append(d)
        if len(out) >= limit:
            break
    return out
