"""The watchlist: one document per enrolled person, keyed digests only.

A document holds the register's own opaque `ref`, the keyed digests of each
identifier type, corroborating digests (name, birth date), the record's
fragment fingerprints packed as little-endian uint64, the key id and times.
Nothing in it can be turned back into an identifier without the key.

Every change is bracketed in the `meta` document so that a cached index is
never taken for the database's watchlist (see vahti/watchlist_cache.py):
before the first write, an open-write mark (owner, start, last batch) is set
and the version bumped; after the last write the mark is removed and the
version bumped again. Each bump also draws a new random `watchlist_state`, so
two databases at the same version number never look alike. A writer killed
half-way leaves its mark: readers then build from the database instead of a
cache and say so, and the next `vahti enroll` removes the mark of a dead
writer (`repair_interrupted`), which bumps the version once more. `vahti
forget` marks its removal of a person the same way (`open_write`), and removes
the marks of forgets that died.
"""

from __future__ import annotations

import hashlib
import queue
import socket
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bson.binary import Binary
from pymongo import DeleteOne, UpdateOne
from pymongo.errors import BulkWriteError, PyMongoError

from vahti.storage import schema
from vahti.storage.clock import now
from vahti.storage.connection import Storage
from vahti.storage.leases import make_owner, parse_owner
from vahti.storage.processes import alive

BATCH = 1000
WRITES = "watchlist_writes"  # meta field: open writes, token -> {owner, started, alive, what}
ENROLL, FORGET = "enroll", "forget"  # what an open write does (its mark's `what`)
# A live writer renews its mark at every batch (seconds apart); one silent this long,
# or whose process on this host is gone, was interrupted.
STALE_WRITE = timedelta(minutes=10)


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
    with _BatchWriter(storage) as writer:
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
    return UpsertResult(**counts)


class _WriteMark:
    """This process's open-write mark in `meta` (see the module's docstring)."""

    def __init__(self, storage: Storage, what: str = ENROLL) -> None:
        self.storage = storage
        self.what = what
        self.token = ""

    def begin(self) -> None:
        if not self.token:
            self.token = uuid.uuid4().hex
            stamp = now()
            _change(self.storage, {"$set": {f"{WRITES}.{self.token}": {
                "owner": make_owner(), "started": stamp, "alive": stamp, "what": self.what}}})

    def beat(self) -> None:
        self.storage.db[schema.META].update_one(
            {"_id": schema.META_ID}, {"$set": {f"{WRITES}.{self.token}.alive": now()}})

    def end(self) -> None:
        if self.token:
            try:
                _change(self.storage, {"$unset": {f"{WRITES}.{self.token}": ""}})
            except PyMongoError:
                pass  # the mark stays: readers rebuild, the next enroll removes it
            self.token = ""


class _BatchWriter:
    """Writes batches on a thread, inside one open-write mark; the first error is
    raised in the caller. The mark is set before the first batch is handed over,
    so a process killed at any point after that leaves it behind."""

    def __init__(self, storage: Storage) -> None:
        self.coll = storage.db[schema.WATCHLIST]
        self.mark = _WriteMark(storage)
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
            self.mark.begin()
            self.queue.put((new, changed))

    def __exit__(self, exc_type, exc, tb) -> None:
        self.queue.put(None)
        self.thread.join()
        self.mark.end()
        if exc is None and self.error is not None:
            raise self.error

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is not None:
                continue  # drain: the caller stops at its next put
            try:
                self._write(*item)
                self.mark.beat()
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


@contextmanager
def open_write(storage: Storage, what: str) -> Iterator[None]:
    """A change of the watchlist inside an open-write mark (module doc): while it is open
    no reader caches the index, and a process killed inside it leaves its mark. The
    version is bumped (a new state token) as it opens and as it closes."""
    mark = _WriteMark(storage, what)
    mark.begin()
    try:
        yield
    finally:
        mark.end()


def remove_refs_except(storage: Storage, keep: set[str]) -> int:
    """Remove every person not in `keep` (for `enroll --replace`)."""
    coll = storage.db[schema.WATCHLIST]
    gone = [d["_id"] for d in coll.find({}, {"_id": 1}) if d["_id"] not in keep]
    mark = _WriteMark(storage)
    try:
        for i in range(0, len(gone), BATCH):
            mark.begin()
            coll.bulk_write([DeleteOne({"_id": ref}) for ref in gone[i:i + BATCH]],
                            ordered=False)
            mark.beat()
    finally:
        mark.end()
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
    return _change(storage, {})


def _change(storage: Storage, update: dict) -> int:
    """Bump the version, draw a new state token, and apply `update` to meta, at once."""
    update = {**update, "$inc": {"watchlist_version": 1}}
    update["$set"] = {**update.get("$set", {}), "watchlist_changed": now(),
                      "watchlist_state": uuid.uuid4().hex}
    doc = storage.db[schema.META].find_one_and_update(
        {"_id": schema.META_ID}, update, upsert=True, return_document=True)
    return int(doc["watchlist_version"])


def count(storage: Storage) -> int:
    """People enrolled, from the collection's metadata (cheap)."""
    return storage.db[schema.WATCHLIST].estimated_document_count()


@dataclass(frozen=True)
class OpenWrite:
    token: str
    owner: str  # "host:pid:tag"
    started: datetime
    alive: datetime  # the last batch written
    what: str = ENROLL  # ENROLL or FORGET

    @property
    def host(self) -> str:
        owner = parse_owner(self.owner)
        return owner.host if owner else "?"

    def interrupted(self, at: datetime, host: str) -> bool:
        """Its writer is gone: its process on this host has ended, or it has been
        silent for longer than any batch takes (a writer on another host)."""
        owner = parse_owner(self.owner)
        if owner is not None and owner.host == host and not alive(owner.pid):
            return True
        return at - self.alive > STALE_WRITE


@dataclass(frozen=True)
class WatchlistState:
    version: int
    token: str  # a new random value at every change
    writes: tuple[OpenWrite, ...]  # open: in progress, or interrupted

    def interrupted(self) -> list[OpenWrite]:
        at, host = now(), socket.gethostname()
        return [w for w in self.writes if w.interrupted(at, host)]


def state(storage: Storage) -> WatchlistState:
    meta = storage.meta()
    writes = tuple(
        OpenWrite(token, w.get("owner", ""), _aware(w["started"]), _aware(w["alive"]),
                  w.get("what", ENROLL))
        for token, w in sorted((meta.get(WRITES) or {}).items())
    )
    return WatchlistState(int(meta.get("watchlist_version", 0)),
                          str(meta.get("watchlist_state", "")), writes)


def repair_interrupted(storage: Storage, what: str | None = None) -> list[OpenWrite]:
    """Remove the marks of writers that died half-way (their writes are kept), of every
    kind or only of `what`: the watchlist is what the database holds, and a new version
    makes every cache of it rebuild. Returns the writes repaired."""
    gone = [w for w in state(storage).interrupted() if what is None or w.what == what]
    if gone:
        _change(storage, {"$unset": {f"{WRITES}.{w.token}": "" for w in gone}})
    return gone


def _aware(stamp: datetime) -> datetime:
    # pymongo returns naive UTC datetimes unless the client is tz-aware
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=now().tzinfo)
