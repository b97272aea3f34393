"""`vahti daemon` and `vahti jobs` end to end: real daemons (as subprocesses, with
their crawls as child processes) on the test MongoDB-protocol server, crawling a
loopback paste site through `direct = true` sources (Tor is not the point here).

Every daemon a test starts is stopped in a `finally` (SIGTERM, then SIGKILL by pid).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.processes import reaped
from tests.tor.crawling import Cast, assert_found_exactly
from tests.tor.sites import TestSite
from vahti import retrohunt
from vahti.demo.sites.content import Planted, plant_paste_texts
from vahti.demo.sites.paste import PasteSite
from vahti.demo.synthetic import register_csv
from vahti.spiders.sources import Source, edit_sources
from vahti.storage import leases, schema
from vahti.storage.connection import Storage, StorageSettings, open_storage
from vahti.storage.processes import alive

pytestmark = pytest.mark.integration

# a daemon that reacts quickly: commands polled twice a second, short leases
FAST = {"VAHTI_DAEMON_POLL_S": "0.5", "VAHTI_DAEMON_LEASE_S": "6",
        "VAHTI_DAEMON_STOP_GRACE_S": "10", "VAHTI_DAEMON_DELIVER_EVERY_S": "5"}


# -- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def st(vahti, tmp_path) -> Iterator[Storage]:
    """The test's database, opened once (the daemons and their crawls write it)."""
    vahti.env.update(FAST)
    storage = open_storage(StorageSettings(home=tmp_path, uri=vahti.env["VAHTI_MONGO_URI"],
                                           database=vahti.env["VAHTI_MONGO_DB"]))
    try:
        yield storage
    finally:
        storage.close()


def prepare(vahti, tmp_path: Path, cast: Cast | None = None) -> None:
    assert vahti.run("init").returncode == 0
    if cast is not None:
        register = tmp_path / "register.csv"
        register.write_text(register_csv(cast.enrolled))
        enrolled = vahti.run("enroll", str(register))
        assert enrolled.returncode == 0, enrolled.stderr
        register.unlink()


def add_source(vahti, name: str, url: str, schedule: str, kind: str = "paste_listing",
               **fields) -> None:
    """A direct source, written the way `vahti sources add` writes it (without the
    second a CLI call costs)."""
    with edit_sources(vahti.home / "sources.toml") as sources:
        sources[name] = Source(name=name, kind=kind, urls=(url,), schedule=schedule,
                               direct=True, **fields)


def wait_for(what: str, check: Callable[[], object], timeout: float,
             interval: float = 0.25) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def runs_of(st: Storage, source: str, **query) -> list[dict]:
    return list(st.db[schema.RUNS].find({"source": source, **query}).sort("started", 1))


def ended(st: Storage, source: str, **query) -> list[dict]:
    """Runs the daemon has seen end (it adds exit code, fire, trigger)."""
    return runs_of(st, source, supervised_end={"$exists": True}, **query)


def jobs_cli(vahti, *args: str) -> subprocess.CompletedProcess[str]:
    result = vahti.run("jobs", *args)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


def jobs_listed(vahti) -> dict:
    return json.loads(jobs_cli(vahti, "list", "--json").stdout)


def row(listing: dict, source: str) -> dict:
    return next(r for r in listing["jobs"] if r["source"] == source)


@contextmanager
def daemon(vahti, log: Path, extra_env: dict[str, str] | None = None, **popen
           ) -> Iterator[subprocess.Popen]:
    """A running `vahti daemon` (`popen`: more Popen arguments); always stopped (by pid)
    when the block ends."""
    saved = dict(vahti.env)
    vahti.env.update(extra_env or {})
    try:
        with log.open("ab") as out:
            proc = vahti.popen("daemon", stdout=out, stderr=subprocess.STDOUT, **popen)
    finally:
        vahti.env.clear()
        vahti.env.update(saved)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def stop(proc: subprocess.Popen, timeout: float = 30) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout)


def scanned_reference(vahti, site: PasteSite, tmp_path: Path) -> dict[str, set]:
    """What `vahti scan` finds in each paste's bytes: raw URL -> {(ref, id_type, start)}."""
    folder = tmp_path / "pastes"
    folder.mkdir()
    for pid in site.paste_ids():
        (folder / f"{pid}.txt").write_bytes(site.get_paste(pid).data)
    result = vahti.run("scan", str(folder), "--json", "--no-store")
    assert result.returncode in (0, 1), result.stderr
    expected: dict[str, set] = {site.url(f"/raw/{pid}"): set() for pid in site.paste_ids()}
    for line in result.stdout.splitlines():
        finding = json.loads(line)
        pid = Path(finding["location"]).stem
        expected[site.url(f"/raw/{pid}")].add(
            (finding["ref"], finding["id_type"], finding["start"]))
    for pid in site.paste_ids():
        (folder / f"{pid}.txt").unlink()
    return expected


def stored_sightings(st: Storage, source: str) -> dict[str, set]:
    out: dict[str, set] = {}
    for s in st.db[schema.SIGHTINGS].find({"source": source}):
        out.setdefault(s["page_url"], set()).add((s["ref"], s["id_type"], s["start"]))
    return out


def assert_each_paste_fetched_once(site: PasteSite) -> None:
    fetched = site.raw_fetches
    assert set(fetched) == set(site.paste_ids())
    assert all(n == 1 for n in fetched.values()), fetched


# -- leases against the real server --------------------------------------------------------------


def test_leases_in_the_database(storage):
    t0 = datetime.now(UTC)
    fire = t0.replace(microsecond=654321)
    a = leases.make_owner("host-a", 1)
    b = leases.make_owner("host-b", 2)
    got = leases.acquire(storage, "source:x", a, 30, fire=fire, run_id="r1", now=t0)
    assert got["owner"] == a and got["fire"] == leases.fire_key(fire)
    assert leases.acquire(storage, "source:x", b, 30, fire=fire, now=t0) is None  # held
    assert leases.acquire(storage, "source:x", b, 30, now=t0) is None  # held, also on request
    assert leases.renew(storage, "source:x", a, 30, now=t0 + timedelta(seconds=20),
                        child_pid=1234)
    assert not leases.renew(storage, "source:x", b, 30)  # not b's
    assert leases.acquire(storage, "source:x", b, 30, now=t0 + timedelta(seconds=45)) is None
    assert leases.release(storage, "source:x", a, last_state="done")
    # released: the same fire is not run again, by anyone; the next fire is
    assert leases.acquire(storage, "source:x", b, 30, fire=fire, now=t0) is None
    nxt = fire + timedelta(seconds=10)
    got = leases.acquire(storage, "source:x", b, 30, fire=nxt, now=t0)
    assert got["owner"] == b and got["last_state"] == "done"
    # b dies: its lease expires and a takes over
    later = t0 + timedelta(seconds=31)
    got = leases.acquire(storage, "source:x", a, 30, fire=nxt + timedelta(seconds=10),
                         now=later)
    assert got["owner"] == a and got["taken_over"]["owner"] == b  # b had let it expire
    assert leases.release(storage, "source:x", a)
    assert leases.acquire(storage, "source:x", b, 30, now=later)["taken_over"] is None
    assert leases.release(storage, "source:x", b)
    assert leases.acquire(storage, "source:x", a, 30, now=later)["owner"] == a
    assert not leases.renew(storage, "source:x", b, 30)
    # a dead holder on this host is broken at once (its crawl is gone too)
    broken = leases.break_abandoned(storage, "host-a", lambda pid: False)
    assert [(b["_id"], b["owner"]) for b in broken] == [("source:x", a)]
    assert leases.get(storage, "source:x")["owner"] is None
    leases.heartbeat(storage, a, 30)
    assert [d["owner"] for d in leases.live_daemons(storage)] == [a]
    leases.remove_heartbeat(storage, a)
    assert leases.live_daemons(storage) == []


# -- one daemon --------------------------------------------------------------------------------


@pytest.mark.slow  # over 15 s (pytest --durations)
def test_daemon_crawls_on_schedule_and_answers_jobs_commands(vahti, st, tmp_path):
    cast = Cast.make(seed=611)
    planted = plant_paste_texts(cast.enrolled[:10], cast.decoys, cast.rng, texts=4)
    prepare(vahti, tmp_path, cast)
    with PasteSite(seed=611) as site:
        for item in planted:
            site.add_paste(item.text)
        added = vahti.run("sources", "add", "pastes", "--kind", "paste_listing",
                          "--url", site.url("/"), "--direct", "--schedule", "every 10s")
        assert added.returncode == 0, added.stderr
        add_source(vahti, "front", site.url("/"), "every 1h", kind="url")

        # no daemon: list works from the database, commands are queued
        assert "queued" in jobs_cli(vahti, "pause", "front").stdout
        listing = jobs_listed(vahti)
        assert listing["daemons"] == []
        assert {r["source"]: r["scheduled"] for r in listing["jobs"]} == {
            "pastes": False, "front": False}

        with daemon(vahti, tmp_path / "daemon.log") as proc:
            first = wait_for("the first crawl", lambda: ended(st, "pastes", state="done"), 30)
            assert first[0]["trigger"] == "schedule" and first[0]["exit_code"] == 1
            assert_each_paste_fetched_once(site)

            later = plant_paste_texts(cast.enrolled[10:14], cast.decoys, cast.rng, texts=2)
            new_ids = {site.add_paste(item.text) for item in later}
            added_at = datetime.now(UTC)
            wait_for("the next cycle", lambda: [
                r for r in ended(st, "pastes", state="done") if r["started"] > added_at], 25)
            assert_each_paste_fetched_once(site)
            assert new_ids <= set(site.raw_fetches)
            assert_found_exactly(vahti, Planted.union(planted + later))

            listing = jobs_listed(vahti)
            assert [d["pid"] for d in listing["daemons"]] == [proc.pid]
            pastes, front = row(listing, "pastes"), row(listing, "front")
            assert pastes["scheduled"] and not pastes["paused"] and pastes["next_run"]
            assert pastes["last_run"]["state"] == "done" and pastes["schedule"] == "every 10s"
            assert front["paused"] and front["next_run"] is None  # the queued pause, applied
            assert runs_of(st, "front") == []  # paused before its first fire

            started = jobs_cli(vahti, "run", "front").stdout
            assert started.startswith("started front: run ")
            run_id = started.split()[-1]
            wait_for("the run on request", lambda: ended(st, "front", run_id=run_id,
                                                          state="done"), 20)
            assert "resumed" in jobs_cli(vahti, "resume", "front").stdout
            listing = jobs_listed(vahti)
            assert not row(listing, "front")["paused"] and row(listing, "front")["next_run"]

            assert jobs_cli(vahti, "pause", "pastes").stdout.strip() == "pastes paused"
            paused_at = datetime.now(UTC)

            # reload: a new source appears, a disabled one goes
            add_source(vahti, "more", site.url("/?page=1"), "every 2h", kind="url")
            with edit_sources(vahti.home / "sources.toml") as sources:
                sources["front"] = replace(sources["front"], enabled=False)
            reloaded = jobs_cli(vahti, "reload").stdout
            assert "added more" in reloaded and "removed front" in reloaded
            listing = jobs_listed(vahti)
            assert {r["source"] for r in listing["jobs"]} == {"pastes", "more"}
            assert row(listing, "pastes")["paused"]  # a reload keeps a pause
            wait_for("the new source's first crawl", lambda: ended(st, "more", state="done"),
                     20)
            add_source(vahti, "hup", site.url("/?page=1"), "every 2h", kind="url")
            proc.send_signal(signal.SIGHUP)  # reloads too
            wait_for("SIGHUP's reload", lambda: st.db[schema.JOBS].find_one(
                {"_id": "source:hup"}), 10)
            assert [r for r in ended(st, "pastes") if r["fire"] > paused_at] == []
            assert stop(proc) == 0
    log = (vahti.home / "logs" / "vahti.log").read_text()
    assert f"job pastes started: run {first[0]['run_id']}" in log
    assert f"job pastes ended: run {first[0]['run_id']}, state done" in log


def enroll(vahti, tmp_path: Path, people) -> dict:  # noqa: ANN001
    register = tmp_path / "register.csv"
    register.write_text(register_csv(people))
    result = vahti.run("enroll", str(register), "--json")
    register.unlink()
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def alerted_refs(st: Storage) -> list[str]:
    return [r for a in st.db[schema.ALERTS].find({"kind": "sighting"}) for r in a["refs"]]


@pytest.mark.slow  # over 15 s (pytest --durations)
def test_a_watchlist_change_re_hunts_held_pages_without_fetching_them(vahti, st, tmp_path):
    """The rescan rule: after an enrolment, pastes already crawled are not fetched again;
    the new people are found in the candidates retained from them and alerted once."""
    cast = Cast.make(seed=615, enrolled=14)
    first, newcomers = cast.enrolled[:10], cast.enrolled[10:]
    planted = plant_paste_texts(cast.enrolled, cast.decoys, cast.rng, texts=5)
    late_refs = {p.ref for p in newcomers} & Planted.union(planted).refs
    assert len(late_refs) == 4
    prepare(vahti, tmp_path)
    enroll(vahti, tmp_path, first)
    with PasteSite(seed=615) as site:
        for item in planted:
            site.add_paste(item.text)
        add_source(vahti, "pastes", site.url("/"), "every 5s")
        with daemon(vahti, tmp_path / "daemon.log") as proc:
            wait_for("the first crawl", lambda: ended(st, "pastes", state="done"), 30)
            wait_for("its alerts", lambda: alerted_refs(st), 20)
            assert not late_refs & set(alerted_refs(st))

            report = enroll(vahti, tmp_path, cast.enrolled)  # the newcomers join
            assert report["already_exposed"] == 4 and report["already_exposed_pages"] >= 1
            enrolled_at = datetime.now(UTC)
            wait_for("the newcomers' alerts",
                     lambda: late_refs <= set(alerted_refs(st)), 30)
            wait_for("a crawl after the enrolment", lambda: [
                r for r in ended(st, "pastes", state="done") if r["started"] > enrolled_at], 20)
            assert_each_paste_fetched_once(site)  # re-hunted, not re-fetched
            retro = st.db[schema.SIGHTINGS].find({"ref": {"$in": sorted(late_refs)}})
            assert {s["via"] for s in retro} == {"retro"}

            # an enrolment whose own retro-hunt never ran (its process died): the
            # daemon sees the watchlist version is ahead and re-hunts by itself
            st.db[schema.SIGHTINGS].delete_many({"via": "retro"})
            st.db[schema.META].update_one({"_id": schema.META_ID},
                                          {"$unset": {retrohunt.META_FIELD: ""}})
            wait_for("the daemon's retro-hunt", lambda: not retrohunt.due(st)
                     and st.db[schema.SIGHTINGS].count_documents({"via": "retro"}), 30)
            time.sleep(6)  # a raise pass runs over them
            refs = alerted_refs(st)
            assert len(refs) == len(set(refs))  # nobody alerted twice on a page
            assert stop(proc) == 0
        assert_each_paste_fetched_once(site)
    assert_found_exactly(vahti, Planted.union(planted))


# -- several daemons -----------------------------------------------------------------------------


def test_two_daemons_on_one_database_run_each_fire_once(vahti, st, tmp_path):
    prepare(vahti, tmp_path)
    with PasteSite(seed=612) as site:
        for i in range(5):
            site.add_paste(f"paste number {i}\n")
        add_source(vahti, "pastes", site.url("/"), "every 4s")
        add_source(vahti, "front", site.url("/"), "every 4s", kind="url")
        with daemon(vahti, tmp_path / "d1.log") as one, daemon(vahti, tmp_path / "d2.log") as two:
            wait_for("both daemons", lambda: len(leases.live_daemons(st)) == 2, 30)
            wait_for("four fires of each job", lambda: all(
                len(ended(st, name, state="done")) >= 4 for name in ("pastes", "front")), 60)
            for proc in (one, two):
                proc.send_signal(signal.SIGTERM)
            assert (one.wait(30), two.wait(30)) == (0, 0)
        assert_each_paste_fetched_once(site)
    for name in ("pastes", "front"):
        runs = runs_of(st, name)
        fires = Counter(r["fire"] for r in runs if r["trigger"] == "schedule")
        assert all(n == 1 for n in fires.values()), fires  # each scheduled fire ran once
        assert len(fires) >= 4
        assert {r["trigger"] for r in runs} <= {"schedule", "resume after daemon stop"}
        for before, after in zip(runs, runs[1:], strict=False):
            assert after["started"] >= before["finished"]  # never two at once
    log = (vahti.home / "logs" / "vahti.log").read_text()
    owners = {r["daemon"] for n in ("pastes", "front") for r in runs_of(st, n)}
    # both daemons fired; what one ran, the other skipped
    print(f"runs by {len(owners)} daemons; skipped fires: {log.count(') skipped: ')}")
    assert log.count(") skipped: ") > 0


# -- stopping, killing, time limits --------------------------------------------------------------


def test_sigterm_during_a_crawl_then_restart_resumes_it(vahti, st, tmp_path):
    cast = Cast.make(seed=613)
    planted = plant_paste_texts(cast.enrolled[:12], cast.decoys, cast.rng, texts=12)
    prepare(vahti, tmp_path, cast)
    siem = tmp_path / "alerts.jsonl"  # a stdout-type channel into a file: what a SIEM gets
    with open(vahti.home / "config.toml", "a") as fh:
        fh.write(f'\n[channels.siem]\ntype = "stdout"\npath = "{siem}"\n')
    with PasteSite(seed=613, slow_ms=600) as site:
        for item in planted:
            site.add_paste(item.text)
        add_source(vahti, "slow", site.url("/"), "every 1h", concurrency=2)
        with daemon(vahti, tmp_path / "d1.log") as proc:
            wait_for("a crawl half-way", lambda: len(site.raw_fetches) >= 3, 30, 0.05)
            assert stop(proc) == 0
        stopped = runs_of(st, "slow")
        assert [(r["state"], r["stopped_by"]) for r in stopped] == [("interrupted",
                                                                     "daemon stop")]
        assert stopped[0]["reason"] == "shutdown" and stopped[0]["new_sightings"] > 0
        fetched_before = set(site.raw_fetches)
        assert 3 <= len(fetched_before) < 12
        queued = list(st.db[schema.JOB_COMMANDS].find({"state": "queued"}))
        assert [(c["action"], c["source"]) for c in queued] == [("run", "slow")]

        with daemon(vahti, tmp_path / "d2.log") as proc:
            wait_for("the resumed crawl", lambda: ended(st, "slow", state="done"), 40)
            assert stop(proc) == 0
        assert_each_paste_fetched_once(site)  # resumed: nothing fetched twice
        resumed = runs_of(st, "slow", state="done")[0]
        assert resumed["trigger"] == "resume after daemon stop"
        assert_found_exactly(vahti, Planted.union(planted))
        assert stored_sightings(st, "slow") == {
            url: found for url, found in scanned_reference(vahti, site, tmp_path).items()
            if found}
    # no duplicate alert across the stop: one per page, each delivered once
    alerts = list(st.db[schema.ALERTS].find({"kind": "sighting"}))
    pages = [a["url"] for a in alerts]
    assert pages and len(pages) == len(set(pages))
    assert set().union(*(a["refs"] for a in alerts)) == Planted.union(planted).refs
    delivered = [json.loads(line)["alert_key"] for line in siem.read_text().splitlines()]
    assert sorted(delivered) == sorted(a["alert_key"] for a in alerts)


def test_kill_9_of_the_daemon_loses_nothing(vahti, st, tmp_path):
    cast = Cast.make(seed=614)
    planted = plant_paste_texts(cast.enrolled[:12], cast.decoys, cast.rng, texts=12)
    prepare(vahti, tmp_path, cast)
    with PasteSite(seed=614, slow_ms=600) as site:
        for item in planted:
            site.add_paste(item.text)
        add_source(vahti, "slow", site.url("/"), "every 1h", concurrency=2)
        with daemon(vahti, tmp_path / "d1.log") as proc:
            wait_for("stored sightings", lambda: st.db[schema.SIGHTINGS].count_documents({}) > 0,
                     30, 0.05)
            lease = wait_for("the crawl's pid", lambda: (st.db[schema.LEASES].find_one(
                {"_id": "source:slow", "child_pid": {"$ne": None}})), 10, 0.05)
            before = stored_sightings(st, "slow")
            proc.kill()  # SIGKILL, by pid
            proc.wait(10)
        # the kernel kills the orphaned crawl (PR_SET_PDEATHSIG): none runs unsupervised
        wait_for("the orphaned crawl to end", lambda: not alive(lease["child_pid"]), 10)
        after = stored_sightings(st, "slow")
        assert all(found <= after.get(url, set()) for url, found in before.items())

        with daemon(vahti, tmp_path / "d2.log") as proc:
            # the dead daemon's lease is broken at once and the crawl resumed
            wait_for("the resumed crawl", lambda: ended(st, "slow", state="done"), 40)
            assert stop(proc) == 0
        orphaned = runs_of(st, "slow", run_id=lease["run_id"])[0]
        assert (orphaned["state"], orphaned["reason"]) == ("killed", "its daemon died")
        assert runs_of(st, "slow", state="done")[0]["trigger"] == "resume after its daemon died"
        assert all(n <= 2 for n in site.raw_fetches.values())
        assert set(site.raw_fetches) == set(site.paste_ids())
        assert_found_exactly(vahti, Planted.union(planted))
        final = stored_sightings(st, "slow")
        assert all(found <= final[url] for url, found in before.items())
        assert final == {url: found for url, found in
                         scanned_reference(vahti, site, tmp_path).items() if found}


def test_time_limit_kills_a_hung_crawl_and_a_dead_crawl_is_recorded(vahti, st, tmp_path):
    prepare(vahti, tmp_path)
    with PasteSite(seed=615, slow_ms=30_000) as site:  # every answer takes 30 s
        site.add_paste("nothing here\n")
        add_source(vahti, "hung", site.url("/"), "every 1h", time_limit_s=2.0)
        with daemon(vahti, tmp_path / "d.log",
                    extra_env={"VAHTI_DAEMON_STOP_GRACE_S": "3"}) as proc:
            killed = wait_for("the time limit", lambda: ended(st, "hung", state="killed"), 20)
            assert killed[0]["reason"] == "time limit" and killed[0]["stopped_by"] == "time limit"
            assert (killed[0]["finished"] - killed[0]["started"]).total_seconds() < 12

            # a crawl that dies on its own is recorded too (the new limit holds at once)
            add_source(vahti, "hung", site.url("/"), "every 1h", time_limit_s=60.0)
            started = jobs_cli(vahti, "run", "hung").stdout
            run_id = started.split()[-1]
            lease = wait_for("the crawl's pid", lambda: st.db[schema.LEASES].find_one(
                {"_id": "source:hung", "run_id": run_id, "child_pid": {"$ne": None}}), 10, 0.05)
            wait_for("its run record", lambda: runs_of(st, "hung", run_id=run_id), 10, 0.05)
            listing = jobs_listed(vahti)  # the daemon answers while its crawl hangs
            assert row(listing, "hung")["running"]["run_id"] == run_id
            assert row(listing, "hung")["running"]["owner"].split(":")[1] == str(proc.pid)
            os.kill(lease["child_pid"], signal.SIGKILL)  # our daemon's child, by pid
            dead = wait_for("the dead crawl's record", lambda: ended(
                st, "hung", run_id=run_id, state="failed"), 10)
            assert dead[0]["reason"] == "crawl process killed by signal SIGKILL"
            assert dead[0]["exit_code"] == -signal.SIGKILL
            assert stop(proc) == 0


def test_crawls_run_from_a_folder_with_a_vahti_folder_and_failures_reach_the_terminal(
        vahti, st, tmp_path):
    """The daemon, started (by its console script, as a user would) in a folder that has
    a `vahti/` package of its own, still runs its crawls with the installed vahti; a
    crawl that fails prints one line on the daemon's terminal, not only in the log."""
    prepare(vahti, tmp_path)
    decoy = tmp_path / "checkout"
    (decoy / "vahti").mkdir(parents=True)
    (decoy / "vahti" / "__init__.py").write_text(
        "raise ImportError('the decoy vahti package in the working directory')\n")
    script = Path(sys.executable).parent / "vahti"
    assert script.is_file(), f"{script}: vahti is not installed in this environment"
    with TestSite() as gone:
        dead_url = gone.url("/")  # nothing listens there any more
    with PasteSite(seed=616) as site:
        site.add_paste("nothing here\n")
        add_source(vahti, "pastes", site.url("/"), "every 1h")
        add_source(vahti, "gone", dead_url, "every 1h", kind="url")
        err_path = tmp_path / "daemon.err"
        with err_path.open("wb") as err:
            proc = subprocess.Popen([str(script), "daemon"], cwd=decoy, env={**vahti.env},
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err)
        with reaped(proc):
            done = wait_for("the crawl of pastes", lambda: ended(st, "pastes"), 60)
            assert done[0]["state"] == "done", done[0]
            assert done[0]["exit_code"] == 0
            failed = wait_for("the crawl of gone", lambda: ended(st, "gone"), 60)
            assert failed[0]["state"] == "failed" and failed[0]["exit_code"] == 2
            assert stop(proc) == 0
    lines = err_path.read_text().splitlines()
    assert "Traceback" not in "\n".join(lines)
    shown = [line for line in lines if "gone" in line]
    assert len(shown) == 1, lines
    assert failed[0]["run_id"] in shown[0] and "no request succeeded" in shown[0], shown
    assert shown[0].count("crawl of gone") == 1, shown
    assert not [line for line in lines if "pastes" in line], lines
