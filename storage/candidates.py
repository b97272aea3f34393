"""Retained candidates: the keyed candidates of every page content, for retro-hunts.

One document per page content (its keyed content id) and type, holding the
sorted 64-bit keys of every identifier candidate of that type found in it
(enrolled or not), or for type "fragment" its winnowed keyed fingerprints,
packed as little-endian uint64. Keys are keyed digests: the documents reveal
nothing without the key. Content seen at several URLs is kept once; the pages
collection maps a content id back to its URLs.

A key is not indexed in the database: millions of index entries per day would
slow every crawl's writes (measured on the embedded server: 2.4k keys/s with one
document per key, 16k/s as arrays with a multikey index, far more as packed
blobs). Searches use the local candidate index instead
(`storage.candidate_index`), built from these documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from bson import ObjectId
from bson.binary import Binary

from vahti.storage import schema
from vahti.storage.clock import now
from vahti.storage.connection import Storage
from vahti.storage.keyids import key_field
from vahti.storage.query import find_in

# 1 Mi keys (8 MiB) per document: well inside MongoDB's 16 MiB document limit.
MAX_DOC_KEYS = 1 << 20


@dataclass
class CandidateSet:
    """Everything retained from one page content."""

    content_id: str
    keys: dict[str, np.ndarray] = field(default_factory=dict)  # type -> sorted uint64
    partial: bool = False  # the page had more candidates than the scanner keeps

    def add(self, keys: dict[str, np.ndarray] | None, partial: bool = False) -> None:
        """Add the keys of one more part (an archive member) of the same page."""
        for id_type, more in (keys or {}).items():
            have = self.keys.get(id_type)
            self.keys[id_type] = more if have is None else np.union1d(have, more)
        self.partial |= partial


@dataclass(frozen=True)
class CandidateDoc:
    oid: ObjectId
    content_id: str
    id_type: str
    keys: np.ndarray


def store(storage: Storage, sets: Iterable[CandidateSet], seen_at: datetime | None = None) -> int:
    """Insert the sets whose content is not retained yet; returns documents written.

    A rerun after a crash, or the same bytes at another URL, writes nothing new.
    """
    wanted = {s.content_id: s for s in sets if s.content_id}
    if not wanted:
        return 0
    known = retained_content_ids(storage, wanted)
    stamp = seen_at or now()
    keyed = key_field(storage)
    docs = []
    for cid, cset in wanted.items():
        if cid in known:
            continue
        for id_type, keys in sorted(cset.keys.items()):
            packed = np.ascontiguousarray(keys, dtype="<u8")
            for i in range(0, max(len(packed), 1), MAX_DOC_KEYS):
                part = packed[i:i + MAX_DOC_KEYS]
                docs.append({"content_id": cid, "t": id_type, "n": len(part),
                             "keys": Binary(part.tobytes()), "partial": cset.partial,
                             "seen_at": stamp, **keyed})
        if not cset.keys:  # a page without candidates is retained too: nothing to redo
            docs.append({"content_id": cid, "t": "", "n": 0, "keys": Binary(b""),
                         "partial": False, "seen_at": stamp, **keyed})
    if docs:
        storage.db[schema.CANDIDATES].insert_many(docs, ordered=False)
    return len(docs)


def retained_content_ids(storage: Storage, content_ids: Iterable[str]) -> set[str]:
    found = find_in(storage.db[schema.CANDIDATES], "content_id", content_ids, {"content_id": 1})
    return {d["content_id"] for d in found}


def iter_docs(storage: Storage, batch_size: int = 200) -> Iterator[CandidateDoc]:
    """Every document with keys, by id."""
    cursor = storage.db[schema.CANDIDATES].find({"n": {"$gt": 0}}).sort("_id", 1)
    for d in cursor.batch_size(batch_size):
        yield _doc(d)


def ids_since(storage: Storage, since: datetime) -> list[ObjectId]:
    """Ids of the documents written at or after `since` (an index-only read)."""
    found = storage.db[schema.CANDIDATES].find({"seen_at": {"$gte": since}}, {"_id": 1})
    return [d["_id"] for d in found]


def docs_by_id(storage: Storage, oids: Iterable[ObjectId]) -> list[CandidateDoc]:
    """These documents with their keys (those that have keys), by id."""
    found = find_in(storage.db[schema.CANDIDATES], "_id", oids)
    return sorted((_doc(d) for d in found if d.get("n")), key=lambda d: d.oid)


def _doc(d: dict) -> CandidateDoc:
    return CandidateDoc(d["_id"], d["content_id"], d["t"],
                        np.frombuffer(d["keys"], dtype="<u8").astype(np.uint64))


def describe(storage: Storage, oids: Iterable[ObjectId], key_id: str = ""
             ) -> dict[ObjectId, tuple[str, str]]:
    """(content id, type) of the documents that still exist (retention may have removed
    some); with `key_id`, only those under that key (a key of one key's digests found
    among another key's is a 64-bit coincidence, and their content ids differ)."""
    found = find_in(storage.db[schema.CANDIDATES], "_id", oids,
                    {"content_id": 1, "t": 1, "key_id": 1})
    return {d["_id"]: (d["content_id"], d["t"]) for d in found
            if not key_id or d.get("key_id", key_id) == key_id}


def count(storage: Storage) -> int:
    return storage.db[schema.CANDIDATES].estimated_document_count()


GENERATION_FIELD = "candidates_generation"  # in the meta document


def generation(storage: Storage) -> int:
    """Changes whenever keys are removed from retained documents (`remove_keys`):
    every local candidate index built before is stale then, on every machine."""
    return int(storage.meta().get(GENERATION_FIELD, 0))


@dataclass
class Removal:
    documents: int = 0  # documents rewritten without the keys
    keys: int = 0  # keys removed from them


def remove_keys(storage: Storage, keys: dict[str, np.ndarray],
                min_shared: dict[str, int] | None = None,
                since: datetime | None = None, key_id: str = "") -> Removal:
    """Remove these keys (per type) from every retained document of their type.

    The documents are rewritten in place, and the generation is bumped so that
    every local candidate index is rebuilt before its next use. For a type in
    `min_shared`, only documents holding at least that many of the keys are
    touched (a record's fingerprints: a page with fewer never held its text).
    `since`: only documents written from then on (a second pass over what a crawl
    retained while the first one ran). `key_id`: only documents under that key (the
    keys are a person's under that key). Every document of the types is read: no
    index says which ones hold a key, and a cache could be stale.
    """
    wanted = {t: np.unique(np.asarray(k, dtype=np.uint64)) for t, k in keys.items() if len(k)}
    removal = Removal()
    if not wanted:
        return removal
    coll = storage.db[schema.CANDIDATES]
    query: dict = {"t": {"$in": sorted(wanted)}, "n": {"$gt": 0}}
    if since is not None:
        query["seen_at"] = {"$gte": since}
    if key_id:
        query["key_id"] = key_id
    for d in coll.find(query, {"t": 1, "keys": 1}).sort("_id", 1).batch_size(200):
        have = np.frombuffer(d["keys"], dtype="<u8").astype(np.uint64)
        drop = np.isin(have, wanted[d["t"]], assume_unique=True)
        n = int(drop.sum())
        if not n or n < (min_shared or {}).get(d["t"], 1):
            continue
        kept = np.ascontiguousarray(have[~drop], dtype="<u8")
        coll.update_one({"_id": d["_id"]},
                        {"$set": {"keys": Binary(kept.tobytes()), "n": len(kept)}})
        removal.documents += 1
        removal.keys += n
    if removal.documents:
        storage.db[schema.META].update_one({"_id": schema.META_ID},
                                           {"$inc": {GENERATION_FIELD: 1}}, upsert=True)
    return removal
