"""The watchlist: one document per enrolled person, keyed digests only.

A document holds the register's own opaque `ref`, the keyed digests of each
identifier type, corroborating digests (name, birth date), the record's
fragment fingerprints packed as little-endian uint64, the key id and times.
Nothing in it can be turned back into an identifier without the key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from bson.binary import Binary
from pymongo import DeleteMany, UpdateOne

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
        return h.hexdigest()


@dataclass(frozen=True)
class UpsertResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def _document(entry: WatchlistEntry, content_hash: str) -> dict:
    digests = {t: [Binary(d) for d in sorted(ds)] for t, ds in entry.digests.items() if ds}
    return {
        "ref": entry.ref,
        "key_id": entry.key_id,
        "digests": digests,
        "all_digests": sorted({d for ds in digests.values() for d in ds}),
        "corroborating": {
            t: [Binary(d) for d in sorted(ds)] for t, ds in entry.corroborating.items() if ds
        },
        "fingerprints": Binary(entry.fingerprints),
        "fingerprint_count": len(entry.fingerprints) // 8,
        "content_hash": content_hash,
    }


def upsert_entries(storage: Storage, entries: Iterable[WatchlistEntry]) -> UpsertResult:
    """Insert new people and update changed ones, in bulk; identical ones are not written."""
    inserted = updated = unchanged = 0
    batch: list[WatchlistEntry] = []

    def flush() -> None:
        nonlocal inserted, updated, unchanged
        if not batch:
            return
        coll = storage.db[schema.WATCHLIST]
        known = {
            d["ref"]: d.get("content_hash")
            for d in coll.find(
                {"ref": {"$in": [e.ref for e in batch]}}, {"ref": 1, "content_hash": 1}
            )
        }
        stamp = now()
        ops = []
        for entry in batch:
            content_hash = entry.content_hash()
            if known.get(entry.ref) == content_hash:
                unchanged += 1
                continue
            if entry.ref in known:
                updated += 1
            else:
                inserted += 1
            ops.append(
                UpdateOne(
                    {"ref": entry.ref},
                    {"$set": {**_document(entry, content_hash), "updated": stamp},
                     "$setOnInsert": {"created": stamp}},
                    upsert=True,
                )
            )
        if ops:
            coll.bulk_write(ops, ordered=False)
        batch.clear()

    for entry in entries:
        batch.append(entry)
        if len(batch) >= BATCH:
            flush()
    flush()
    if inserted or updated:
        bump_version(storage)
    return UpsertResult(inserted, updated, unchanged)


def remove_refs_except(storage: Storage, keep: set[str]) -> int:
    """Remove every person not in `keep` (for `enroll --replace`)."""
    coll = storage.db[schema.WATCHLIST]
    gone = [d["ref"] for d in coll.find({}, {"ref": 1}) if d["ref"] not in keep]
    for i in range(0, len(gone), BATCH):
        coll.bulk_write([DeleteMany({"ref": {"$in": gone[i:i + BATCH]}})])
    if gone:
        bump_version(storage)
    return len(gone)


def iter_entries(storage: Storage) -> Iterator[WatchlistEntry]:
    for doc in storage.db[schema.WATCHLIST].find({}, {"all_digests": 0}).sort("ref", 1):
        yield WatchlistEntry(
            ref=doc["ref"],
            key_id=doc["key_id"],
            digests={t: [bytes(d) for d in ds] for t, ds in doc.get("digests", {}).items()},
            corroborating={
                t: [bytes(d) for d in ds] for t, ds in doc.get("corroborating", {}).items()
            },
            fingerprints=bytes(doc.get("fingerprints", b"")),
        )


def refs_with_digest(storage: Storage, digest: bytes) -> list[str]:
    cursor = storage.db[schema.WATCHLIST].find({"all_digests": Binary(digest)}, {"ref": 1})
    return sorted(d["ref"] for d in cursor)


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
