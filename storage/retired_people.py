"""What each enrolled person's keys were under a retired key, so that `vahti forget`
also removes them from the candidates retained under that key.

A rotation re-keys the watchlist; the retained candidates stay under the old key
until retention removes them. Forgetting a person afterwards must remove their keys
from those too, and only the old watchlist entry said which they were: the rotation
copies every entry's candidate keys (storage.forget.person_keys) here first, one
document per person and retired key (`_id` "<key id>:<ref>"). Keyed like the old
watchlist, never plaintext; removed by `vahti forget` for the person, and for a
whole key when the key is retired (nothing is retained under it any more).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from bson.binary import Binary
from pymongo import ReplaceOne

from vahti.storage import schema
from vahti.storage.connection import Storage

BATCH = 1000


def keep(storage: Storage, key_id: str, people: Iterable[tuple[str, dict[str, np.ndarray]]]
         ) -> int:
    """Store each (ref, keys per type) under `key_id`; idempotent. Returns people kept."""
    coll = storage.db[schema.RETIRED_PEOPLE]
    ops: list[ReplaceOne] = []
    n = 0
    for ref, keys in people:
        doc = {"ref": ref, "key_id": key_id,
               "keys": {t: Binary(np.ascontiguousarray(k, dtype="<u8").tobytes())
                        for t, k in keys.items() if len(k)}}
        ops.append(ReplaceOne({"_id": f"{key_id}:{ref}"}, doc, upsert=True))
        n += 1
        if len(ops) >= BATCH:
            coll.bulk_write(ops, ordered=False)
            ops = []
    if ops:
        coll.bulk_write(ops, ordered=False)
    return n


def of_ref(storage: Storage, ref: str) -> list[tuple[str, dict[str, np.ndarray]]]:
    """(retired key id, keys per type) of this person, one per retired key."""
    return [(d["key_id"], {t: np.frombuffer(b, dtype="<u8").astype(np.uint64)
                           for t, b in d.get("keys", {}).items()})
            for d in storage.db[schema.RETIRED_PEOPLE].find({"ref": ref})]


def remove_ref(storage: Storage, ref: str) -> int:
    return storage.db[schema.RETIRED_PEOPLE].delete_many({"ref": ref}).deleted_count


def drop_key(storage: Storage, key_id: str) -> int:
    return storage.db[schema.RETIRED_PEOPLE].delete_many({"key_id": key_id}).deleted_count
