"""Which cached index (`vahti.watchlist_cache`) is the database's watchlist now.

The database half of loading the index: the watchlist's state, and whether the
cache holds an index built from exactly it. It imports neither numpy nor the
index, so that `vahti scan --no-store` can run it in a second process while the
first loads the scanner (`vahti.scan_start`); pymongo is imported when a
function here first reads the database.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from vahti.matchers.lazy import lazy_module

if TYPE_CHECKING:
    from vahti.storage import watchlist
    from vahti.storage.connection import Storage
else:
    watchlist = lazy_module("vahti.storage.watchlist")  # pymongo: when the database is read

SOURCE = "source.json"  # the database state a cached index was built from


def cache_root(home: Path) -> Path:
    return home / "cache" / "watchlist"


def cache_dir(home: Path, key_id: str, version: int) -> Path:
    """Where the index of watchlist version `version` under key `key_id` is cached."""
    return cache_root(home) / f"{key_id}-v{version}"


def source_of(storage: Storage, state: watchlist.WatchlistState) -> dict:
    """What a cached index must have been built from (`vahti.watchlist_cache`): the
    state token, and the people counted, but on the embedded server."""
    if storage.mode == "embedded":
        return {"state": state.token}
    return {"state": state.token, "people": watchlist.count(storage)}


def built_from(target: Path) -> dict | None:
    """The source a cached index at `target` was built from (None: none there, or
    unreadable)."""
    try:
        source = json.loads((target / SOURCE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return source if isinstance(source, dict) else None


def current_cache(storage: Storage, key_id: str, home: Path) -> tuple[Path, dict] | None:
    """The cached index of the database's watchlist as it is now, and its source: None
    while a write is open or was interrupted (the index is then read from the database,
    and what happened said, by `load_index`), or when the cache holds no index of this
    state. The index's files are checked when it is loaded (`watchlist_cache.cached`)."""
    state = watchlist.state(storage)
    if state.writes:
        return None
    source = source_of(storage, state)
    target = cache_dir(home, key_id, state.version)
    return (target, source) if built_from(target) == source else None
