"""The scan-ready watchlist index, cached on disk per watchlist version.

Building the index reads every watchlist document from the database, which
for a million people takes far longer than a scan should wait. The built
index is saved as numpy arrays under `$VAHTI_HOME/cache/watchlist/` in a
directory named by key id and watchlist version; the next command memory-maps
it in well under a second. The version changes with every enrolment that
changes something, so a stale index is never used. The cache holds only what
the database holds: digests, fingerprints and refs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from matchers.fragments import DEFAULT_STOP_MAX_RECORDS
from matchers.index import FragmentArrays, IndexBuilder, IndexError_, WatchlistIndex
from matchers.keys import Key
from matchers.private import private_dir
from storage import watchlist
from storage.connection import Storage
from vahti.errors import VahtiError


def cache_root(home: Path) -> Path:
    return home / "cache" / "watchlist"


def load_index(storage: Storage, key: Key, home: Path) -> WatchlistIndex:
    """The index of the current watchlist: from the cache, or built and cached."""
    version = watchlist.version(storage)
    root = cache_root(home)
    target = root / f"{key.key_id}-v{version}"
    try:
        return WatchlistIndex.load(target, key)
    except (IndexError_, FileNotFoundError, ValueError, OSError):
        pass  # missing or incomplete: build it
    index = build_index(storage, key)
    private_dir(root)
    # Build beside the target and rename: a concurrent command sees either no
    # index or a complete one, never a half-written one.
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=root))
    index.save(tmp)
    try:
        os.rename(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # another process was faster
        if not target.exists():
            raise
    _drop_old(root, keep=target)
    return WatchlistIndex.load(target, key)


def enrolled_index(storage: Storage, key: Key, home: Path) -> WatchlistIndex:
    """`load_index`, refusing an empty watchlist: a scan for nobody finds nothing."""
    index = load_index(storage, key, home)
    if index.n_people == 0:
        raise VahtiError("the watchlist is empty: enroll a register first (vahti enroll)")
    return index


def build_index(storage: Storage, key: Key) -> WatchlistIndex:
    builder = IndexBuilder(key)
    for entry in watchlist.iter_entries(storage):
        if entry.key_id != key.key_id:
            continue  # bind_key already refuses mixed databases; belt and braces
        fps = np.frombuffer(entry.fingerprints, dtype="<u8") if entry.fingerprints else None
        builder.add(entry.ref, entry.digests, entry.corroborating, fps)
    index = builder.build()
    index.fragments = without_common_fingerprints(index.fragments)
    return index


def without_common_fingerprints(
    arrays: FragmentArrays, max_records: int = DEFAULT_STOP_MAX_RECORDS
) -> FragmentArrays:
    """Drop fingerprints shared by more than `max_records` records.

    Shared text between many records is a template ("the client arrived on
    time"), not a person: it cannot tell whose record leaked, and it would
    make every dump of boilerplate look like a hit. A record's score counts
    only its remaining fingerprints.
    """
    fps = arrays.fp_sorted
    if not len(fps):
        return arrays
    # fp_sorted holds each record's fingerprints once, so the length of a run
    # of equal values is the number of records sharing that fingerprint
    starts = np.flatnonzero(np.r_[True, fps[1:] != fps[:-1]])
    runs = np.diff(np.r_[starts, len(fps)])
    keep = np.repeat(runs <= max_records, runs)
    kept_records = arrays.fp_record[keep]
    counts = np.bincount(kept_records, minlength=arrays.n_records).astype(np.int32)
    return replace(arrays, fp_sorted=fps[keep], fp_record=kept_records, record_fp_counts=counts)


def _drop_old(root: Path, keep: Path) -> None:
    for path in root.iterdir():
        if path != keep and path.is_dir() and not path.name.startswith(".building-"):
            shutil.rmtree(path, ignore_errors=True)
