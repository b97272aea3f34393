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
from pathlib import Path

from matchers.index import IndexBuilder, IndexError_, WatchlistIndex
from matchers.keys import Key
from storage import watchlist
from storage.connection import Storage


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
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
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


def build_index(storage: Storage, key: Key) -> WatchlistIndex:
    import numpy as np

    builder = IndexBuilder(key)
    for entry in watchlist.iter_entries(storage):
        if entry.key_id != key.key_id:
            continue  # bind_key already refuses mixed databases; belt and braces
        fps = np.frombuffer(entry.fingerprints, dtype="<u8") if entry.fingerprints else None
        builder.add(entry.ref, entry.digests, entry.corroborating, fps)
    return builder.build()


def _drop_old(root: Path, keep: Path) -> None:
    for path in root.iterdir():
        if path != keep and path.is_dir() and not path.name.startswith(".building-"):
            shutil.rmtree(path, ignore_errors=True)
