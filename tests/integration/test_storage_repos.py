"""Repository functions: idempotent bulk upserts on unique keys."""

from __future__ import annotations

import pytest

from vahti.storage import pages, runs, schema, sightings, watchlist
from vahti.storage.connection import ensure_schema
from vahti.storage.errors import KeyMismatch

pytestmark = pytest.mark.integration


def entry(ref: str, n: int) -> watchlist.WatchlistEntry:
    return watchlist.WatchlistEntry(
        ref=ref, key_id="k1",
        digests={"hetu": [bytes([n]) * 16], "email": [bytes([n, 1]) * 8]},
        corroborating={"name": [bytes([n, 2]) * 8]},
        fingerprints=b"".join(i.to_bytes(8, "little") for i in range(n, n + 5)),
    )


def test_watchlist_upsert_is_idempotent_and_versioned(storage):
    people = [entry(f"P{i:05d}", i % 250) for i in range(2500)]
    first = watchlist.upsert_entries(storage, people)
    assert (first.inserted, first.updated, first.unchanged) == (2500, 0, 0)
    v1 = watchlist.version(storage)
    again = watchlist.upsert_entries(storage, people)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2500)
    assert watchlist.version(storage) == v1  # nothing changed, caches stay valid
    changed = entry("P00007", 251)
    third = watchlist.upsert_entries(storage, [changed])
    assert (third.inserted, third.updated) == (0, 1)
    # bumped before the write and after it (see storage/watchlist.py)
    assert watchlist.version(storage) == v1 + 2
    assert storage.db[schema.WATCHLIST].count_documents({}) == 2500
    loaded = {e.ref: e for e in watchlist.iter_entries(storage)}
    assert list(loaded) == sorted(loaded) and len(loaded) == 2500
    assert loaded["P00007"].fingerprints == changed.fingerprints
    assert loaded["P00007"].digests == {k: sorted(v) for k, v in changed.digests.items()}
    removed = watchlist.remove_refs_except(storage, {"P00001", "P00002"})
    assert removed == 2498 and storage.db[schema.WATCHLIST].count_documents({}) == 2


def test_sightings_upsert_reports_only_new_ones(storage):
    batch = [sightings.Sighting(page_url=f"u{p}", source="s", ref=f"R{r}", id_type="hetu",
                                kind="identifier", start=r * 10, end=r * 10 + 11, score=0.8)
             for p in range(20) for r in range(50)]
    assert len(sightings.record_sightings(storage, batch)) == 1000
    assert sightings.record_sightings(storage, batch) == []
    more = batch[:10] + [sightings.Sighting("u-new", "s", "R1", "hetu", "identifier", 0, 11, 1.0)]
    new = sightings.record_sightings(storage, more)
    assert [s.page_url for s in new] == ["u-new"]
    assert storage.db[schema.SIGHTINGS].count_documents({}) == 1001
    assert sightings.count_for_ref(storage, "R1") == 21


def test_pages_upsert_keeps_first_seen(storage):
    page = pages.PageRecord(url="http://x.onion/p/1", source="paste", content_id="ab" * 16, size=10,
                            hit_counts={"hetu": 2}, watchlist_version=3)
    assert pages.upsert_pages(storage, [page]) == 1
    first = storage.db[schema.PAGES].find_one({"url": page.url})
    assert pages.upsert_pages(storage, [page]) == 0
    second = storage.db[schema.PAGES].find_one({"url": page.url})
    assert second["first_seen"] == first["first_seen"]
    assert second["last_seen"] >= first["last_seen"]
    assert storage.db[schema.PAGES].count_documents({}) == 1
    assert pages.scanned_with(storage, page.content_id, 3)
    assert not pages.scanned_with(storage, page.content_id, 4)


def test_runs_record_start_and_finish(storage):
    run_id = runs.start_run(storage, "paste", "crawl")
    runs.finish_run(storage, run_id, runs.RunStats(pages=3, bytes=300, errors={"timeout": 1}))
    doc = storage.db[schema.RUNS].find_one({"run_id": run_id})
    assert doc["state"] == "done" and doc["pages"] == 3 and doc["errors"] == {"timeout": 1}


def test_schema_is_idempotent_and_key_is_bound_once(storage):
    ensure_schema(storage.db)
    ensure_schema(storage.db)
    names = {ix["name"] for ix in storage.db[schema.SIGHTINGS].list_indexes()}
    assert {"occurrence_unique", "ref_first_seen"} <= names
    storage.bind_key("aaaa")
    storage.bind_key("aaaa")
    with pytest.raises(KeyMismatch) as err:
        storage.bind_key("bbbb")
    assert "aaaa" in str(err.value) and "bbbb" in str(err.value)
