"""`vahti db dump` and `vahti db load`: every collection as JSON lines.

The dump is for audits and privacy tests, and for moving to another server. Its
lines are MongoDB Extended JSON (relaxed mode, `bson.json_util`): ObjectIds, dates
(to the millisecond, as BSON stores them), binary and NaN keep their types, so a load
writes back the same documents. The one thing relaxed mode does not keep is a 64-bit
integer small enough for 32 bits: it comes back as a 32-bit one, equal in every query
(vahti itself writes Python ints, which pymongo stores that way in the first place).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bson import json_util
from pymongo.errors import BulkWriteError

from vahti.matchers.private import private_dir
from vahti.storage import schema
from vahti.storage.clock import now
from vahti.storage.connection import Storage, refuse_newer_schema
from vahti.storage.errors import KeyMismatch, StorageError

DUMP_OPTIONS = json_util.JSONOptions(json_mode=json_util.JSONMode.RELAXED, tz_aware=True)
LOAD_BATCH = 500
DUPLICATE_KEY = 11000
# set in the target's meta while a load runs: a load that was interrupted may go on
LOADING = "load_in_progress"


def dump_all(storage: Storage, out_dir: Path) -> dict[str, int]:
    """Write `<collection>.jsonl` per collection; returns documents written per collection."""
    private_dir(out_dir)
    written: dict[str, int] = {}
    for name in sorted(storage.db.list_collection_names()):
        count = 0
        with (out_dir / f"{name}.jsonl").open("w", encoding="utf-8") as fh:
            for doc in storage.db[name].find({}).sort("_id", 1):
                fh.write(json_util.dumps(doc, json_options=DUMP_OPTIONS, sort_keys=True) + "\n")
                count += 1
        written[name] = count
    return written


class DumpError(StorageError):
    """A dump that cannot be loaded (missing, unreadable, another key, a newer schema)."""


def _documents(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                doc = json_util.loads(line, json_options=DUMP_OPTIONS)
            except (ValueError, TypeError, json.JSONDecodeError):
                # never the line itself: it is the database's data
                raise DumpError(f"{path}: line {number} is not a document of a dump") from None
            if not isinstance(doc, dict) or "_id" not in doc:
                raise DumpError(f"{path}: line {number} is not a document of a dump")
            yield doc


def dump_meta(in_dir: Path) -> dict[str, Any]:
    """The dump's meta document (schema version, key id); DumpError if it has none."""
    path = in_dir / f"{schema.META}.jsonl"
    if not in_dir.is_dir():
        raise DumpError(f"{in_dir} is not a folder (a `vahti db dump --out` folder)")
    if not path.is_file():
        raise DumpError(f"{in_dir} is not a vahti dump: it has no {path.name}")
    for doc in _documents(path):
        if doc["_id"] == schema.META_ID:
            return doc
    raise DumpError(f"{path} holds no meta document: not a vahti dump")


def load_all(storage: Storage, in_dir: Path, key_id: str) -> dict[str, int]:
    """Load a dump into an empty database: the same documents (same _ids, same types),
    then the dump's meta. Refuses a dump written under another key, a newer schema,
    and a database that holds anything, except the remains of a load of the same dump
    that was interrupted: that one goes on (documents already there are skipped, so
    loading twice changes nothing). Returns documents per collection in the dump."""
    meta = dump_meta(in_dir)
    dumped_key = meta.get("key_id")
    if dumped_key is not None and dumped_key != key_id:
        raise KeyMismatch(str(dumped_key), key_id)
    refuse_newer_schema(meta, "the dump")
    target = storage.meta()
    resuming = target.get(LOADING, {}).get("key_id") == key_id
    held = {name: storage.db[name].estimated_document_count()
            for name in storage.db.list_collection_names() if name != schema.META}
    if sum(held.values()) and not resuming:
        busy = ", ".join(f"{name} {n}" for name, n in sorted(held.items()) if n)
        raise DumpError(f"the database {storage.db.name} at {storage.display_uri} is not "
                        f"empty ({busy}): a dump is loaded only into an empty database")
    storage.check_key(key_id)
    storage.db[schema.META].update_one(
        {"_id": schema.META_ID},
        {"$set": {LOADING: {"key_id": key_id, "started": now(), "from": str(in_dir)}}})
    loaded: dict[str, int] = {}
    for path in sorted(in_dir.glob("*.jsonl")):
        name = path.stem
        if name != schema.META:
            loaded[name] = _load_collection(storage, name, path)
    storage.db[schema.META].replace_one({"_id": schema.META_ID}, meta)  # drops LOADING
    loaded[schema.META] = 1
    for name, n in loaded.items():
        there = storage.db[name].count_documents({})
        if there != n:
            raise DumpError(f"{name}: {there} documents after the load, the dump has {n}")
    return loaded


def _load_collection(storage: Storage, name: str, path: Path) -> int:
    count = 0
    batch: list[dict[str, Any]] = []
    for doc in _documents(path):
        batch.append(doc)
        count += 1
        if len(batch) >= LOAD_BATCH:
            _insert_new(storage, name, batch)
            batch = []
    if batch:
        _insert_new(storage, name, batch)
    return count


def _insert_new(storage: Storage, name: str, docs: list[dict[str, Any]]) -> None:
    """Insert the documents not there yet (a resumed load finds some there)."""
    try:
        storage.db[name].insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        others = [e for e in exc.details.get("writeErrors", []) if e.get("code") != DUPLICATE_KEY]
        if others:
            # the server's message may quote the document: only its code
            raise StorageError(f"loading {name} failed (server error code "
                               f"{others[0].get('code')})") from None
