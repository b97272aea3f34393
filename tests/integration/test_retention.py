"""Retention: TTL indexes with the configured seconds on pages, sightings and
candidates, retuned or dropped on the next start, shown by `vahti config show`, and
expired documents deleted by vahti's purge (the embedded server's own sweeper is
off, see storage/retention.py), only what expired, at most once an hour."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from vahti.storage import pages, schema, sightings
from vahti.storage.clock import now
from vahti.storage.connection import StorageSettings, open_storage
from vahti.storage.errors import StorageError
from vahti.storage.retention import (
    CANDIDATES,
    DAY_S,
    PURGED_FIELD,
    RetentionSettings,
    apply_retention,
    purge_expired,
    purge_if_due,
    ttl_seconds,
)

pytestmark = pytest.mark.integration


def ttl_of(storage) -> dict[str, int | None]:
    return {
        "pages": ttl_seconds(storage, schema.PAGES, "last_seen"),
        "sightings": ttl_seconds(storage, schema.SIGHTINGS, "last_seen"),
        "candidates": ttl_seconds(storage, CANDIDATES, "seen_at"),
    }


def index_named(storage, collection: str, name: str) -> dict | None:
    return next((ix for ix in storage.db[collection].list_indexes() if ix["name"] == name),
                None)


def test_ttl_indexes_created_retuned_and_dropped(storage):
    changes = apply_retention(storage, RetentionSettings(pages_days=365, sightings_days=30,
                                                         candidates_days=180))
    assert {(c.collection, c.action) for c in changes} == {
        (schema.PAGES, "created"), (schema.SIGHTINGS, "created"), (CANDIDATES, "created")}
    assert ttl_of(storage) == {"pages": 365 * DAY_S, "sightings": 30 * DAY_S,
                               "candidates": 180 * DAY_S}
    # a real single-field TTL index on the date field, also on the still empty candidates
    ix = index_named(storage, CANDIDATES, "seen_at_ttl")
    assert dict(ix["key"]) == {"seen_at": 1} and ix["expireAfterSeconds"] == 180 * DAY_S
    assert storage.db[CANDIDATES].count_documents({}) == 0
    assert dict(index_named(storage, schema.PAGES, "last_seen_ttl")["key"]) == {"last_seen": 1}

    # the same settings again change nothing
    again = apply_retention(storage, RetentionSettings(365, 30, 180))
    assert {c.action for c in again} == {"unchanged"}

    # other days: retuned in place (collMod), 0: the TTL goes, the data stays forever
    storage.db[schema.PAGES].insert_one({"url": "http://x.example/1", "last_seen": now()})
    changed = apply_retention(storage, RetentionSettings(pages_days=7, sightings_days=0,
                                                         candidates_days=180))
    assert {c.collection: c.action for c in changed} == {
        schema.PAGES: "changed", schema.SIGHTINGS: "dropped", CANDIDATES: "unchanged"}
    assert ttl_of(storage) == {"pages": 7 * DAY_S, "sightings": None,
                               "candidates": 180 * DAY_S}
    assert index_named(storage, schema.SIGHTINGS, "last_seen_ttl") is None
    assert storage.db[schema.PAGES].count_documents({}) == 1  # retuning keeps the data
    # and back on
    apply_retention(storage, RetentionSettings(pages_days=7, sightings_days=2,
                                               candidates_days=0))
    assert ttl_of(storage) == {"pages": 7 * DAY_S, "sightings": 2 * DAY_S, "candidates": None}
    # the other indexes of the schema are untouched
    names = {ix["name"] for ix in storage.db[schema.SIGHTINGS].list_indexes()}
    assert {"occurrence_unique", "ref_first_seen", "last_seen_ttl"} <= names


def test_bad_settings_refused():
    with pytest.raises(StorageError, match="retention.pages_days"):
        RetentionSettings(pages_days=-1)
    with pytest.raises(StorageError, match="retention.candidates_days"):
        RetentionSettings(candidates_days=1.5)  # type: ignore[arg-type]


def test_expired_documents_are_purged(storage):
    """Documents older than the limit are deleted by the purge; newer ones and those
    without the date field stay."""
    settings = RetentionSettings(pages_days=1, sightings_days=1, candidates_days=1)
    apply_retention(storage, settings)
    old, fresh = now() - timedelta(days=2), now()
    sightings.record_sightings(storage, [
        sightings.Sighting(page_url="http://old.example/p", source="s", ref="P1",
                           id_type="hetu", kind="identifier", start=5, end=16, score=1.0,
                           seen_at=old),
        sightings.Sighting(page_url="http://new.example/p", source="s", ref="P1",
                           id_type="hetu", kind="identifier", start=5, end=16, score=1.0,
                           seen_at=fresh),
    ])
    pages.upsert_pages(storage, [
        pages.PageRecord(url="http://old.example/p", source="s", content_id="a" * 32, size=1,
                         seen_at=old),
        pages.PageRecord(url="http://new.example/p", source="s", content_id="b" * 32, size=1,
                         seen_at=fresh),
    ])
    storage.db[CANDIDATES].insert_many([{"digest": b"o" * 16, "seen_at": old},
                                        {"digest": b"n" * 16, "seen_at": fresh},
                                        {"digest": b"x" * 16}])  # no date: never expires

    def remaining() -> tuple[int, int, int]:
        return (storage.db[schema.PAGES].count_documents({}),
                storage.db[schema.SIGHTINGS].count_documents({}),
                storage.db[CANDIDATES].count_documents({}))

    assert remaining() == (2, 2, 3)
    storage.db[schema.META].update_one({"_id": schema.META_ID},
                                       {"$set": {PURGED_FIELD: now()}}, upsert=True)
    assert purge_if_due(storage, settings) is None  # purged within the hour: not again
    assert remaining() == (2, 2, 3)
    assert purge_expired(storage, settings) == {
        schema.PAGES: 1, schema.SIGHTINGS: 1, CANDIDATES: 1}
    assert remaining() == (1, 1, 2)
    assert [p["url"] for p in storage.db[schema.PAGES].find()] == ["http://new.example/p"]
    assert [s["page_url"] for s in storage.db[schema.SIGHTINGS].find()] == [
        "http://new.example/p"]
    assert storage.db[CANDIDATES].count_documents({"digest": b"o" * 16}) == 0


def test_config_drives_the_indexes_at_the_next_start(vahti, tmp_path):
    assert vahti.run("init").returncode == 0
    template = (vahti.home / "config.toml").read_text()
    assert "[retention]" in template and "# sightings_days = 365" in template

    def db():
        return open_storage(StorageSettings(home=vahti.home, uri=vahti.env["VAHTI_MONGO_URI"],
                                            database=vahti.env["VAHTI_MONGO_DB"]))

    with db() as storage:  # `vahti init` opened the database: the defaults are in force
        assert ttl_of(storage) == {"pages": 365 * DAY_S, "sightings": 365 * DAY_S,
                                   "candidates": 180 * DAY_S}

    (vahti.home / "config.toml").write_text(template.replace(
        "\n[retention]\n", "\n[retention]\nsightings_days = 30\ncandidates_days = 0\n", 1))
    shown = vahti.run("config", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    values = json.loads(shown.stdout)
    assert values["retention.sightings_days"] == {"value": "30", "origin": "config.toml"}
    assert values["retention.candidates_days"] == {"value": "0", "origin": "config.toml"}
    assert values["retention.pages_days"] == {"value": "365", "origin": "default"}

    env = {"VAHTI_RETENTION_PAGES_DAYS": "90"}
    assert vahti.run("status", extra_env=env).returncode == 0  # any command that opens it
    with db() as storage:
        assert ttl_of(storage) == {"pages": 90 * DAY_S, "sightings": 30 * DAY_S,
                                   "candidates": None}

    bad = vahti.run("db", "dump", "--out", str(tmp_path / "d"),
                    extra_env={"VAHTI_RETENTION_PAGES_DAYS": "-3"})
    assert bad.returncode == 2 and "retention.pages_days" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.slow  # over 15 s (pytest --durations)
def test_the_embedded_server_does_not_sweep(tmp_path):
    """SecantusDB's own TTL sweeper (a scan of every document under the global lock,
    once a minute) is off: an expired page outlives a sweep interval, until purged.
    An embedded server of the test's own, whatever VAHTI_TEST_MONGO_URI says."""
    settings = RetentionSettings(pages_days=1, sightings_days=1, candidates_days=1)
    with open_storage(StorageSettings(home=tmp_path)) as storage:
        assert storage.mode == "embedded"
        apply_retention(storage, settings)
        pages.upsert_pages(storage, [pages.PageRecord(url="http://old.example/", source="s",
                                                      content_id="a" * 32, size=1,
                                                      seen_at=now() - timedelta(days=3))])
        time.sleep(65)  # the sweeper would have run once
        assert storage.db[schema.PAGES].count_documents({}) == 1
        assert purge_expired(storage, settings)[schema.PAGES] == 1
