"""The cached watchlist index is never taken for a different watchlist.

An enrolment killed half-way, an enrolment running now, another home or host
writing the same database, a second database at the same version number and a
write that bypassed vahti: in each, what a scan matches is what the database holds.
The embedded server, which only vahti writes, is not counted for it (its count reads
every document): there the state token alone decides.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
from pymongo import monitoring

from tests.conftest import REPO, VahtiRunner
from tests.privacy import assert_no_plaintext, everything_written
from vahti.demo.synthetic import make_hetu
from vahti.matchers.keys import Key
from vahti.storage import schema, watchlist
from vahti.storage.connection import StorageSettings, open_storage
from vahti.storage.forget import forget_ref
from vahti.storage.watchlist import WatchlistEntry
from vahti.watchlist_cache import cache_root, load_index

pytestmark = pytest.mark.integration

KEY = Key(bytes(range(32)))


def entry(i: int) -> WatchlistEntry:
    return WatchlistEntry(ref=f"E{i:06d}", key_id=KEY.key_id,
                          digests={"hetu": [uuid.UUID(int=i + 1).bytes]})


def entries(n: int, start: int = 0, pause: threading.Event | None = None,
            after: int = 0, fail: bool = False):
    for i in range(start, start + n):
        if i - start == after and (pause is not None or fail):
            if fail:
                raise KeyboardInterrupt  # Ctrl-C half-way through a register
            pause.wait(60)
        yield entry(i)


def test_an_interrupted_enrolment_is_never_hidden_by_the_cache(storage, tmp_path):
    storage.bind_key(KEY.key_id)
    watchlist.upsert_entries(storage, entries(10))
    assert load_index(storage, KEY, tmp_path).n_people == 10  # cached now
    with pytest.raises(KeyboardInterrupt):
        watchlist.upsert_entries(storage, entries(2500, start=10, after=2500 - 1, fail=True))
    in_db = storage.db[schema.WATCHLIST].count_documents({})
    assert in_db > 10
    assert load_index(storage, KEY, tmp_path).n_people == in_db


def test_no_cache_is_kept_from_a_watchlist_being_written(storage, tmp_path):
    storage.bind_key(KEY.key_id)
    watchlist.upsert_entries(storage, entries(10))
    load_index(storage, KEY, tmp_path)
    pause = threading.Event()
    writer = threading.Thread(target=watchlist.upsert_entries,
                              args=(storage, entries(1500, start=10, pause=pause, after=1200)))
    writer.start()
    try:
        deadline = time.monotonic() + 60
        while storage.db[schema.WATCHLIST].count_documents({}) < 1010:
            assert time.monotonic() < deadline, "the first batch was never written"
            time.sleep(0.05)
        state = watchlist.state(storage)
        assert len(state.writes) == 1 and not state.interrupted()
        assert load_index(storage, KEY, tmp_path).n_people == 1010
        assert not any(p.name.endswith(f"-v{state.version}")
                       for p in cache_root(tmp_path).iterdir())
    finally:
        pause.set()
        writer.join()
    assert not watchlist.state(storage).writes
    assert load_index(storage, KEY, tmp_path).n_people == 1510
    version = watchlist.version(storage)
    assert [p.name for p in cache_root(tmp_path).iterdir()] == [f"{KEY.key_id}-v{version}"]


class CommandNames(monitoring.CommandListener):
    """The names of the commands sent by any client while `recording` (registered once
    for the whole test process: pymongo has no way to take a listener back)."""

    def __init__(self) -> None:
        self.recording: list[str] | None = None

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.recording is not None:
            self.recording.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


COMMANDS = CommandNames()
monitoring.register(COMMANDS)


def test_the_embedded_server_is_not_counted_to_take_the_cache(tmp_path):
    """The embedded server counts a collection by reading every document (0.33-0.43 s
    for 40,000 people, in every command). Only vahti reaches it, and vahti's own writes
    change the state token: the token alone decides, and the cache is read without
    a count. A write by vahti is still seen."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    with open_storage(StorageSettings(home=home)) as storage:
        assert storage.mode == "embedded"
        storage.bind_key(KEY.key_id)
        watchlist.upsert_entries(storage, entries(30))
        assert load_index(storage, KEY, home).n_people == 30  # built, cached now
        COMMANDS.recording = sent = []
        try:
            cached = load_index(storage, KEY, home)
        finally:
            COMMANDS.recording = None
        assert cached.n_people == 30
        assert sent and not {"count", "aggregate", "collStats", "dbStats"} & set(sent), sent
        watchlist.upsert_entries(storage, entries(5, start=30))
        assert load_index(storage, KEY, home).n_people == 35


# A process that removes a person from the watchlist and is killed at once after the
# server did it (before anything else it would have done: the version's bump).
KILLED_AFTER_THE_WATCHLIST_DELETE = """
import os, sys
from pathlib import Path
from pymongo import monitoring
from vahti.storage.connection import StorageSettings, open_storage
from vahti.storage.forget import forget_ref
from vahti.storage.forget import forget_ref

class KillAfterWatchlistDelete(monitoring.CommandListener):
    deleting = None
    def started(self, event):
        if event.command_name == "delete" and event.command.get("delete") == "watchlist":
            self.deleting = event.request_id
    def succeeded(self, event):
        if event.request_id == self.deleting:
            os._exit(0)  # as kill -9 would: nothing after the delete runs
    def failed(self, event):
        pass

monitoring.register(KillAfterWatchlistDelete())
with open_storage(StorageSettings(home=Path(sys.argv[1]))) as storage:
    forget_ref(storage, sys.argv[2])
sys.exit(3)  # the delete never came
"""


def test_a_forget_killed_after_its_watchlist_delete_never_leaves_the_person_cached(
        tmp_path, caplog):
    """On the embedded server the cache is taken by the state token alone: a forget
    marks its delete as an open write, so that a forget killed before it bumped the
    version leaves the mark, and every reader builds from the database (without the
    person) until the next forget (or enroll) removes the mark."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    with open_storage(StorageSettings(home=home)) as storage:
        storage.bind_key(KEY.key_id)
        watchlist.upsert_entries(storage, entries(30))
        assert load_index(storage, KEY, home).n_people == 30  # cached now

        killed = subprocess.run([sys.executable, "-c", KILLED_AFTER_THE_WATCHLIST_DELETE,
                                 str(home), "E000007"], cwd=REPO, capture_output=True,
                                text=True, timeout=120)
        assert killed.returncode == 0, killed.stderr
        assert storage.db[schema.WATCHLIST].count_documents({}) == 29

        with caplog.at_level(logging.WARNING, logger="vahti.watchlist"):
            assert load_index(storage, KEY, home).n_people == 29  # not the cached 30
        assert "`vahti forget`" in caplog.text and "interrupted" in caplog.text
        state = watchlist.state(storage)
        assert [w.what for w in state.interrupted()] == [watchlist.FORGET]
        assert watchlist.repair_interrupted(storage, watchlist.ENROLL) == []
        assert len(watchlist.repair_interrupted(storage, watchlist.FORGET)) == 1
        assert load_index(storage, KEY, home).n_people == 29

        forget_ref(storage, "E000008")  # one that runs to its end leaves no mark
        assert not watchlist.state(storage).writes
        assert load_index(storage, KEY, home).n_people == 28


# -- the real command, killed ----------------------------------------------------------------

def register(first: int, n: int) -> tuple[str, dict[str, str]]:
    """A register without notes (quick to write and to enroll) and ref -> hetu."""
    hetus = {}
    for i in range(first, first + n):
        birth = dt.date(1940, 1, 1) + dt.timedelta(days=i % 25_000)
        hetus[f"K{i:06d}"] = make_hetu(birth, 2 + i // 25_000)
    lines = ["ref,hetu,email"] + [f"{ref},{hetu},k{ref.lower()}@example.org"
                                  for ref, hetu in hetus.items()]
    return "\n".join(lines) + "\n", hetus


def scan_for(vahti: VahtiRunner, tmp_path, hetus: list[str]) -> subprocess.CompletedProcess:
    dump = tmp_path / f"dump-{uuid.uuid4().hex[:6]}.txt"
    dump.write_text("".join(f"asiakas {h} soitti\n" for h in hetus))
    return vahti.run("scan", str(dump), "--json")


def found_refs(run: subprocess.CompletedProcess) -> set[str]:
    return {json.loads(line)["ref"] for line in run.stdout.splitlines() if line.strip()}


def settled_refs(coll, quiet: float = 1.0, limit: float = 30.0) -> set:
    """The refs in the collection once no write has landed for `quiet` seconds.

    A batch the killed process had already sent is still written by the server
    after the kill; counting before it lands would miss up to one batch.
    """
    deadline = time.monotonic() + limit
    refs = {d["_id"] for d in coll.find({}, {"_id": 1})}
    stable_since = time.monotonic()
    while time.monotonic() - stable_since < quiet:
        assert time.monotonic() < deadline, "writes kept landing after the kill"
        time.sleep(0.1)
        now = {d["_id"] for d in coll.find({}, {"_id": 1})}
        if now != refs:
            refs, stable_since = now, time.monotonic()
    return refs


@pytest.mark.slow  # over 15 s (pytest --durations)
def test_enroll_killed_half_way_then_scan_and_rerun(vahti, tmp_path):
    assert vahti.run("init").returncode == 0
    small, small_hetus = register(0, 50)
    (tmp_path / "small.csv").write_text(small)
    assert vahti.run("enroll", str(tmp_path / "small.csv")).returncode == 0
    assert found_refs(scan_for(vahti, tmp_path, [small_hetus["K000007"]])) == {"K000007"}

    total = 30_000
    big, hetus = register(0, total)
    (tmp_path / "big.csv").write_text(big)
    proc = vahti.popen("enroll", str(tmp_path / "big.csv"),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with vahti.storage() as db:
        coll = db.db[schema.WATCHLIST]
        deadline = time.monotonic() + 120
        while coll.estimated_document_count() < 50 + 1000:  # the first batch is in
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        refs_in_db = settled_refs(coll)
    assert 50 + 1000 <= len(refs_in_db) < total, "enroll finished before it could be killed"
    written_by_killed = sorted(refs_in_db - set(small_hetus))

    # the people written before the kill are matched, with a word that the list is partial
    one = written_by_killed[len(written_by_killed) // 2]
    scan = scan_for(vahti, tmp_path, [hetus[one], small_hetus["K000007"]])
    assert scan.returncode == 1, scan.stderr
    assert found_refs(scan) == {one, "K000007"}
    assert "was interrupted before it finished" in scan.stderr
    assert "run `vahti enroll` with the register again" in scan.stderr

    rerun = vahti.run("enroll", str(tmp_path / "big.csv"), "--json")
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert len(report["interrupted_repaired"]) == 1
    assert report["inserted"] == total - len(refs_in_db)
    assert report["unchanged"] == len(refs_in_db)
    human = vahti.run("enroll", str(tmp_path / "big.csv"))
    assert "repaired" not in human.stdout  # repaired once, then an ordinary rerun

    last = f"K{total - 1:06d}"
    scan = scan_for(vahti, tmp_path, [hetus[last], hetus[one]])
    assert found_refs(scan) == {last, one}
    assert "interrupted" not in scan.stderr
    stats = json.loads(vahti.run("watchlist", "stats", "--json").stdout)
    assert stats["people"] == total

    written = everything_written(vahti, tmp_path / "dump", extra=[
        ("scan and enroll output", scan.stdout + scan.stderr + rerun.stdout + rerun.stderr)])
    assert_no_plaintext(written, [hetus[one], hetus[last], small_hetus["K000007"]])


# -- other writers ----------------------------------------------------------------------------

def second_home(vahti: VahtiRunner, tmp_path) -> VahtiRunner:
    """Another home (another host, in effect) on the same database and key."""
    home = tmp_path / f"home-{uuid.uuid4().hex[:6]}"
    home.mkdir(mode=0o700)
    shutil.copy(vahti.home / "key", home / "key")
    os.chmod(home / "key", 0o600)
    return VahtiRunner(home, {**vahti.env, "VAHTI_HOME": str(home)})


def two_registers(vahti: VahtiRunner, tmp_path, second_start: int):
    """The first (K000000-19) enrolled, the second (20 people from second_start) written."""
    assert vahti.run("init").returncode == 0
    first, hetus = register(0, 20)
    second, more = register(second_start, 20)
    (tmp_path / "first.csv").write_text(first)
    (tmp_path / "second.csv").write_text(second)
    assert vahti.run("enroll", str(tmp_path / "first.csv")).returncode == 0
    return hetus, more


def test_another_home_and_a_bypassing_write_are_noticed(vahti, tmp_path):
    hetus, more = two_registers(vahti, tmp_path, 20)
    target = "K000025"
    assert scan_for(vahti, tmp_path, [more[target]]).returncode == 0  # not enrolled yet

    other = second_home(vahti, tmp_path)
    assert other.run("enroll", str(tmp_path / "second.csv")).returncode == 0
    assert found_refs(scan_for(vahti, tmp_path, [more[target]])) == {target}

    # a person removed behind vahti's back (a restore, an administrator's delete)
    with vahti.storage() as db:
        assert db.db[schema.WATCHLIST].delete_one({"_id": target}).deleted_count == 1
    scan = scan_for(vahti, tmp_path, [more[target], hetus["K000003"]])
    assert found_refs(scan) == {"K000003"}


def test_a_second_database_at_the_same_version_is_not_the_first(vahti, tmp_path):
    hetus, more = two_registers(vahti, tmp_path, 100)
    assert found_refs(scan_for(vahti, tmp_path, [hetus["K000004"]])) == {"K000004"}

    # the same home pointed at another database, enrolled the same way: the same version
    moved = VahtiRunner(vahti.home, {**vahti.env, "VAHTI_MONGO_DB": "t_" + uuid.uuid4().hex[:12]})
    assert moved.run("enroll", str(tmp_path / "second.csv")).returncode == 0
    with vahti.storage() as one, moved.storage() as two:
        assert watchlist.version(one) == watchlist.version(two)
    scan = scan_for(moved, tmp_path, [more["K000104"], hetus["K000004"]])
    assert found_refs(scan) == {"K000104"}
