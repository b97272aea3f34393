"""Source health end to end: runs and sightings in a real database, `vahti sources check`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

import vahti.storage.runs as storage_runs
from vahti.storage import health as store
from vahti.storage.connection import StorageSettings, open_storage
from vahti.storage.runs import RunStats, finish_run, start_run
from vahti.storage.sightings import Sighting, record_sightings

pytestmark = pytest.mark.integration

H = timedelta(hours=1)
D = timedelta(days=1)


@pytest.fixture
def db(vahti, tmp_path, monkeypatch):
    """The database the `vahti` runner uses, open here, with a settable clock for runs."""
    opened = open_storage(StorageSettings(home=tmp_path, uri=vahti.env["VAHTI_MONGO_URI"],
                                          database=vahti.env["VAHTI_MONGO_DB"]))
    clock = {"now": datetime.now(UTC)}
    monkeypatch.setattr(storage_runs, "now", lambda: clock["now"])
    opened.clock = clock
    try:
        yield opened
    finally:
        opened.client.drop_database(opened.db.name)
        opened.close()


def crawl_run(db, source: str, at: datetime, state: str = "done", *, new_items: int = 0,
              new_sightings: int = 0, reason: str = "", errors: dict | None = None) -> str:
    """A crawl run written the way a crawl writes it, started at `at`."""
    db.clock["now"] = at
    run_id = start_run(db, source, "crawl")
    db.clock["now"] = at + timedelta(minutes=5)
    finish_run(db, run_id, RunStats(pages=3, bytes=3000, new_sightings=new_sightings,
                                    errors=errors or {}),
               state=state, extra={"reason": reason or ("finished" if state == "done"
                                                        else "closespider_timeout"),
                                   "new_items": new_items, "listed": 10})
    return run_id


def add_source(vahti, name: str, *args: str) -> None:
    added = vahti.run("sources", "add", name, "--kind", "paste_listing",
                      "--url", f"http://{name}.onion/lists", "--schedule", "every 6h", *args)
    assert added.returncode == 0, added.stderr


def check(vahti, **kw) -> tuple[int, dict]:
    result = vahti.run("sources", "check", "--json", **kw)
    return result.returncode, json.loads(result.stdout)


def health_of(report: dict) -> dict[str, dict]:
    return {row["name"]: row.get("health") for row in report["sources"]}


def test_check_shows_verdicts_and_exits_1_for_an_unhealthy_source(vahti, db):
    now = datetime.now(UTC)
    add_source(vahti, "healthy", "--expect-new-within", "1d")
    add_source(vahti, "broken")
    add_source(vahti, "quiet", "--expect-new-within", "1d")
    add_source(vahti, "fresh")
    for i in range(4):
        crawl_run(db, "healthy", now - (6 * i + 2) * H, new_items=2 if i == 1 else 0)
    crawl_run(db, "broken", now - 30 * H, new_items=5)
    for i in range(3):
        crawl_run(db, "broken", now - (6 * i + 1) * H, "failed",
                  errors={"http_503": 2, "timeout": 1})
    for i in range(10):
        crawl_run(db, "quiet", now - (6 * i + 1) * H, new_items=3 if i == 9 else 0)
    # a scan under a source's name is not a crawl of it
    db.clock["now"] = now - H
    start_run(db, "fresh", "scan")

    code, report = check(vahti)
    assert code == 1
    assert report["ok"] is False and report["definitions_ok"] is True
    assert report["healthy"] is False and report["health_checked"] is True
    health = health_of(report)
    assert {name: h["verdict"] for name, h in health.items()} == {
        "healthy": "ok", "broken": "failing", "quiet": "stale", "fresh": "never_run"}
    broken = health["broken"]
    assert broken["unhealthy"] and broken["failed_streak"] == 3
    assert broken["errors"] == {"http_503": 6, "timeout": 3} and broken["runs_counted"] == 4
    assert broken["reason"].startswith("3 failed runs in a row since ")
    assert broken["last_success"] and broken["last_new"] == broken["last_success"]
    quiet = health["quiet"]
    assert quiet["reason"].startswith("no new item for 2d 6h (expected within 1d); last new ")
    assert quiet["since"] == quiet["last_new"]
    assert not health["healthy"]["unhealthy"] and health["healthy"]["last_new"]
    assert health["fresh"]["reason"] == "no crawl yet" and not health["fresh"]["unhealthy"]

    # [health] fail_after: four failures in a row before a source is failing
    _, report = check(vahti, extra_env={"VAHTI_HEALTH_FAIL_AFTER": "4"})
    assert health_of(report)["broken"]["verdict"] == "ok"
    assert health_of(report)["broken"]["failed_streak"] == 3

    table = vahti.run("sources", "check")
    assert table.returncode == 1
    for words in ("failing", "stale", "never_run", "http_503 6", "1d 5h ago",
                  "broken: failing: 3 failed runs in a row since ",
                  "quiet: stale: no new item for 2d 6h", "4 sources, 2 unhealthy"):
        assert words in table.stdout, words

    # a success ends the failure; removing the stale source leaves all healthy
    crawl_run(db, "broken", now - 10 * 60 * timedelta(seconds=1), new_items=1)
    assert vahti.run("sources", "remove", "quiet").returncode == 0
    code, report = check(vahti)
    assert code == 0 and report["ok"] is True and report["healthy"] is True
    assert health_of(report)["broken"]["verdict"] == "ok"
    assert "all ok" in vahti.run("sources", "check").stdout

    # a tor failure on the last run is failing at once
    crawl_run(db, "healthy", now - 60 * timedelta(seconds=1), "failed", reason="tor_unavailable",
              errors={"tor_unavailable": 1})
    code, report = check(vahti)
    assert code == 1
    assert health_of(report)["healthy"]["verdict"] == "failing"
    assert "tor unavailable" in health_of(report)["healthy"]["reason"]

    # a disabled source is not judged
    assert vahti.run("sources", "disable", "healthy").returncode == 0
    code, report = check(vahti)
    assert code == 0 and health_of(report)["healthy"]["verdict"] == "disabled"


def test_canary_present_missing_and_grace(vahti, db, tmp_path):
    now = datetime.now(UTC)
    canary = "CANARY-pastes-1"
    # the canary is a register row like any other
    assert vahti.run("init").returncode == 0
    register = tmp_path / "register.csv"
    register.write_text(f"ref,hetu\n{canary},131052-308T\nP-1,010101A123N\n")
    enrolled = vahti.run("enroll", str(register), "--json")
    assert enrolled.returncode == 0, enrolled.stderr
    assert json.loads(enrolled.stdout)["enrolled"] == 2

    for name in ("pastes", "newcanary"):
        add_source(vahti, name, "--option", f"canary={canary}",
                   "--option", "canary_within=1d")
        for i in range(12):
            crawl_run(db, name, now - (6 * i + 1) * H, new_items=1)
    # pastes has had its canary for three days; newcanary's is noted by the first check
    assert store.canary_configured_since(db, "pastes", canary, now - 3 * D) == now - 3 * D
    # the canary seen on another source does not count for pastes
    record_sightings(db, [Sighting("http://other.onion/raw/1", "other", canary, "hetu",
                                   "identifier", 0, 11, 1.0, seen_at=now - H)])

    code, report = check(vahti)
    assert code == 1
    health = health_of(report)
    assert health["pastes"]["verdict"] == "canary_missing"
    assert health["pastes"]["canary"] == canary and health["pastes"]["canary_seen"] is None
    assert health["pastes"]["reason"].startswith("canary not seen for 2d 1")
    assert canary not in health["pastes"]["reason"]
    assert health["newcanary"]["verdict"] == "ok"
    assert "canary not yet due" in health["newcanary"]["reason"]
    # noted once: later checks keep the first time
    noted = store.canary_configured_since(db, "newcanary", canary, now + D)
    assert now - H < noted <= datetime.now(UTC)

    # the canary is seen on pastes: healthy again
    seen_at = (now - 2 * H).replace(microsecond=0)
    record_sightings(db, [Sighting("http://pastes.onion/raw/abc", "pastes", canary, "hetu",
                                   "identifier", 0, 11, 1.0, seen_at=seen_at)])
    code, report = check(vahti)
    assert code == 0, report
    health = health_of(report)
    assert health["pastes"]["verdict"] == "ok"
    assert datetime.fromisoformat(health["pastes"]["canary_seen"]) == seen_at
    assert "canary last seen" in health["pastes"]["reason"]

    # a changed canary starts its own grace
    add = vahti.run("sources", "add", "pastes", "--replace", "--kind", "paste_listing",
                    "--url", "http://pastes.onion/lists", "--option", "canary=CANARY-pastes-2",
                    "--option", "canary_within=1d")
    assert add.returncode == 0, add.stderr
    code, report = check(vahti)
    assert code == 0 and health_of(report)["pastes"]["canary_seen"] is None


def test_without_a_database_check_reports_definitions_and_warns(vahti):
    add_source(vahti, "pastes", "--expect-new-within", "1d")
    env = {"VAHTI_MONGO_URI": "mongodb://127.0.0.1:9/", "VAHTI_STORAGE_CONNECT_TIMEOUT_S": "1"}
    result = vahti.run("sources", "check", "--json", extra_env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["health_checked"] is False and report["ok"] is True
    assert "health" not in report["sources"][0]
    assert "source health not checked" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    table = vahti.run("sources", "check", extra_env=env)
    assert table.returncode == 0 and "pastes" in table.stdout
    assert "last run" not in table.stdout

    # a bad definition still fails the check
    path = vahti.home / "sources.toml"
    path.write_text(path.read_text() + '\n[sources.typo]\nkind = "url"\nurl = "https://b/"\n')
    assert vahti.run("sources", "check", extra_env=env).returncode == 1


def test_raise_health_alerts_once_per_problem(storage, monkeypatch):
    from types import SimpleNamespace

    from vahti.scheduler.health import raise_health_alerts
    from vahti.spiders.sources import Source

    now = datetime.now(UTC).replace(microsecond=0)  # stored times keep milliseconds
    storage.clock = {"now": now}
    monkeypatch.setattr(storage_runs, "now", lambda: storage.clock["now"])
    sources = [Source(name, "url", (f"http://{name}.onion/",)) for name in ("good", "bad")]
    for name in ("good", "bad"):
        crawl_run(storage, name, now - 9 * H, new_items=1)
    for i in range(3):
        crawl_run(storage, "bad", now - (3 - i) * H, "failed", reason="login_failed")
    cfg = SimpleNamespace(tables={})
    first = raise_health_alerts(storage, cfg, sources, now)
    assert [(h.source, h.verdict, raised) for h, raised in first] == [("bad", "failing", True)]
    assert first[0][0].since == now - 3 * H
    again = raise_health_alerts(storage, cfg, {s.name: s for s in sources}, now + H)
    assert [(h.source, raised) for h, raised in again] == [("bad", False)]
    alert = storage.db["alerts"].find_one({"kind": "health"}, {"_id": 0})
    assert alert["source"] == "bad" and alert["problem"] == "failing"
    assert alert["details"]["failed_streak"] == 3
    assert storage.db["alerts"].count_documents({}) == 1
