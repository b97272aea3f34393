"""Sightings are written in bulk: new occurrences inserted, a page seen again updated
at once, and the stored documents exactly those of one upsert per sighting."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import UpdateOne, monitoring

from vahti.storage import schema, sightings
from vahti.storage.connection import ensure_schema
from vahti.storage.keyids import key_field

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class _Commands(monitoring.CommandListener):
    """The write commands a client sends (registered once, for clients made after)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, bool]] = []  # (command, statements, any upsert)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "insert":
            self.seen.append(("insert", len(event.command.get("documents", ())), False))
        elif event.command_name == "update":
            ups = event.command.get("updates", ())
            self.seen.append(("update", len(ups), any(u.get("upsert") for u in ups)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


# registered at import, before any test's client is made: the `storage` fixture's is seen
COMMANDS = _Commands()
monitoring.register(COMMANDS)


def _sighting(page: str, r: int, score: float = 0.8, **kw) -> sightings.Sighting:
    return sightings.Sighting(page_url=page, source="local", ref=f"P{r % 7:07d}",
                              id_type="hetu" if r % 3 else "email", kind="identifier",
                              start=r * 40, end=r * 40 + 11, score=score,
                              page_content_id=kw.pop("content_id", "c1"),
                              seen_at=kw.pop("seen_at", T0), **kw)


def test_a_new_page_is_inserted_at_once_and_a_page_seen_again_updated_at_once(storage):
    batch = [_sighting("file:///dump.csv", r) for r in range(500)]
    COMMANDS.seen.clear()
    assert len(sightings.record_sightings(storage, batch)) == 500
    writes = [c for c in COMMANDS.seen if c[0] in ("insert", "update")]
    assert writes == [("insert", 500, False)]  # was: 500 upserts
    later = [_sighting("file:///dump.csv", r, seen_at=T0 + timedelta(days=1)) for r in range(500)]
    COMMANDS.seen.clear()
    assert sightings.record_sightings(storage, later) == []
    assert COMMANDS.seen == [("update", 1, False)]  # one update of the page
    docs = list(storage.db[schema.SIGHTINGS].find({}, {"_id": 0, "first_seen": 1, "last_seen": 1}))
    assert len(docs) == 500
    assert {(d["first_seen"], d["last_seen"]) for d in docs} == {(T0, T0 + timedelta(days=1))}


def _as_upserts(coll, batch, active) -> list[int]:
    """The reference: one upsert per sighting on the occurrence key (the original write)."""
    ops = [UpdateOne(
        {"page_url": s.page_url, "ref": s.ref, "id_type": s.id_type, "start": s.start},
        {"$setOnInsert": {"source": s.source, "kind": s.kind, "end": s.end,
                          "first_seen": s.seen_at, "alerted": False,
                          **({"via": s.via} if s.via else {})},
         "$set": {"last_seen": s.seen_at, "page_content_id": s.page_content_id,
                  **({"key_id": s.key_id} if s.key_id else active)},
         "$max": {"score": s.score}},
        upsert=True) for s in batch]
    return sorted(coll.bulk_write(ops, ordered=False).upserted_ids)


def _documents(coll) -> list[list]:
    """Every document with its fields in stored order, without _id, in occurrence order."""
    docs = [[kv for kv in d.items() if kv[0] != "_id"] for d in coll.find({})]
    return sorted(docs, key=lambda d: [str(v) for _, v in d])


def test_stored_documents_are_those_of_one_upsert_per_sighting(storage):
    reference = storage.client["r_" + uuid.uuid4().hex[:12]]
    ensure_schema(reference)
    active = key_field(storage)
    day = timedelta(days=1)
    a, b, member = "file:///a.csv", "file:///b.sql", "file:///x.zip!inner/c.json"
    batches = [
        # new pages; an occurrence twice in one batch (later: higher score, other content)
        [_sighting(a, r) for r in range(30)] + [_sighting(member, r, via="retro") for r in range(5)]
        + [_sighting(a, 3, score=0.95, content_id="c2", seen_at=T0 + day)],
        # page a seen again exactly (one update), b new, a key id given
        [_sighting(a, r, seen_at=T0 + 2 * day) for r in range(30)]
        + [_sighting(b, r, key_id="k-old") for r in range(10)],
        # a again: one occurrence gone, one score higher, one new occurrence
        [_sighting(a, r, seen_at=T0 + 3 * day) for r in range(1, 30)]
        + [_sighting(a, 7, score=1.0, seen_at=T0 + 3 * day), _sighting(a, 99)],
        # b again with different seen times (no single update), member unchanged
        [_sighting(b, r, seen_at=T0 + (4 + r) * day) for r in range(10)]
        + [_sighting(member, r, via="retro") for r in range(5)],
    ]
    try:
        for batch in batches:
            new = sightings.record_sightings(storage, batch)
            expected = _as_upserts(reference[schema.SIGHTINGS], batch, active)
            assert new == [batch[i] for i in expected]
            assert _documents(storage.db[schema.SIGHTINGS]) == _documents(
                reference[schema.SIGHTINGS])
    finally:
        storage.client.drop_database(reference.name)


def test_an_occurrence_a_concurrent_writer_inserted_first_is_upserted_not_new(storage):
    batch = [_sighting("file:///c.csv", r) for r in range(20)]
    # another writer records five of them between this one's read of the stored
    # occurrences and its insert
    assert len(sightings.record_sightings(storage, batch[:5])) == 5
    docs = [sightings._NewDoc(i, s, T0, key_field(storage)) for i, s in enumerate(batch)]
    upserts: list[int] = []
    inserted = sightings._insert_new(storage.db[schema.SIGHTINGS], docs, upserts)
    assert inserted == list(range(5, 20)) and upserts == list(range(5))
    assert storage.db[schema.SIGHTINGS].count_documents({}) == 20
