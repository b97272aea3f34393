"""`vahti forget --ref REF`: after enroll + scan + alerts, the person and their
sightings are gone, alerts stay as events without the ref (counts corrected),
deliveries not yet sent go out without them (or are withdrawn when nobody is
left), a rescan no longer finds them, and everyone else is untouched."""

from __future__ import annotations

import dataclasses
import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from bson import json_util

from tests.privacy import Written, assert_no_plaintext, everything_written
from vahti.demo.sites.content import plant_paste_texts
from vahti.demo.synthetic import make_people, register_csv
from vahti.matchers.digest import digester
from vahti.matchers.fragments import record_fingerprints
from vahti.matchers.keys import load_key_file
from vahti.matchers.readings import line_readings, other_readings, readers
from vahti.scheduler.alerting import raise_sighting_alerts
from vahti.scheduler.channels.config import parse_channels
from vahti.scheduler.channels.message import alert_message
from vahti.storage import outbox, schema
from vahti.storage.clock import now
from vahti.storage.connection import StorageSettings, open_storage

pytestmark = pytest.mark.integration


def open_db(vahti):
    return open_storage(StorageSettings(home=vahti.home, uri=vahti.env["VAHTI_MONGO_URI"],
                                        database=vahti.env["VAHTI_MONGO_DB"]))


def search(vahti, lines: list[str]) -> tuple[int, dict]:
    result = vahti.run("search", "--json", input="\n".join(lines) + "\n")
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def snapshot(storage, ref: str) -> dict:
    db = storage.db
    return {
        "watchlist": db[schema.WATCHLIST].find_one({"_id": ref}, {"_id": 0, "created": 0,
                                                                  "updated": 0}),
        "sightings": sorted((s["page_url"], s["id_type"], s["start"])
                            for s in db[schema.SIGHTINGS].find({"ref": ref})),
    }


@pytest.fixture
def scanned(vahti, tmp_path: Path):
    """30 enrolled people; two dump files scanned: one.txt holds TARGET and others,
    two.txt holds only TARGET. Alerts raised for both pages, one delivery sent."""
    people = make_people(30, seed=707)
    assert vahti.run("init").returncode == 0
    (tmp_path / "register.csv").write_text(register_csv(people), encoding="utf-8")
    assert vahti.run("enroll", str(tmp_path / "register.csv")).returncode == 0
    rng = random.Random(707)
    target, others = people[25], people[:6]
    (one,) = plant_paste_texts([target, *others], [], rng, texts=1, fragment_share=0.0)
    two = f"leaked again: {target.hetu} {target.email}\n"
    (tmp_path / "one.txt").write_text(one.text, encoding="utf-8")
    (tmp_path / "two.txt").write_text(two, encoding="utf-8")
    result = vahti.run("scan", str(tmp_path / "one.txt"), str(tmp_path / "two.txt"))
    assert result.returncode == 1, result.stderr

    channels = parse_channels({"siem": {"type": "stdout", "path": str(tmp_path / "siem.log")}})
    with open_db(vahti) as storage:
        raised = raise_sighting_alerts(storage, channels)
        assert len(raised) == 2
        by_page = {a["url"].rsplit("/", 1)[-1]: a for a in raised}
        assert target.ref in by_page["one.txt"]["refs"] and by_page["two.txt"]["refs"] == [
            target.ref]
        # the page-one delivery went out already (claimed and sent, as a delivery pass does)
        row = outbox.claim_due(storage, now(), 60, "test-owner",
                               skip=[f"{by_page['two.txt']['alert_key']}:siem"])
        assert row["alert_key"] == by_page["one.txt"]["alert_key"]
        assert outbox.mark_sent(storage, row["delivery_key"], "test-owner", now())
    return vahti, tmp_path, people, target, by_page


def test_forget_removes_the_person_and_scrubs_alerts(scanned):
    vahti, tmp_path, people, target, alerts = scanned
    one_key, two_key = alerts["one.txt"]["alert_key"], alerts["two.txt"]["alert_key"]
    with open_db(vahti) as storage:
        others_before = {p.ref: snapshot(storage, p.ref) for p in people if p.ref != target.ref}
        target_hits = Counter(s["id_type"] for s in storage.db[schema.SIGHTINGS].find(
            {"ref": target.ref, "page_url": alerts["one.txt"]["url"]}))
        n_sightings = storage.db[schema.SIGHTINGS].count_documents({"ref": target.ref})
        version = storage.meta()["watchlist_version"]
    assert n_sightings >= 3

    # stdin is not a terminal: without --yes nothing happens
    refused = vahti.run("forget", "--ref", target.ref)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    with open_db(vahti) as storage:
        assert storage.db[schema.WATCHLIST].count_documents({"_id": target.ref}) == 1

    result = vahti.run("forget", "--ref", target.ref, "--yes", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ref"] == target.ref and report["watchlist"] == 1
    assert report["sightings"] == n_sightings
    assert (report["alerts_scrubbed"], report["alerts_emptied"]) == (2, 1)
    # page one's delivery was sent (named the ref, cannot be recalled); page two's
    # alert is about nobody else now: its pending delivery is withdrawn
    assert report["deliveries_sent"] == {"siem": 1}
    assert (report["deliveries_withdrawn"], report["deliveries_pending"]) == (1, 0)
    # moved on: the delete was an open write (the version bumped as it opened and closed)
    assert report["watchlist_version"] == version + 2
    assert report["cached_indexes_dropped"] >= 1

    with open_db(vahti) as storage:
        db = storage.db
        assert db[schema.WATCHLIST].count_documents({"_id": target.ref}) == 0
        assert db[schema.SIGHTINGS].count_documents({"ref": target.ref}) == 0
        # alerts stay as events, without the ref, counts corrected and the change noted
        one = db[schema.ALERTS].find_one({"alert_key": one_key})
        before = alerts["one.txt"]
        assert one["refs"] == [r for r in before["refs"] if r != target.ref]
        assert one["persons"] == before["persons"] - 1 and one["forgotten_persons"] == 1
        assert one["counts"] == {t: n - target_hits[t] for t, n in before["counts"].items()
                                 if n - target_hits[t]}
        assert one["scrubbed"] and one["url"] == before["url"]
        two = db[schema.ALERTS].find_one({"alert_key": two_key})
        assert two["refs"] == [] and two["persons"] == 0 and two["counts"] == {}
        assert two["forgotten_persons"] == 1
        assert db[schema.OUTBOX].count_documents({"alert_key": two_key}) == 0
        assert outbox.get_row(storage, f"{one_key}:siem")["state"] == "sent"
        # no document anywhere still names the person
        for name in db.list_collection_names():
            for doc in db[name].find():
                assert target.ref not in json.dumps(doc, default=str), name
        # a message built now from the alert does not name them either
        assert target.ref not in str(alert_message(one, f"{one_key}:siem"))
        # everyone else untouched
        assert {p.ref: snapshot(storage, p.ref) for p in people
                if p.ref != target.ref} == others_before
    cache = vahti.home / "cache" / "watchlist"
    assert all(path.name.endswith(f"-v{version + 2}") for path in cache.iterdir()
               if path.is_dir())

    # a rescan no longer finds them, the others still are
    rescan = vahti.run("scan", str(tmp_path / "one.txt"), str(tmp_path / "two.txt"), "--json")
    assert rescan.returncode == 1, rescan.stderr
    refs = {json.loads(line)["ref"] for line in rescan.stdout.splitlines()}
    assert target.ref not in refs and refs == {r for r in alerts["one.txt"]["refs"]
                                               if r != target.ref}
    only_target = vahti.run("hunt", str(tmp_path / "two.txt"), "--json")
    assert only_target.returncode == 0, only_target.stderr
    assert json.loads(only_target.stdout)["found"] == []

    # forgotten now: an unknown ref
    again = vahti.run("forget", "--ref", target.ref, "--yes")
    assert again.returncode == 2 and "unknown ref" in again.stderr


def test_forget_keeps_pending_deliveries_of_alerts_with_other_people(scanned):
    vahti, _, people, _, alerts = scanned
    one = alerts["one.txt"]
    other = next(r for r in one["refs"] if r != people[25].ref)
    with open_db(vahti) as storage:  # page one's delivery back to pending, as if not sent
        storage.db[schema.OUTBOX].update_one({"alert_key": one["alert_key"]},
                                             {"$set": {"state": "pending", "sent_at": None}})
    result = vahti.run("forget", "--ref", other, "--yes", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["alerts_scrubbed"], report["alerts_emptied"]) == (1, 0)
    assert (report["deliveries_pending"], report["deliveries_withdrawn"]) == (1, 0)
    assert report["deliveries_sent"] == {}
    with open_db(vahti) as storage:
        row = outbox.get_row(storage, f"{one['alert_key']}:siem")
        assert row["state"] == "pending"  # still goes out, built from the scrubbed alert
        alert = storage.db[schema.ALERTS].find_one({"alert_key": one["alert_key"]})
        assert other not in alert["refs"] and alert["persons"] == one["persons"] - 1
        assert people[25].ref in alert["refs"]


def test_forget_unknown_ref_exits_2(vahti):
    assert vahti.run("init").returncode == 0
    result = vahti.run("forget", "--ref", "NOBODY-1", "--yes")
    assert result.returncode == 2 and "unknown ref" in result.stderr
    assert "Traceback" not in result.stderr


def _walk(value):
    """Every value inside a (decoded) document."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)
    else:
        yield value


def test_forget_removes_the_persons_keys_from_retained_candidates_and_caches(vahti, tmp_path):
    """Enroll, hunt a dump with the person, forget: no search by any of their
    identifiers, read as any type, finds anything; no keyed digest of theirs is left in
    the database (blobs unpacked) or in the caches."""
    people = make_people(80, seed=909)
    fi = readers("FI", None)
    # an identity code that is also a valid CPR number (digit check character, "-")
    target = next(p for p in people if other_readings("hetu", p.hetu, fi, "FI"))
    # a mobile number whose digits are a valid CPR number as well (04.01.(20)23)
    target = dataclasses.replace(target, phone="040 123 4567")
    others = [p for p in people if p.ref != target.ref][:4]
    assert vahti.run("init").returncode == 0
    (tmp_path / "register.csv").write_text(register_csv([target, *others]), encoding="utf-8")
    assert vahti.run("enroll", str(tmp_path / "register.csv")).returncode == 0
    (tmp_path / "register.csv").unlink()
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "leak.txt").write_text(
        f"{target.full_name};{target.hetu};{target.email};0401234567;+358 40 123 4567\n"
        f"{others[0].full_name};{others[0].hetu};{others[0].email}\n"
        f"{target.notes[0]}\n", encoding="utf-8")
    hunted = vahti.run("hunt", str(dump), "--json")
    assert hunted.returncode == 1, hunted.stderr
    (dump / "leak.txt").unlink()
    with open_db(vahti) as storage:
        channels = parse_channels({"siem": {"type": "stdout",
                                            "path": str(tmp_path / "siem.log")}})
        assert raise_sighting_alerts(storage, channels)

    # every spelling of every identifier of theirs, as an analyst would search it
    lines = [target.hetu, target.hetu.replace("-", ""), target.email, "040 123 4567",
             "0401234567", "+358401234567", "00358401234567"]
    code, before = search(vahti, lines)
    assert code == 1 and all(a["seen"] for a in before["answers"] if a["types"] != ["cpr"])
    readings = {r["type"] for a in before["answers"] for r in a["readings"]}
    assert readings == {"hetu", "cpr", "email", "phone"}

    result = vahti.run("forget", "--ref", target.ref, "--yes", "--json")
    assert result.returncode == 0, result.stderr
    code, after = search(vahti, lines)
    for answer in after["answers"]:
        assert answer["enrolled"] == [] and not answer["seen"], answer
        assert all(not r["seen"] and not r["enrolled"] for r in answer["readings"])
    assert code == 0
    report = json.loads(result.stdout)
    # hetu, its CPR reading, e-mail, phone, its CPR reading, and the note's fingerprints
    assert report["retained_documents"] >= 4 and report["retained_keys"] >= 10
    assert report["readings_known"] is True
    stays = " ".join(report["stays"])
    for said in ("until compaction", "oplog", "backups", "delivered", "[hetu:...]",
                 "other machines"):
        assert said in stays, said
    # the others are still there
    code, still = search(vahti, [others[0].hetu])
    assert code == 1 and still["answers"][0]["retained_total"] == 1

    # compute the person's keys with the key, as an adversary holding it would
    key = load_key_file(vahti.home / "key")
    dig = digester(key)
    digests: set[bytes] = set()
    for line in lines:
        for id_type, canonical in line_readings(line, fi).items():
            digests.add(dig.digest(id_type, canonical))
    assert len(digests) >= 5
    prefixes = {d[:8] for d in digests}
    u64s = {int.from_bytes(p, "little") for p in prefixes}
    fingerprints = {int(k) for k in record_fingerprints(key, target.notes[0])}
    assert len(fingerprints) >= 5
    written = everything_written(vahti, tmp_path / "out")
    docs = 0
    for item in written:
        if item.where.endswith(".jsonl"):
            for text in item.data.decode().splitlines():
                doc = json_util.loads(text)
                docs += 1
                for value in _walk(doc):
                    if isinstance(value, bytes):
                        assert value not in digests and value[:8] not in prefixes, item.where
                if item.where.endswith("candidates.jsonl") and doc["n"]:
                    blob = set(np.frombuffer(doc["keys"], dtype="<u8").tolist())
                    assert not blob & u64s, f"a key of the person in {doc['t']} candidates"
                    if doc["t"] == "fragment":
                        assert not blob & fingerprints, "the note's fingerprints retained"
        for d in digests:
            for form in (d.hex(), d[:8].hex(), str(int.from_bytes(d[:8], "little"))):
                assert form.encode() not in item.data, item.where
        if "/cache/" in item.where:
            for p in prefixes:
                assert p not in item.data, f"a key of the person in {item.where}"
    assert docs > 10
    assert any("/cache/candidates/" in w.where for w in written)
    assert_no_plaintext(written + [Written("forget output", result.stdout.encode())],
                        [target.hetu, target.email, "0401234567", target.notes[0][:60]])


def test_forget_says_what_stays_and_that_the_server_cannot_compact(scanned):
    vahti, _, people, target, _ = scanned
    result = vahti.run("forget", "--ref", target.ref, "--yes", "--compact")
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())  # the table wraps at the terminal's width
    assert "What stays" in said and "until compaction" in said
    assert "has no compact command" in said
    assert "re-enrolment finds them only in pages seen from then on" in said
