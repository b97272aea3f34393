"""Retention: pages, sightings and retained candidate digests expire after a set time.

Expiry: a TTL index (`expireAfterSeconds`) on one date field per collection,
which MongoDB's TTL monitor uses to delete documents older than the limit, and
`purge_expired`, the same deletes done by vahti with a range over that index, at
most once per `PURGE_EVERY_S` (`purge_if_due`, at open). The embedded SecantusDB
has its TTL sweeper switched off (storage/embedded.py): it reads and decodes every
document of every TTL-indexed collection once a minute under the server's global
lock, which stalled all queries for 55 s with 1.3 million documents (measured with
benchmarks/search_latency.py); the range delete touches only what expired.

    pages       last_seen   a page not fetched again for `pages_days`
    sightings   last_seen   a person not seen again on that page for `sightings_days`
    candidates  seen_at     a retained candidate digest older than `candidates_days`

`apply_retention` runs at every open (see `vahti.wiring.open_db`) and makes the
indexes say what the settings say: it creates a missing TTL index, retunes one
whose limit changed with `collMod` (no rebuild), and drops it when the setting is
0 (keep forever; a TTL of 0 seconds would instead mean "expire at once"). It is
idempotent and safe when several processes open the database at the same time.

The TTL indexes are named `<field>_ttl` and are owned here: `storage.schema` must
not declare another single-field index on the same field (MongoDB refuses two
indexes with the same key and different options); `<field>_ttl` serves range
queries on that field too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.errors import OperationFailure

from vahti.storage import schema
from vahti.storage.clock import now
from vahti.storage.connection import Storage
from vahti.storage.errors import StorageError

DAY_S = 86400
# The TTL index of the candidates collection (storage/candidates.py) is created
# here whether or not it has documents yet.
CANDIDATES = schema.CANDIDATES

# MongoDB's codes when an index of that name or key exists with other options
CONFLICT_CODES = {85, 86}  # IndexOptionsConflict, IndexKeySpecsConflict
INDEX_NOT_FOUND = 27
NAMESPACE_NOT_FOUND = 26


@dataclass(frozen=True)
class RetentionSettings:
    """Days to keep each kind of record; 0 keeps it forever."""

    pages_days: int = 365
    sightings_days: int = 365
    candidates_days: int = 180

    def __post_init__(self) -> None:
        for name in ("pages_days", "sightings_days", "candidates_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise StorageError(f"retention.{name} must be a whole number of days, "
                                   f"0 (keep forever) or more")

    def rules(self) -> list[TtlRule]:
        return [
            TtlRule(schema.PAGES, "last_seen", self.pages_days),
            TtlRule(schema.SIGHTINGS, "last_seen", self.sightings_days),
            TtlRule(CANDIDATES, "seen_at", self.candidates_days),
        ]


@dataclass(frozen=True)
class TtlRule:
    collection: str
    field: str
    days: int

    @property
    def index_name(self) -> str:
        return f"{self.field}_ttl"

    @property
    def seconds(self) -> int:
        return self.days * DAY_S


@dataclass(frozen=True)
class RetentionChange:
    collection: str
    field: str
    action: str  # created | changed | dropped | unchanged | none
    seconds: int | None  # the TTL now in force, None: kept forever


def apply_retention(storage: Storage, settings: RetentionSettings) -> list[RetentionChange]:
    """Make each collection's TTL index match `settings`; returns what was done."""
    changes = []
    for rule in settings.rules():
        try:
            changes.append(_apply(storage, rule))
        except OperationFailure as exc:
            raise StorageError(
                f"cannot set the retention of {rule.collection} ({rule.field}): "
                f"{exc.details.get('codeName', exc.code) if exc.details else exc.code}"
            ) from None
    return changes


PURGE_EVERY_S = 3600
PURGED_FIELD = "retention_purged"  # in meta: when the last purge ran


def purge_expired(storage: Storage, settings: RetentionSettings,
                  at: datetime | None = None) -> dict[str, int]:
    """Delete what is older than the limits now (by the `<field>_ttl` indexes);
    returns the number deleted per collection."""
    at = at or now()
    deleted = {}
    for rule in settings.rules():
        if rule.days:
            cutoff = at - timedelta(seconds=rule.seconds)
            result = storage.db[rule.collection].delete_many({rule.field: {"$lt": cutoff}})
            deleted[rule.collection] = result.deleted_count
    storage.db[schema.META].update_one({"_id": schema.META_ID}, {"$set": {PURGED_FIELD: at}},
                                       upsert=True)
    return deleted


def purge_if_due(storage: Storage, settings: RetentionSettings) -> dict[str, int] | None:
    """`purge_expired` when the last purge is older than `PURGE_EVERY_S` (or never ran)."""
    last = storage.meta().get(PURGED_FIELD)
    if last is not None:
        if last.tzinfo is None:
            last = last.replace(tzinfo=UTC)
        if (now() - last).total_seconds() < PURGE_EVERY_S:
            return None
    return purge_expired(storage, settings)


def ttl_seconds(storage: Storage, collection: str, field: str) -> int | None:
    """The TTL in force on `collection`.`field` (by its `<field>_ttl` index), or None."""
    index = _index(storage, collection, f"{field}_ttl")
    if index is None or "expireAfterSeconds" not in index:
        return None
    return int(index["expireAfterSeconds"])


def _index(storage: Storage, collection: str, name: str) -> dict[str, Any] | None:
    try:
        return next((ix for ix in storage.db[collection].list_indexes()
                     if ix.get("name") == name), None)
    except OperationFailure as exc:
        if exc.code == NAMESPACE_NOT_FOUND:
            return None
        raise


def _apply(storage: Storage, rule: TtlRule) -> RetentionChange:
    coll = storage.db[rule.collection]
    current = _index(storage, rule.collection, rule.index_name)
    if rule.days == 0:
        if current is None:
            return RetentionChange(rule.collection, rule.field, "none", None)
        try:
            coll.drop_index(rule.index_name)
        except OperationFailure as exc:
            if exc.code not in (INDEX_NOT_FOUND, NAMESPACE_NOT_FOUND):
                raise  # dropped meanwhile by another process: fine
        return RetentionChange(rule.collection, rule.field, "dropped", None)
    if current is None:
        try:
            coll.create_index([(rule.field, 1)], name=rule.index_name,
                              expireAfterSeconds=rule.seconds)
            return RetentionChange(rule.collection, rule.field, "created", rule.seconds)
        except OperationFailure as exc:
            if exc.code not in CONFLICT_CODES:
                raise
            # created meanwhile by another process, maybe with another limit
            current = _index(storage, rule.collection, rule.index_name)
            if current is None:
                raise
    if current.get("expireAfterSeconds") == rule.seconds:
        return RetentionChange(rule.collection, rule.field, "unchanged", rule.seconds)
    storage.db.command({"collMod": rule.collection,
                        "index": {"name": rule.index_name, "expireAfterSeconds": rule.seconds}})
    return RetentionChange(rule.collection, rule.field, "changed", rule.seconds)
