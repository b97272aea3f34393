"""Sightings: an enrolled person's identifier or record fragment on a page."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pymongo import UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from vahti.storage import schema
from vahti.storage.clock import now
from vahti.storage.connection import Storage
from vahti.storage.keyids import key_field
from vahti.storage.query import find_in

DUPLICATE_KEY = 11000


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
    """Record sightings in bulk, one document per occurrence; returns the ones that were new.

    Repeating a write (a rerun after a crash, a rescan) adds nothing: that is
    what makes "resume without duplicates" hold.

    The stored documents are those of one upsert per sighting on the occurrence
    key, applied in order, but written the way the embedded server is fast at
    (an upsert costs it a lookup each: about 600 a second): the pages' stored
    occurrences are read first (one query per page); new occurrences are
    inserted in one `insert_many`; a page seen again with exactly its stored
    occurrences gets one `update_many`; anything else (a higher score, a page
    with some occurrences gone, duplicates a concurrent writer inserted first)
    is upserted one by one as before.
    """
    items = list(sightings)
    if not items:
        return []
    coll = storage.db[schema.SIGHTINGS]
    active = key_field(storage)
    stamp = now()
    stored = _stored_occurrences(coll, {s.page_url for s in items})
    new: dict[tuple, _NewDoc] = {}
    seen_again: dict[str, list[int]] = {}  # page_url -> indexes of known occurrences
    for i, s in enumerate(items):
        occ = s.occurrence
        if occ in new:
            new[occ].merge(i, s, s.seen_at or stamp, active)
        elif occ in stored:
            seen_again.setdefault(s.page_url, []).append(i)
        else:
            new[occ] = _NewDoc(i, s, s.seen_at or stamp, active)
    upserts: list[int] = []
    inserted = _insert_new(coll, list(new.values()), upserts)
    per_page = Counter(occ[0] for occ in stored)
    for page_url, indexes in seen_again.items():
        found = [items[i] for i in indexes]
        if not _update_page(coll, page_url, found, per_page[page_url], stored, stamp, active):
            upserts += indexes
    if upserts:
        upserts.sort()  # in input order, as the one bulk of upserts was
        coll.bulk_write([_upsert(items[i], items[i].seen_at or stamp, active)
                         for i in upserts], ordered=False)
    return [items[i] for i in sorted(inserted)]


def _upsert(s: Sighting, seen: datetime, active: dict[str, str]) -> UpdateOne:
    page_url, ref, id_type, start = s.occurrence
    return UpdateOne(
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
            "$set": _set_fields(s, seen, active),
            "$max": {"score": s.score},
        },
        upsert=True,
    )


def _set_fields(s: Sighting, seen: datetime, active: dict[str, str]) -> dict:
    """What an upsert's $set writes (the same for a new and a known occurrence)."""
    return {"last_seen": seen, "page_content_id": s.page_content_id,
            **({"key_id": s.key_id} if s.key_id else active)}


class _NewDoc:
    """The document the upserts of one new occurrence create (the first inserts, any
    later one in the same batch updates it), fields in the order the server lays out
    an upserted document: the query's fields, then the update's, each sorted."""

    def __init__(self, i: int, s: Sighting, seen: datetime, active: dict[str, str]) -> None:
        self.indexes = [i]
        page_url, ref, id_type, start = s.occurrence
        self.key = {"id_type": id_type, "page_url": page_url, "ref": ref, "start": start}
        self.fields = {"source": s.source, "kind": s.kind, "end": s.end, "first_seen": seen,
                       "alerted": False, **({"via": s.via} if s.via else {}),
                       **_set_fields(s, seen, active), "score": s.score}

    def merge(self, i: int, s: Sighting, seen: datetime, active: dict[str, str]) -> None:
        self.indexes.append(i)
        self.fields.update(_set_fields(s, seen, active))
        self.fields["score"] = max(self.fields["score"], s.score)

    def document(self) -> dict:
        return {**self.key, **dict(sorted(self.fields.items()))}


def _insert_new(coll: Collection, docs: list[_NewDoc], upserts: list[int]) -> list[int]:
    """Insert the new occurrences; returns the indexes of the sightings that made them.
    One that a concurrent writer inserted meanwhile goes to `upserts` instead."""
    if not docs:
        return []
    try:
        coll.insert_many([d.document() for d in docs], ordered=False)
        failed: set[int] = set()
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        failed = {e["index"] for e in errors}
    for n in failed:
        upserts += docs[n].indexes
    return [d.indexes[0] for n, d in enumerate(docs) if n not in failed]


def _update_page(coll: Collection, page_url: str, found: list[Sighting], on_page: int,
                 stored: dict[tuple, float], stamp: datetime, active: dict[str, str]) -> bool:
    """One update of a page seen again with exactly the `on_page` occurrences it has
    stored, none with a higher score, all with the same fields to set. False: not
    done (or not all matched), upsert them."""
    if len(found) != on_page or len({s.occurrence for s in found}) != len(found):
        return False
    fields = {tuple(sorted(_set_fields(s, s.seen_at or stamp, active).items())) for s in found}
    if len(fields) != 1 or any(s.score > stored[s.occurrence] for s in found):
        return False
    result = coll.update_many({"page_url": page_url}, {"$set": dict(next(iter(fields)))})
    return result.matched_count == len(found)


def _stored_occurrences(coll: Collection, page_urls: Iterable[str]) -> dict[tuple, float]:
    """The occurrences stored on these pages, with their scores."""
    fields = {"_id": 0, "page_url": 1, "ref": 1, "id_type": 1, "start": 1, "score": 1}
    return {(d["page_url"], d["ref"], d["id_type"], d["start"]): d.get("score", 0.0)
            for d in find_in(coll, "page_url", page_urls, fields)}


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
