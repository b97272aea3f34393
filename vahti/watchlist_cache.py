"""The scan-ready watchlist index, cached on disk per watchlist version.

Building the index reads every watchlist document from the database, which
for a million people takes far longer than a scan should wait. The built
index is saved as numpy arrays under `$VAHTI_HOME/cache/watchlist/` in a
directory named by key id and watchlist version; the next command memory-maps
it in well under a second. The cache holds only what the database holds:
digests, fingerprints and refs.

A cached index is used only when it was built from exactly the database's
watchlist (`source.json`: the state token drawn at every change, and on a
database given by URI the number of people). So an enrolment by another home
or host, a second database at the same version number, or a write that
bypassed vahti (a restore, an administrator's delete: the count differs) all
make it rebuild.

The embedded server is not counted (`watchlist_source.source_of`): it counts a collection by
reading every document, 0.33-0.43 s for 40,000 people here, which every
command would pay. Only vahti reaches that server (a socket in the 0700 home,
the home's credential), and each of its writes draws a new state token, so the
token alone tells its states apart. A write made there by hand with the
credential is not noticed until vahti next changes the watchlist: after one,
delete `$VAHTI_HOME/cache/watchlist/`.

While a write is open (an enrolment running, or one killed half-way) the
index is built from the database and not cached; an interrupted one is
reported until `vahti enroll` runs again and repairs it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vahti.errors import VahtiError
from vahti.matchers.fragments import DEFAULT_STOP_MAX_RECORDS
from vahti.matchers.index import FragmentArrays, IndexBuilder, IndexError_, WatchlistIndex
from vahti.matchers.keys import Key
from vahti.matchers.lazy import lazy_module
from vahti.matchers.private import private_dir
from vahti.watchlist_source import SOURCE, built_from, cache_dir, cache_root, source_of

if TYPE_CHECKING:
    from vahti.storage import watchlist
    from vahti.storage.connection import Storage
else:  # pymongo: when the database is read (vahti.scan_start loads a cached index without)
    watchlist = lazy_module("vahti.storage.watchlist")

log = logging.getLogger("vahti.watchlist")


def load_index(storage: Storage, key: Key, home: Path) -> WatchlistIndex:
    """The index of the database's watchlist: cached when built from exactly it,
    else built from the database (and cached when no write is open)."""
    before = watchlist.state(storage)
    if before.writes:
        _say_open_writes(before)
        return build_index(storage, key)
    source = source_of(storage, before)
    root = cache_root(home)
    target = cache_dir(home, key.key_id, before.version)
    index = cached(target, key, source)
    if index is not None:
        return index
    index = build_index(storage, key)
    after = watchlist.state(storage)
    if after.token != before.token or after.writes:
        return index  # changed while it was read: right for this command, not for the cache
    private_dir(root)
    # Build beside the target and rename: a concurrent command sees either no
    # index or a complete one, never a half-written one.
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=root))
    index.save(tmp)
    (tmp / SOURCE).write_text(json.dumps(source) + "\n", encoding="utf-8")
    _install(tmp, target)
    _drop_old(root, keep=target)
    return cached(target, key, source) or index


def cached(target: Path, key: Key, source: dict) -> WatchlistIndex | None:
    """The index cached at `target` if it was built from `source` (None: from another
    database state, or missing or incomplete: build it)."""
    if built_from(target) != source:
        return None
    try:
        return WatchlistIndex.load(target, key)
    except (IndexError_, FileNotFoundError, ValueError, OSError):
        return None


def _install(tmp: Path, target: Path) -> None:
    """Put a built index in place of `target` (an outdated one there is moved aside
    first; a process that has it memory-mapped keeps reading its files)."""
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=".old-", dir=target.parent))
        try:
            os.rename(target, old / "index")
        except OSError:
            pass  # another process moved it first
    try:
        os.rename(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # another process was faster


def _say_open_writes(state: watchlist.WatchlistState) -> None:
    interrupted = state.interrupted()
    for write in interrupted:
        started = write.started.strftime("%Y-%m-%d %H:%M UTC")
        if write.what == watchlist.FORGET:
            log.warning(
                "a `vahti forget` started %s on %s was interrupted before it finished: the "
                "watchlist is read from the database as it is; run `vahti forget` for that "
                "ref again to finish it", started, write.host)
            continue
        log.warning(
            "an enrolment started %s on %s was interrupted before it finished: the watchlist "
            "is read from the database as it is (the people written before it stopped); run "
            "`vahti enroll` with the register again to finish it", started, write.host)
    if len(interrupted) < len(state.writes):
        log.info("an enrolment or a forget is writing the watchlist now: the index is read "
                 "from the database, not from the cache")


def repaired_forget(started: str, host: str) -> str:
    """What a command says of the mark of an interrupted forget that it removed
    (`vahti forget` and `vahti enroll` both remove them)."""
    return (f"repaired: a `vahti forget` started {started} on {host} was interrupted before "
            "it finished; every cached index is rebuilt (run that forget again to finish it)")


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
