"""Lookups of many values at once, in the shape the servers answer fastest.

`{"field": {"$in": values}}` with hundreds of values is slow on the embedded
server (SecantusDB): measured 5.2 s for 500 refs of 10 sightings each, against
0.58 s in chunks of 20 and 1.0 s one value at a time. MongoDB itself is
indifferent to the chunking, so chunks of `IN_CHUNK` serve both.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pymongo.collection import Collection

IN_CHUNK = 20


def find_in(coll: Collection, field: str, values: Iterable[Any],
            projection: dict | None = None, extra: dict | None = None) -> Iterator[dict]:
    """Documents whose `field` is one of `values` (each value asked once)."""
    wanted = list(dict.fromkeys(values))
    for i in range(0, len(wanted), IN_CHUNK):
        query = {field: {"$in": wanted[i:i + IN_CHUNK]}, **(extra or {})}
        yield from coll.find(query, projection)
