"""The watchlist: one document per enrolled person, keyed digests only.

A document holds the register's own opaque `ref`, the keyed digests of each
identifier type, corroborating digests (name, birth date), the record's
fragment fingerprints packed as little-endian uint64, the key id and times.
Nothing in it can be turned back into an identifier without the key.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from bson.binary import Binary
from pymongo import DeleteOne, UpdateOne
from pymongo.errors import BulkWriteError

from storage import schema
from storage.clock import now
from storage.connection import Storage

BATCH = 1000


@dataclass
class WatchlistEntry:
    ref: str
    key_id: str
    digests: dict[str, list[bytes]] = field(default_factory=dict)  # id_type -> 16-byte digests
    corroborating: dict[str, list[bytes]] = field(default_factory=dict)  # name, birth_date
    fingerprints: bytes = b""  # packed little-endian uint64, sorted
    # digests of the other types the identifiers read as (matchers/readings.py): not
    # matched on; `vahti forget` removes the retained candidates under them too
    readings: dict[str, list[bytes]] = field(default_factory=dict)

    def content_hash(self) -> str:
        """A hash of everything but times: equal entries need no write."""
        h = hashlib.sha256()
        h.update(self.key_id.encode() + b"\0")
        for group in (self.digests, self.corroborating):
            for id_type in sorted(group):
                h.update(id_type.encode() + b"\0")
                for digest in sorted(group[id_type]):
                    h.update(digest)
            h.update(b"\1")
        h.update(self.fingerprints)
        # entries enrolled before readings were stored hash differently: the next
        # enrolment of the register writes their readings
        h.update(b"\2readings")
        for id_type in sorted(self.readings):
            h.update(id_type.encode() + b"\0" + b"".join(sorted(self.readings[id_type])))
        return h.hexdigest()


@dataclass(frozen=True)
class UpsertResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def _document(entry: WatchlistEntry, content_hash: str, stamp) -> dict:
    # _id is the ref: the primary key doubles as the unique index, which on the
    # embedded server makes inserts about twice as fast as a second index would
    return {
        "_id": entry.ref,
        "ref": entry.ref,
        "key_id": entry.key_id,
        "digests": {t: [Binary(d) for d in sorted(ds)] for t, ds in entry.digests.items() if ds},
        "corroborating": {
            t: [Binary(d) for d in sorted(ds)] for t, ds in entry.corroborating.items() if ds
        },
        "fingerprints": Binary(entry.fingerprints),
        "readings": {t: [Binary(d) for d in sorted(ds)] for t, ds in entry.readings.items() if ds},
        "fingerprint_count": len(entry.fingerprints) // 8,
        "content_hash": content_hash,
        "created": stamp,
        "updated": stamp,
    }


def upsert_entries(storage: Storage, entries: Iterable[WatchlistEntry]) -> UpsertResult:
    """Insert new people and replace changed ones, in bulk; identical ones are not written.

    Batches are written by a second thread while the caller keys the next
    batch: the database server works on one core while keying runs on the
    other.
    """
    coll = storage.db[schema.WATCHLIST]
    # one pass over (ref, hash) pairs: far cheaper here than per-batch $in lookups
    known: dict[str, str] = (
        {d["_id"]: d.get("content_hash", "") for d in coll.find({}, {"content_hash": 1})}
        if coll.estimated_document_count() else {}
    )
    counts = {"inserted": 0, "updated": 0, "unchanged": 0}
    with _BatchWriter(coll) as writer:
        batch_new: list[dict] = []
        batch_changed: list[dict] = []
        for entry in entries:
            content_hash = entry.content_hash()
            previous = known.get(entry.ref)
            if previous == content_hash:
                counts["unchanged"] += 1
                continue
            doc = _document(entry, content_hash, now())
            if previous is None:
                counts["inserted"] += 1
                batch_new.append(doc)
            else:
                counts["updated"] += 1
                batch_changed.append(doc)
            known[entry.ref] = content_hash
            if len(batch_new) + len(batch_changed) >= BATCH:
                writer.put(batch_new, batch_changed)
                batch_new, batch_changed = [], []
        writer.put(batch_new, batch_changed)
    if counts["inserted"] or counts["updated"]:
        bump_version(storage)
    return UpsertResult(**counts)


class _BatchWriter:
    """Writes batches on a thread; the first error is raised in the caller."""

    def __init__(self, coll) -> None:
        self.coll = coll
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="watchlist-writer", daemon=True)

    def __enter__(self) -> _BatchWriter:
        self.thread.start()
        return self

    def put(self, new: list[dict], changed: list[dict]) -> None:
        if self.error is not None:
            raise self.error
        if new or changed:
            self.queue.put((new, changed))

    def __exit__(self, exc_type, exc, tb) -> None:
        self.queue.put(None)
        self.thread.join()
        if exc is None and self.error is not None:
            raise self.error

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is not None:
                continue  # drain: the caller stops at its next put
            try:
                self._write(*item)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                self.error = exc

    def _write(self, new: list[dict], changed: list[dict]) -> None:
        replaced = list(changed)
        if new:
            try:
                self.coll.insert_many(new, ordered=False)
            except BulkWriteError as exc:
                # enrolled meanwhile by another process: replace instead
                raced = {e["index"] for e in exc.details["writeErrors"] if e["code"] == 11000}
                if len(raced) != len(exc.details["writeErrors"]):
                    raise
                replaced += [new[i] for i in sorted(raced)]
        if replaced:
            ops = []
            for doc in replaced:
                fields = {k: v for k, v in doc.items() if k not in ("_id", "created")}
                ops.append(UpdateOne({"_id": doc["_id"]},
                                     {"$set": fields, "$setOnInsert": {"created": doc["created"]}},
                                     upsert=True))
            self.coll.bulk_write(ops, ordered=False)


def remove_refs_except(storage: Storage, keep: set[str]) -> int:
    """Remove every person not in `keep` (for `enroll --replace`)."""
    coll = storage.db[schema.WATCHLIST]
    gone = [d["_id"] for d in coll.find({}, {"_id": 1}) if d["_id"] not in keep]
    for i in range(0, len(gone), BATCH):
        coll.bulk_write([DeleteOne({"_id": ref}) for ref in gone[i:i + BATCH]], ordered=False)
    if gone:
        bump_version(storage)
    return len(gone)


def iter_entries(storage: Storage) -> Iterator[WatchlistEntry]:
    for doc in storage.db[schema.WATCHLIST].find({}).sort("_id", 1):
        yield _entry(doc)


def get_entry(storage: Storage, ref: str) -> WatchlistEntry | None:
    doc = storage.db[schema.WATCHLIST].find_one({"_id": ref})
    return _entry(doc) if doc else None


def _entry(doc: dict) -> WatchlistEntry:
    return WatchlistEntry(
        ref=doc["ref"],
        key_id=doc["key_id"],
        digests={t: [bytes(d) for d in ds] for t, ds in doc.get("digests", {}).items()},
        corroborating={
            t: [bytes(d) for d in ds] for t, ds in doc.get("corroborating", {}).items()
        },
        fingerprints=bytes(doc.get("fingerprints", b"")),
        readings={t: [bytes(d) for d in ds] for t, ds in doc.get("readings", {}).items()},
    )


def version(storage: Storage) -> int:
    """Changes whenever the watchlist does: caches and rescans compare it."""
    return int(storage.meta().get("watchlist_version", 0))


def bump_version(storage: Storage) -> int:
    doc = storage.db[schema.META].find_one_and_update(
        {"_id": schema.META_ID},
        {"$inc": {"watchlist_version": 1}, "$set": {"watchlist_changed": now()}},
        upsert=True,
        return_document=True,
    )
    return int(doc["watchlist_version"])
