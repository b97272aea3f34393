"""Schema migrations: one function per step, run when a command opens an older database.

Schema 1 -> 2 (issue 12): page content was named by its plain SHA-256 (`sha256` in
pages and candidates, `page_sha256` in sightings and alerts, and `stdin:<sha256>` in
the URL of a scanned stdin). For small or templated content that hash gives the
identifier back by brute force, so schema 2 names content by a keyed content id
(matchers/contentid.py). The id is keyed over the SHA-256, so every stored hash maps
to its id with the key (`rekey`), and the links between pages, sightings, candidates
and alerts survive. Stored ETags (often a plain hash of the body too) are dropped:
schema 2 keeps them sealed, and a page without one is fetched once unconditionally.

The step is idempotent and resumable: each document is rewritten in one update that
sets the new field and unsets the old one, guarded by the old value (a document is
either old or new, never both, and two processes migrating at once write the same
thing once). A collection that is done is recorded in the meta document; the schema
version becomes 2 only when every collection is done, and until then every command
opening the database runs (or resumes) the migration first, so no reader ever sees
a half-migrated database.

Schema 2 -> 3 (issue 13, key rotation): every keyed document names the key it is under
(`key_id`, storage/keyids.py). Until then one key was all there was: the database's
(meta `key_id`), set on every keyed document that has no `key_id` yet. Needs no key,
is idempotent (one `update_many` per collection guarded by the missing field) and
the version becomes 3 only after every collection is done.

Schema 3 -> 4 (issue 14, triage): every alert gets a triage state. The existing ones
become `new` with an empty history (nobody triaged them in vahti), in one `update_many`
guarded by the missing state: idempotent, needs no key. The `false_positives`
collection and the state index appear with the collections' specs (storage/schema.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pymongo import UpdateOne
from pymongo.errors import OperationFailure

from vahti.storage import keyids, schema
from vahti.storage.clock import now
from vahti.storage.connection import Storage

Rekey = Callable[[str], str]  # a stored plain SHA-256 (hex) -> its content id

RENAMED = {"sha256": "content_id", "page_sha256": "page_content_id"}
URL_FIELDS = ("url", "page_url")  # pages, alerts; sightings
ETAG = "etag"  # pages: the server's ETag, in the clear in schema 1
# a new stdin URL has 32 hex digits, then "!" (a member) or its end: never 64
OLD_STDIN_URL = re.compile(r"^stdin:([0-9a-f]{64})")
OLD_INDEXES = {schema.PAGES: "sha256", schema.CANDIDATES: "sha256"}
DONE_FIELD = "migration_v2_done"  # collections finished, while the step runs
BATCH = 1000


def schema_version(storage: Storage) -> int:
    return int(storage.meta().get("schema_version", schema.SCHEMA_VERSION))


def pending(storage: Storage) -> bool:
    return schema_version(storage) < schema.SCHEMA_VERSION


def needs_key(storage: Storage) -> bool:
    """Does a pending migration need the key (1 -> 2 does: it keys stored hashes)?"""
    return schema_version(storage) < 2


def migrate(storage: Storage, rekey: Rekey) -> dict[str, int]:
    """Bring the database to the current schema; returns documents rewritten per
    collection. Does nothing on a current database."""
    rewritten: dict[str, int] = {}
    if schema_version(storage) == 1:
        rewritten = _v1_to_v2(storage, rekey)
    if schema_version(storage) == 2:
        for name, n in _v2_to_v3(storage).items():
            rewritten[name] = rewritten.get(name, 0) + n
    if schema_version(storage) == 3:
        rewritten[schema.ALERTS] = rewritten.get(schema.ALERTS, 0) + _v3_to_v4(storage)
    return rewritten


def _v3_to_v4(storage: Storage) -> int:
    stated = storage.db[schema.ALERTS].update_many(
        {"state": {"$exists": False}}, {"$set": {"state": "new", "history": []}}).modified_count
    storage.db[schema.META].update_one({"_id": schema.META_ID, "schema_version": 3},
                                       {"$set": {"schema_version": 4, "migrated_to_4": now()}})
    return stated


def _v2_to_v3(storage: Storage) -> dict[str, int]:
    key_id = storage.meta().get("key_id")
    tagged: dict[str, int] = {}
    if key_id:  # no key bound yet: nothing keyed was written under one
        for name in keyids.KEYED:
            query: dict = {"key_id": {"$exists": False}}
            if name == schema.ALERTS:
                query["kind"] = "sighting"  # health alerts hold nothing keyed
            tagged[name] = storage.db[name].update_many(
                query, {"$set": {"key_id": key_id}}).modified_count
    storage.db[schema.META].update_one({"_id": schema.META_ID, "schema_version": 2},
                                       {"$set": {"schema_version": 3, "migrated_to_3": now()}})
    return tagged


def _v1_to_v2(storage: Storage, rekey: Rekey) -> dict[str, int]:
    meta = storage.db[schema.META]
    done = set(storage.meta().get(DONE_FIELD, []))
    rewritten: dict[str, int] = {}
    # every collection, not only vahti's known ones: nothing may keep a plain hash
    for name in sorted(set(storage.db.list_collection_names()) - {schema.META} - done):
        rewritten[name] = _rewrite_collection(storage, name, rekey)
        if name in OLD_INDEXES:
            try:
                storage.db[name].drop_index(OLD_INDEXES[name])
            except OperationFailure:
                pass  # already dropped (a resumed migration)
        meta.update_one({"_id": schema.META_ID}, {"$addToSet": {DONE_FIELD: name}})
    meta.update_one({"_id": schema.META_ID, "schema_version": 1},
                    {"$set": {"schema_version": 2, "migrated_to_2": now()},
                     "$unset": {DONE_FIELD: ""}})
    return rewritten


def _old_documents_query() -> dict:
    stdin_urls = [{f: {"$regex": OLD_STDIN_URL.pattern}} for f in URL_FIELDS]
    return {"$or": [{old: {"$exists": True}} for old in RENAMED] + stdin_urls
            + [{ETAG: {"$nin": ["", None]}}]}


def _rewrite_collection(storage: Storage, name: str, rekey: Rekey) -> int:
    col = storage.db[name]
    fields = {f: 1 for f in (*RENAMED, *URL_FIELDS, ETAG)}
    ops: list[UpdateOne] = []
    count = 0
    for doc in col.find(_old_documents_query(), fields):
        guard, update = _new_fields(doc, rekey)
        if not update:
            continue
        ops.append(UpdateOne({"_id": doc["_id"], **guard}, update))
        if len(ops) >= BATCH:
            count += col.bulk_write(ops, ordered=False).modified_count
            ops = []
    if ops:
        count += col.bulk_write(ops, ordered=False).modified_count
    return count


def _new_fields(doc: dict, rekey: Rekey) -> tuple[dict, dict]:
    """(the old values the update is guarded by, the update) of one document."""
    guard: dict = {}
    sets: dict = {}
    unsets: dict = {}
    for old, new in RENAMED.items():
        if old in doc:
            value = doc[old]
            guard[old] = value
            unsets[old] = ""
            sets[new] = rekey(value) if _is_sha256_hex(value) else ""
    for field in URL_FIELDS:
        value = doc.get(field)
        match = OLD_STDIN_URL.match(value) if isinstance(value, str) else None
        if match:
            guard[field] = value
            sets[field] = f"stdin:{rekey(match.group(1))}{value[match.end():]}"
    if doc.get(ETAG):
        guard[ETAG] = doc[ETAG]
        sets[ETAG] = ""
    update = {}
    if sets:
        update["$set"] = sets
    if unsets:
        update["$unset"] = unsets
    return guard, update


def _is_sha256_hex(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) is not None
