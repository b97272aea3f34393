"""The local candidate index: every retained key, sorted, for searches and retro-hunts.

The candidates collection holds keys as packed blobs (see `storage.candidates`
for why no database index). This module keeps a sorted copy of all keys with,
for each, the document it came from, as numpy arrays under
`$VAHTI_HOME/cache/candidates/` (memory-mapped: a search of 10 million keys
starts in milliseconds). It is a cache of the database and nothing more: the
same keyed values, no plaintext.

Freshness: each use reads the documents written since the cache was built
(by their `seen_at` stamp; a margin of `MARGIN_S` covers clocks and slow
writers, and documents already cached are recognised by id). Those are searched
from memory beside the cache; when they grow past a share of it, the cache is
rewritten. Documents removed by retention are dropped when hits are resolved
(`storage.candidates.describe`); once an hour (`SHRINK_CHECK_S`) the
collection is counted, and the cache rebuilt when it has shrunk noticeably.
Keys removed from documents (`vahti forget`, `storage.candidates.remove_keys`)
bump a generation in the database: a cache of an older generation is rebuilt
at its next use, on every machine, so a forgotten key is never found again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bson import ObjectId

from vahti.matchers.private import private_dir
from vahti.storage import candidates
from vahti.storage.connection import Storage

MARGIN_S = 600
FORMAT = 1
# rewrite the cache when the new documents hold more keys than this share of it
REWRITE_SHARE = 0.05
REWRITE_MIN_KEYS = 200_000
# rebuild when the collection has fewer documents than this share of the cached ones
SHRINK_SHARE = 0.9
SHRINK_CHECK_S = 3600  # counting costs a scan on the embedded server: not at every search


@dataclass
class _Arrays:
    keys: np.ndarray  # uint64, sorted
    docs: np.ndarray  # int64: for each key, its document's position in `oids`
    oids: np.ndarray  # S12: the documents' ids, in id order

    @staticmethod
    def empty() -> _Arrays:
        return _Arrays(np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, "S12"))

    def oid(self, i: int) -> ObjectId:
        # numpy drops trailing NUL bytes of an "S" item: pad them back
        return ObjectId(bytes(self.oids[i]).ljust(12, b"\0"))

    @staticmethod
    def of(docs: list[candidates.CandidateDoc], types: set[str] | None = None) -> _Arrays:
        parts = [d for d in docs if types is None or d.id_type in types]
        if not parts:
            return _Arrays.empty()
        keys = np.concatenate([d.keys for d in parts])
        owner = np.repeat(np.arange(len(parts), dtype=np.int64), [len(d.keys) for d in parts])
        order = np.argsort(keys, kind="stable")
        oids = np.array([d.oid.binary for d in parts], dtype="S12")
        return _Arrays(keys[order], owner[order], oids)

    def lookup(self, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position in `wanted`, document position) for every key found."""
        if not len(wanted) or not len(self.keys):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        lo = np.searchsorted(self.keys, wanted, side="left")
        hi = np.searchsorted(self.keys, wanted, side="right")
        counts = hi - lo
        pos = np.repeat(np.arange(len(wanted), dtype=np.int64), counts)
        within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        return pos, np.asarray(self.docs)[np.repeat(lo, counts) + within]


@dataclass(frozen=True)
class Hit:
    """A wanted key (by position) found in a retained document."""

    position: int
    oid: ObjectId


class CandidateIndex:
    """Sorted retained keys: the cache plus the documents written since."""

    def __init__(self, base: _Arrays, fresh: _Arrays) -> None:
        self.base, self.fresh = base, fresh

    @property
    def n_keys(self) -> int:
        return len(self.base.keys) + len(self.fresh.keys)

    def lookup_arrays(self, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position in `wanted`, document number) for every key found, vectorised;
        `oid` turns a document number into the document's id."""
        wanted = np.asarray(wanted, dtype=np.uint64)
        p1, d1 = self.base.lookup(wanted)
        p2, d2 = self.fresh.lookup(wanted)
        return np.concatenate([p1, p2]), np.concatenate([d1, d2 + len(self.base.oids)])

    def oid(self, doc: int) -> ObjectId:
        n = len(self.base.oids)
        return self.base.oid(doc) if doc < n else self.fresh.oid(doc - n)

    def lookup(self, wanted: np.ndarray) -> list[Hit]:
        pos, docs = self.lookup_arrays(wanted)
        return [Hit(int(p), self.oid(int(d))) for p, d in zip(pos, docs, strict=True)]


def cache_dir(storage: Storage, home: Path) -> Path:
    # one cache per database a home has used (the name hashes where it is; the
    # embedded server's port changes at each start, its place does not)
    where = "embedded" if storage.mode == "embedded" else storage.display_uri
    tag = hashlib.sha256(f"{where}\0{storage.db.name}".encode()).hexdigest()[:16]
    return home / "cache" / "candidates" / tag


def load(storage: Storage, home: Path) -> CandidateIndex:
    """The candidate index, brought up to date with the database."""
    target = cache_dir(storage, home)
    meta, base = _read(target)
    if meta is not None and meta.get("generation", 0) != candidates.generation(storage):
        meta = None  # keys were removed from documents since (forget): rebuild
    if meta is not None and _shrunk(storage, target, meta):
        meta = None  # retention removed many documents: rebuild
    if meta is None:
        return _rebuild(storage, target)
    built = dt.datetime.fromisoformat(meta["built"])
    since = built - dt.timedelta(seconds=MARGIN_S)
    cached_recent = {ObjectId(o) for o in meta["recent"]}
    unseen = [o for o in candidates.ids_since(storage, since) if o not in cached_recent]
    fresh = _Arrays.of(candidates.docs_by_id(storage, unseen))
    if len(fresh.keys) > max(REWRITE_MIN_KEYS, REWRITE_SHARE * len(base.keys)):
        return _rebuild(storage, target)
    return CandidateIndex(base, fresh)


def _shrunk(storage: Storage, target: Path, meta: dict) -> bool:
    checked = dt.datetime.fromisoformat(meta.get("checked") or meta["built"])
    if (dt.datetime.now(dt.UTC) - checked).total_seconds() < SHRINK_CHECK_S:
        return False
    if candidates.count(storage) < SHRINK_SHARE * meta["total_docs"]:
        return True
    meta["checked"] = dt.datetime.now(dt.UTC).isoformat()
    tmp = target / f".meta-{os.getpid()}.json"
    tmp.write_text(json.dumps(meta) + "\n", encoding="utf-8")
    os.replace(tmp, target / "meta.json")
    return False


def _rebuild(storage: Storage, target: Path) -> CandidateIndex:
    started = dt.datetime.now(dt.UTC)
    # read before the documents: a removal meanwhile makes the next load rebuild again
    generation = candidates.generation(storage)
    total = candidates.count(storage)
    # read before the documents: every id listed here is in the arrays, and what is
    # written meanwhile is "unseen" to the next load, never lost
    recent = [str(o) for o in candidates.ids_since(
        storage, started - dt.timedelta(seconds=MARGIN_S))]
    arrays = _Arrays.of(list(candidates.iter_docs(storage)))
    meta = {"format": FORMAT, "built": started.isoformat(), "total_docs": total,
            "n_keys": int(len(arrays.keys)), "recent": recent, "generation": generation}
    _write(target, arrays, meta)
    return CandidateIndex(arrays, _Arrays.empty())


def _write(target: Path, arrays: _Arrays, meta: dict) -> None:
    root = target.parent
    private_dir(root)
    # written beside the target and swapped in: readers see the old or the new, whole
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=root))
    np.save(tmp / "keys.npy", arrays.keys)
    np.save(tmp / "docs.npy", arrays.docs)
    np.save(tmp / "oids.npy", arrays.oids)
    (tmp / "meta.json").write_text(json.dumps(meta) + "\n", encoding="utf-8")
    old = root / f".old-{os.getpid()}-{target.name}"
    try:
        if target.exists():
            os.rename(target, old)
        os.rename(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # another process swapped first
    shutil.rmtree(old, ignore_errors=True)


def _read(target: Path) -> tuple[dict | None, _Arrays]:
    try:
        meta = json.loads((target / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            return None, _Arrays.empty()
        keys = np.load(target / "keys.npy", mmap_mode="r")
        docs = np.load(target / "docs.npy", mmap_mode="r")
        oids = np.load(target / "oids.npy", mmap_mode="r")
    except (OSError, ValueError, KeyError):
        return None, _Arrays.empty()
    if len(keys) != meta.get("n_keys") or len(docs) != len(keys):
        return None, _Arrays.empty()
    return meta, _Arrays(keys, docs, oids)
