"""Schema 1 -> 2: a database that stored plain SHA-256s of page content is migrated, with
the key, to keyed content ids (storage/migrations.py), losslessly: pages, sightings,
candidates and alerts still link, `vahti search` still finds the retained page, and
no plain hash of any content is left in any collection. Without the key a command
refuses with one clear line; a migration interrupted half-way is resumed, never read
half-done."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest
from bson.binary import Binary
from pymongo import ASCENDING, IndexModel

from tests.integration.test_hunt import enroll
from tests.privacy import assert_no_plaintext, everything_written
from vahti.demo.synthetic import make_people
from vahti.matchers.contentid import ContentIds
from vahti.matchers.digest import digest_many, to_u64
from vahti.matchers.keys import load_key_file
from vahti.storage import migrations, schema

pytestmark = pytest.mark.integration

PEOPLE = make_people(2, seed=5150)
A, STRANGER = PEOPLE  # A enrolled; the stranger only in retained candidates
T0 = datetime(2025, 5, 5, 12, 0, tzinfo=UTC)
ONE_CODE = f"{A.hetu}\n".encode()
TEMPLATED = f"<p>No results for {STRANGER.hetu}</p>\n".encode()
MEMBER = f"hetu;nimi\n{A.hetu};x\n".encode()
STDIN = f"{A.hetu}\r\n".encode()
CONTENTS = [ONE_CODE, TEMPLATED, MEMBER, STDIN]
PAGE = "file:///dump/a.txt"
SEARCH = "http://leak.example.onion/search?q=[hetu:0123456789abcdef]"
ZIP = "file:///dump/leak.zip"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


STDIN_URL = f"stdin:{sha(STDIN)}"


def plant_v1(db, key) -> None:
    """What a schema 1 vahti wrote after scanning, hunting, retaining and alerting."""
    db[schema.META].update_one({"_id": schema.META_ID}, {"$set": {"schema_version": 1}})
    for name in (schema.PAGES, schema.CANDIDATES):  # schema 1's index
        db[name].drop_index("content_id")
        db[name].create_indexes([IndexModel([("sha256", ASCENDING)], name="sha256")])
    page = {"source": "local", "status": "ok", "first_seen": T0, "last_seen": T0,
            "watchlist_version": 1}
    db[schema.PAGES].insert_many([
        {**page, "url": PAGE, "sha256": sha(ONE_CODE), "size": len(ONE_CODE)},
        {**page, "url": SEARCH, "sha256": sha(TEMPLATED), "size": len(TEMPLATED),
         "etag": '"' + hashlib.md5(TEMPLATED).hexdigest() + '"'},  # the server's: a hash
        {**page, "url": f"{ZIP}!rows.csv", "sha256": sha(MEMBER), "size": len(MEMBER)},
        {**page, "url": f"{ZIP}!secret.txt", "sha256": "", "size": 0,
         "status": "skipped:encrypted"},
        {**page, "url": STDIN_URL, "sha256": sha(STDIN), "size": len(STDIN)},
    ])
    sighting = {"ref": A.ref, "id_type": "hetu", "kind": "identifier", "end": 11,
                "score": 1.0, "source": "local", "first_seen": T0, "last_seen": T0,
                "alerted": True}
    db[schema.SIGHTINGS].insert_many([
        {**sighting, "page_url": PAGE, "start": 0, "page_sha256": sha(ONE_CODE)},
        {**sighting, "page_url": f"{ZIP}!rows.csv", "start": 10, "page_sha256": sha(MEMBER)},
        {**sighting, "page_url": STDIN_URL, "start": 0, "page_sha256": sha(STDIN)},
    ])
    hetu_keys = {p.hetu: to_u64(digest_many(key, "hetu", [p.hetu]))[0] for p in PEOPLE}
    db[schema.CANDIDATES].insert_many([
        # written now: the candidate index that `enroll` cached reads them as new
        {"sha256": sha(content), "t": "hetu", "n": 1, "partial": False,
         "seen_at": datetime.now(UTC),
         "keys": Binary(hetu_keys[code].astype("<u8").tobytes())}
        for content, code in ((ONE_CODE, A.hetu), (TEMPLATED, STRANGER.hetu),
                              (MEMBER, A.hetu), (STDIN, A.hetu))])
    alert = {"kind": "sighting", "created": T0, "source": "local", "counts": {"hetu": 1},
             "fragment_scores": [], "persons": 1, "refs": [A.ref], "first_seen": T0}
    db[schema.ALERTS].insert_many([
        {**alert, "alert_key": "s-1", "url": PAGE, "page_sha256": sha(ONE_CODE)},
        {**alert, "alert_key": "s-2", "url": STDIN_URL, "page_sha256": sha(STDIN)},
    ])


class Crash(Exception):
    """The process dying in the middle of a migration."""


def test_a_schema_1_database_is_migrated_with_the_key_and_keeps_its_links(vahti, tmp_path,
                                                                           monkeypatch):
    enroll(vahti, tmp_path, [A])
    key = load_key_file(vahti.home / "key")
    ids = ContentIds(key)
    with vahti.storage() as st:
        plant_v1(st.db, key)
    outputs = []

    # without the key: one clear line, exit 2, nothing changed
    keyless = vahti.run("alerts", "list", extra_env={"VAHTI_KEY_FILE": str(tmp_path / "none")})
    outputs.append(("keyless", keyless.stdout + keyless.stderr))
    assert keyless.returncode == 2
    assert "needs a one-time migration with the key" in keyless.stderr
    assert "vahti status" in keyless.stderr and "Traceback" not in keyless.stderr
    assert vahti.stored("pages", {"url": PAGE})[0]["sha256"] == sha(ONE_CODE)

    # a migration that dies half-way (here: in the middle of the candidates, written
    # one document at a time) leaves schema 1 and a mix of old and new documents ...
    calls = []

    def dying(sha256_hex: str) -> str:
        if len(calls) == 5:  # alerts took 3 (one stdin URL), then 2 of 4 candidates
            raise Crash
        calls.append(sha256_hex)
        return ids.of_sha256_hex(sha256_hex)

    monkeypatch.setattr(migrations, "BATCH", 1)
    with vahti.storage() as st, pytest.raises(Crash):
        migrations.migrate(st, dying)
    with vahti.storage() as st:
        assert migrations.schema_version(st) == 1 and migrations.pending(st)
        assert st.meta()[migrations.DONE_FIELD] == [schema.ALERTS]
        fields = sorted(next(f for f in ("sha256", "content_id") if f in d)
                        for d in st.db[schema.CANDIDATES].find())
        assert fields == ["content_id", "content_id", "sha256", "sha256"]

    # ... and the next command with the key finishes it
    status = vahti.run("status", "--json")
    outputs.append(("status", status.stdout + status.stderr))
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["storage"]["schema_version"] == schema.SCHEMA_VERSION
    assert f"migrated to schema {schema.SCHEMA_VERSION}" in status.stderr
    # schema 3: every keyed document names the database's key
    assert {d.get("key_id") for c in ("pages", "sightings", "candidates", "alerts")
            for d in vahti.stored(c)} == {key.key_id}

    # every link survives, under the keyed id
    cid = {content: ids.of_bytes(content) for content in CONTENTS}
    new_stdin = f"stdin:{cid[STDIN]}"
    pages = {p["url"]: p.get("content_id") for p in vahti.stored("pages")}
    assert {p.get("etag", "") for p in vahti.stored("pages")} == {""}  # fetched anew once
    assert pages == {PAGE: cid[ONE_CODE], SEARCH: cid[TEMPLATED], f"{ZIP}!rows.csv": cid[MEMBER],
                     f"{ZIP}!secret.txt": "", new_stdin: cid[STDIN]}
    sightings = {(s["page_url"], s["page_content_id"]) for s in vahti.stored("sightings")}
    assert sightings == {(PAGE, cid[ONE_CODE]), (f"{ZIP}!rows.csv", cid[MEMBER]),
                         (new_stdin, cid[STDIN])}
    assert sorted(c["content_id"] for c in vahti.stored("candidates")) == sorted(cid.values())
    alerts = {(a["alert_key"], a["url"], a["page_content_id"]) for a in vahti.stored("alerts")}
    assert alerts == {("s-1", PAGE, cid[ONE_CODE]), ("s-2", new_stdin, cid[STDIN])}
    with vahti.storage() as st:
        for name in (schema.PAGES, schema.CANDIDATES):
            assert set(st.db[name].index_information()) >= {"content_id"}
            assert "sha256" not in st.db[name].index_information()
        assert migrations.DONE_FIELD not in st.meta()
        assert migrations.migrate(st, ids.of_sha256_hex) == {}  # done: a rerun does nothing

    # searches follow the links: A's sightings, and the stranger in a retained page
    searched = vahti.run("search", "--json", input=f"{A.hetu}\n{STRANGER.hetu}\n")
    outputs.append(("search", searched.stdout + searched.stderr))
    assert searched.returncode == 1, searched.stderr
    mine, stranger = json.loads(searched.stdout)["answers"]
    assert {(s["url"], s["page_content_id"]) for s in mine["sightings"]} == sightings
    assert [(r["url"], r["page_content_id"]) for r in stranger["retained"]] == [
        (SEARCH, cid[TEMPLATED])]

    # nothing of schema 1 is left: no old field, no plain hash of any content anywhere
    for name in schema.COLLECTION_NAMES:
        for doc in vahti.stored(name):
            assert not {"sha256", "page_sha256"} & set(doc), name
    written = everything_written(vahti, tmp_path / "dump", extra=outputs)
    assert_no_plaintext(written, [p.hetu for p in PEOPLE], contents=CONTENTS)


def test_schema_2_gets_the_key_id_on_every_keyed_document_without_the_key(vahti, tmp_path):
    """2 -> 3 (key rotation): every keyed document names the database's key; the step
    needs no key, so a command without one runs it; health alerts hold nothing keyed."""
    enroll(vahti, tmp_path, [A])
    key_id = load_key_file(vahti.home / "key").key_id
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "a.txt").write_bytes(ONE_CODE + TEMPLATED)
    assert vahti.run("hunt", str(dump)).returncode == 1
    keyed = (schema.WATCHLIST, schema.PAGES, schema.SIGHTINGS, schema.CANDIDATES)
    with vahti.storage() as st:
        for name in keyed:
            st.db[name].update_many({}, {"$unset": {"key_id": ""}})
        st.db[schema.ALERTS].insert_many([
            {"alert_key": "s-1", "kind": "sighting", "page_content_id": "c" * 32},
            {"alert_key": "h-1", "kind": "health", "source": "x"}])
        st.db[schema.META].update_one({"_id": schema.META_ID}, {"$set": {"schema_version": 2}})

    keyless = vahti.run("db", "dump", "--out", str(tmp_path / "out"),
                        extra_env={"VAHTI_KEY_FILE": str(tmp_path / "none")})
    assert keyless.returncode == 0, keyless.stderr
    assert f"migrated to schema {schema.SCHEMA_VERSION}" in keyless.stderr
    with vahti.storage() as st:
        assert migrations.schema_version(st) == schema.SCHEMA_VERSION
        for name in keyed:
            assert st.db[name].count_documents({}) > 0
            assert {d.get("key_id") for d in st.db[name].find()} == {key_id}, name
        assert {a["alert_key"]: a.get("key_id") for a in st.db[schema.ALERTS].find()} == {
            "s-1": key_id, "h-1": None}


def test_schema_3_alerts_become_new_with_an_empty_history(vahti, tmp_path):
    """3 -> 4 (triage): every existing alert is `new`, nobody changed it yet; an alert
    that already has a state keeps it; needs no key; then triage works on them."""
    with vahti.storage() as st:
        st.db[schema.ALERTS].insert_many([
            {"alert_key": "s-old1", "kind": "sighting", "refs": ["P1"],
             "page_content_id": "c" * 32, "created": datetime(2025, 1, 2, tzinfo=UTC)},
            {"alert_key": "h-old2", "kind": "health", "source": "x",
             "created": datetime(2025, 1, 3, tzinfo=UTC)},
            {"alert_key": "s-done", "kind": "sighting", "refs": ["P2"], "state": "resolved",
             "history": [{"state": "resolved", "previous_state": "new", "by": "a",
                          "changed": datetime(2025, 1, 4, tzinfo=UTC)}],
             "created": datetime(2025, 1, 3, tzinfo=UTC)}])
        st.db[schema.META].update_one({"_id": schema.META_ID}, {"$set": {"schema_version": 3}})

    listed = vahti.run("alerts", "list", "--json",
                       extra_env={"VAHTI_KEY_FILE": str(tmp_path / "none")})
    assert listed.returncode == 0, listed.stderr
    assert "migrated to schema 4" in listed.stderr
    states = {a["alert_key"]: (a["state"], len(a["history"])) for a in json.loads(listed.stdout)}
    assert states == {"s-old1": ("new", 0), "h-old2": ("new", 0), "s-done": ("resolved", 1)}
    with vahti.storage() as st:
        assert migrations.schema_version(st) == 4
        assert "state_created" in st.db[schema.ALERTS].index_information()
        assert "ref" in st.db[schema.FALSE_POSITIVES].index_information()
        assert migrations.migrate(st, lambda h: h) == {}  # done: nothing again
    acked = vahti.run("alerts", "ack", "h-old", "--by", "anna")
    assert acked.returncode == 0, acked.stderr
    assert vahti.stored(schema.ALERTS, {"alert_key": "h-old2"})[0]["state"] == "acknowledged"
