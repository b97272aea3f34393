"""`vahti forget --ref REF`: after enroll + scan + alerts, the person and their
sightings are gone, alerts stay as events without the ref (counts corrected),
deliveries not yet sent go out without them (or are withdrawn when nobody is
left), a rescan no longer finds them, and everyone else is untouched."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from scheduler.alerting import raise_sighting_alerts
from scheduler.channels.config import parse_channels
from scheduler.channels.message import alert_message
from storage import outbox, schema
from storage.clock import now
from storage.connection import StorageSettings, open_storage
from vahti.demo.sites.content import plant_paste_texts
from vahti.demo.synthetic import make_people, register_csv

pytestmark = pytest.mark.integration


def open_db(vahti):
    return open_storage(StorageSettings(home=vahti.home, uri=vahti.env["VAHTI_MONGO_URI"],
                                        database=vahti.env["VAHTI_MONGO_DB"]))


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
    assert report["watchlist_version"] == version + 1
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
    assert all(path.name.endswith(f"-v{version + 1}") for path in cache.iterdir()
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
