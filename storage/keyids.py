"""Which key each keyed document is under, and which key ids are live.

Every document holding a value that means something only with the key (a keyed
digest, a keyed content id, a keyed location token in a URL) carries the id of
that key in `key_id`. After `vahti key rotate` the watchlist is under the new key,
but what cannot be re-keyed without the plaintext (retained candidates, pages and
sightings named by their content ids, alerts) stays under the old key until
retention removes it. The meta document names the active key (`key_id`) and the
retired ones still in use (`retired_key_ids`); a retired key is dropped from there
(and its file deleted by the caller) once no document under it is left.

Alerts have no retention: they are the record of what the controller was told. They
carry their key id too, but do not keep a retired key alive (see `BLOCKING`): once
the key is gone their content ids and URL tokens are labels that can no longer be
compared with new pages, which is said when the key is retired.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from vahti.storage import schema
from vahti.storage.connection import Storage
from vahti.storage.retention import RetentionSettings

RETIRED_FIELD = "retired_key_ids"  # in meta: retired keys with documents left under them
ROTATION_FIELD = "key_rotation"  # in meta while a rotation runs: {from, to, started}

# collection -> the date field its retention counts from (None: no retention)
KEYED: dict[str, str | None] = {
    schema.WATCHLIST: None,  # re-keyed by a rotation: never left under an old key
    schema.PAGES: "last_seen",
    schema.SIGHTINGS: "last_seen",
    schema.CANDIDATES: "seen_at",
    schema.ALERTS: None,
    schema.RETIRED_PEOPLE: None,  # deleted with the retired key (storage/retired_people.py)
    # kept like alerts, and like them keeping no retired key alive (storage/false_positives.py)
    schema.FALSE_POSITIVES: None,
}
# the collections whose documents keep a retired key alive (alerts do not: see above)
BLOCKING = (schema.WATCHLIST, schema.PAGES, schema.SIGHTINGS, schema.CANDIDATES)


def key_field(storage: Storage) -> dict[str, str]:
    """The `key_id` field of a keyed document written now (none before a key is bound)."""
    kid = storage.active_key_id()
    return {"key_id": kid} if kid else {}


def active(storage: Storage) -> str:
    return str(storage.meta().get("key_id") or "")


def retired(storage: Storage) -> list[str]:
    return list(storage.meta().get(RETIRED_FIELD) or [])


def live(storage: Storage) -> list[str]:
    """The active key id first, then the retired ones still in use."""
    return [k for k in [active(storage), *retired(storage)] if k]


def rotation(storage: Storage) -> dict[str, Any] | None:
    """The rotation in progress ({from, to, started}), or None."""
    return storage.meta().get(ROTATION_FIELD) or None


@dataclass(frozen=True)
class Remaining:
    collection: str
    documents: int
    until: datetime | None  # when the last of them expires at the latest; None: kept


def remaining(storage: Storage, key_id: str, retention: RetentionSettings,
              collections: tuple[str, ...] = tuple(KEYED)) -> list[Remaining]:
    """Documents under `key_id` per keyed collection, and until when they stay. A scan
    of each collection (no index on key_id: it would slow every write for a rare query)."""
    days = {r.collection: r.days for r in retention.rules()}
    out = []
    for name in collections:
        coll = storage.db[name]
        n = coll.count_documents({"key_id": key_id})
        field = KEYED[name]
        until = None
        if n and field and days.get(name):
            last = coll.find_one({"key_id": key_id, field: {"$type": "date"}}, {field: 1},
                                 sort=[(field, -1)])
            if last is not None:
                stamp = last[field] if last[field].tzinfo else last[field].replace(tzinfo=UTC)
                until = stamp + timedelta(days=days[name])
        out.append(Remaining(name, n, until))
    return out


def in_use(storage: Storage, key_id: str) -> bool:
    """Does any document that keeps a key alive remain under `key_id`?"""
    return any(storage.db[name].find_one({"key_id": key_id}, {"_id": 1}) is not None
               for name in BLOCKING)


def drop_retired(storage: Storage, key_id: str) -> None:
    storage.db[schema.META].update_one({"_id": schema.META_ID},
                                       {"$pull": {RETIRED_FIELD: key_id}})
