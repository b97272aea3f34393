"""Opening the database: a given MongoDB URI, or the embedded default server.

The same code path serves both; there is no second backend.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import (
    CollectionInvalid,
    ConfigurationError,
    InvalidURI,
    OperationFailure,
    PyMongoError,
)

from vahti import __version__
from vahti.storage import schema
from vahti.storage.clock import now
from vahti.storage.embedded import EmbeddedServer
from vahti.storage.errors import KeyMismatch, SchemaTooNew, StorageError, StorageUnavailable
from vahti.storage.uri import display_uri


@dataclass(frozen=True)
class StorageSettings:
    home: Path
    uri: str = ""
    database: str = "vahti"
    connect_timeout_s: float = 5.0
    embedded_start_timeout_s: float = 15.0
    embedded_cache_size: str = "256M"
    embedded_linger_s: float = 0.0

    @property
    def mode(self) -> str:
        return "external" if self.uri else "embedded"


class Storage:
    """An open database with vahti's schema. Use as a context manager or call close()."""

    def __init__(self, client: MongoClient, db: Database, mode: str, uri: str,
                 server: EmbeddedServer | None) -> None:
        self.client = client
        self.db = db
        self.mode = mode
        self.display_uri = display_uri(uri)
        self._server = server
        self._key_id: str | None = None  # the active key id, once known (active_key_id)

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()
        if self._server is not None:
            self._server.release()
            self._server = None
        _exit_without_waiting_for_monitors()

    @property
    def server_log(self) -> Path | None:
        return self._server.log_path if self._server else None

    def server_version(self) -> str:
        return str(self.client.server_info().get("version", "unknown"))

    def meta(self) -> dict[str, Any]:
        return self.db[schema.META].find_one({"_id": schema.META_ID}) or {}

    def bind_key(self, key_id: str) -> None:
        """Record the key id at first use; refuse a database written with another key."""
        meta = self.db[schema.META]
        meta.update_one(
            {"_id": schema.META_ID, "key_id": {"$exists": False}},
            {"$set": {"key_id": key_id, "key_bound": now()}},
        )
        stored = (meta.find_one({"_id": schema.META_ID}) or {}).get("key_id")
        if stored != key_id:
            raise KeyMismatch(str(stored), key_id)
        self._key_id = key_id

    def check_key(self, key_id: str) -> None:
        """Like bind_key, without recording: for read-only commands."""
        stored = self.meta().get("key_id")
        if stored is not None and stored != key_id:
            raise KeyMismatch(str(stored), key_id)
        self._key_id = key_id

    def active_key_id(self) -> str:
        """The key id that keyed documents written now are under (their `key_id` field):
        the key bound at open, else the database's; "" before any key was bound."""
        if self._key_id is None:
            self._key_id = str(self.meta().get("key_id") or "")
        return self._key_id

    def counts(self) -> dict[str, int]:
        return {
            name: self.db[name].count_documents({})
            for name in schema.COLLECTION_NAMES
            if name != schema.META
        }


# pymongo's exit hooks that join its monitor threads (pymongo 4.x internals: if they
# move, nothing is unregistered and commands wait as before; tests/unit pin them)
PYMONGO_EXIT_HOOKS = (("pymongo.synchronous.monitor", "_shutdown_resources"),
                      ("pymongo.periodic_executor", "_shutdown_executors"))


def pymongo_exit_hooks() -> list[Any]:
    return [hook for module, name in PYMONGO_EXIT_HOOKS
            if (hook := getattr(sys.modules.get(module), name, None)) is not None]


def _exit_without_waiting_for_monitors() -> None:
    """pymongo joins its monitor threads at exit, and each one first sleeps out its
    current 0.5 s wait: that was a third of a short command's time. Once every client
    is closed, those daemon threads have been told to stop and hold nothing, so the
    process need not wait for them."""
    from pymongo import periodic_executor

    executors = getattr(periodic_executor, "_EXECUTORS", None)
    if executors is None or not all(getattr(ref(), "_stopped", True) for ref in list(executors)):
        return
    for hook in pymongo_exit_hooks():
        atexit.unregister(hook)


def open_storage(settings: StorageSettings) -> Storage:
    """Connect (starting the embedded server if no URI is set) and ensure the schema."""
    server: EmbeddedServer | None = None
    credentials: dict[str, str] = {}  # the embedded server's: never part of a URI string
    if settings.uri:
        uri = settings.uri
    else:
        server = EmbeddedServer(
            settings.home / "db",
            start_timeout_s=settings.embedded_start_timeout_s,
            cache_size=settings.embedded_cache_size,
            linger_s=settings.embedded_linger_s,
            client_of=lambda uri, credentials: _client(uri, settings.connect_timeout_s,
                                                       credentials),
        )
        uri = server.acquire().uri
        credentials = server.credentials()
    shown = display_uri(uri)
    try:
        client = ((server.take_client() if server is not None else None)
                  or _connect(uri, settings.connect_timeout_s, credentials))
        storage = Storage(client, client[settings.database], settings.mode, uri, server)
    except BaseException:
        if server is not None:
            server.release()
        raise
    try:
        ensure_schema(storage.db)
    except PyMongoError as exc:
        storage.close()
        raise StorageError(
            f"cannot prepare the database at {shown}: {type(exc).__name__}"
        ) from None
    except BaseException:
        storage.close()
        raise
    return storage


def _client(uri: str, timeout_s: float, credentials: dict[str, Any]) -> MongoClient:
    """A client of `uri` (not connected yet) with vahti's options."""
    ms = max(int(timeout_s * 1000), 100)
    options: dict[str, Any] = {}
    if not any(opt in uri.lower() for opt in ("journal=", "w=")):
        # Acknowledged means on the journal: without it SecantusDB (like mongod
        # with j:false) can lose acknowledged writes when killed, which would
        # break "nothing committed is lost" after a crash.
        options["journal"] = True
    try:
        return MongoClient(
            uri,
            **options,
            **credentials,
            # the whole attempt, selection included, must end within timeout_s
            serverSelectionTimeoutMS=int(ms * 0.8),
            connectTimeoutMS=int(ms * 0.8),
            tz_aware=True,
            appname="vahti",
        )
    except (InvalidURI, ConfigurationError, ValueError):
        raise StorageError(f"invalid MongoDB URI {display_uri(uri)}") from None


def _connect(uri: str, timeout_s: float, credentials: dict[str, Any]) -> MongoClient:
    """A client of `uri` that answered a ping (logged in, with credentials)."""
    shown = display_uri(uri)
    client = _client(uri, timeout_s, credentials)
    try:
        client.admin.command("ping")
    except OperationFailure as exc:
        client.close()
        raise StorageUnavailable(
            f"the database at {shown} refused vahti (code {exc.code}): check the credentials"
        ) from None
    except PyMongoError:
        client.close()
        raise StorageUnavailable(
            f"cannot reach the database at {shown} within {timeout_s:g} s"
        ) from None
    return client


def ensure_schema(db: Database) -> None:
    """Create what is missing and record this vahti's version in the meta document; a
    database of a newer schema is refused before anything is written to it.

    Every command opens the database: when the meta document says this very schema
    (version, vahti version, collections and indexes: `ENSURED`) was ensured and every
    collection is there, that is two reads, not the twenty round trips of creating
    each collection's indexes again (a thirtieth of a scan command's start-up). An index
    dropped behind vahti's back (not a collection) is made again only once vahti's
    version or schema changes."""
    meta = db[schema.META]
    stored = meta.find_one({"_id": schema.META_ID}) or {}
    refuse_newer_schema(stored)
    existing = set(db.list_collection_names())
    if (stored.get(ENSURED_FIELD) == ensured_stamp()
            and stored.get("schema_version") == schema.SCHEMA_VERSION  # else a migration is due
            and stored.get("vahti_version") == __version__  # else an older vahti wrote since
            and all(spec.name in existing for spec in schema.COLLECTIONS)):
        return
    for spec in schema.COLLECTIONS:
        if spec.name not in existing:
            try:
                db.create_collection(spec.name)
            except CollectionInvalid:
                pass  # created meanwhile by another process
        if spec.indexes:
            db[spec.name].create_indexes(list(spec.indexes))
    meta.update_one(
        {"_id": schema.META_ID},
        {"$setOnInsert": {"schema_version": schema.SCHEMA_VERSION, "created": now()}},
        upsert=True,
    )
    # a newer vahti may have created it meanwhile; else this vahti is the last writer
    refuse_newer_schema(meta.find_one({"_id": schema.META_ID}) or {})
    meta.update_one({"_id": schema.META_ID, "vahti_version": {"$ne": __version__}},
                    {"$set": {"vahti_version": __version__}})
    # ensured for this schema only while it is this schema (a migration changes it)
    meta.update_one({"_id": schema.META_ID, "schema_version": schema.SCHEMA_VERSION},
                    {"$set": {ENSURED_FIELD: ensured_stamp()}})


ENSURED_FIELD = "schema_ensured"  # meta: the `ensured_stamp` of the last full ensure_schema


@functools.cache
def ensured_stamp() -> str:
    """What `ensure_schema` makes, in short: the schema and vahti versions and a digest
    of every collection's name and index definitions (a changed index is made again)."""
    specs = [[spec.name, [ix.document for ix in spec.indexes]] for spec in schema.COLLECTIONS]
    digest = hashlib.sha256(json.dumps(specs, sort_keys=True, default=repr).encode())
    return f"{schema.SCHEMA_VERSION}/{__version__}/{digest.hexdigest()[:16]}"


def refuse_newer_schema(meta: dict[str, Any], what: str = "the database") -> None:
    """SchemaTooNew when `meta` (of the database, or of a dump) has a newer schema."""
    stored = meta.get("schema_version", 0)
    if stored > schema.SCHEMA_VERSION:
        writer = meta.get("vahti_version")
        shown = isinstance(writer, str) and re.fullmatch(r"[0-9A-Za-z.+_-]{1,40}", writer)
        by = f" (written by vahti {writer})" if shown else ""  # a version, nothing else
        raise SchemaTooNew(
            f"{what} has schema version {stored}{by}, newer than this vahti's "
            f"{schema.SCHEMA_VERSION} (vahti {__version__}): upgrade vahti"
        )
    # An older schema is migrated by `storage.migrations`, with the key (vahti/wiring.py).
