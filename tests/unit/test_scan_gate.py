"""Whether a scan with jobs > 1 starts its workers (`scanfiles._gate`): a text scanned fast
(identifiers only, few of them) stays in process, as one job scans it, since workers would
make it slower; a slow one starts them after its first ranges. Either way, the events are
those of jobs=1, and no hash thread runs when the workers fork."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest

from tests.support.index import synthetic_index
from vahti.demo import synthetic
from vahti.matchers import scanfiles as sf
from vahti.matchers import workers
from vahti.matchers.contentid import ContentIds
from vahti.matchers.engine import Finding, Scanned, ScanOptions
from vahti.matchers.keys import Key

KEY = Key(bytes(range(32)))
PEOPLE = synthetic.make_people(20, seed=11)
INDEX = synthetic_index(KEY, PEOPLE)
HETU = ScanOptions(types=frozenset({"hetu"}))


def _sparse(tmp_path, mib: float, name: str = "paste.txt") -> str:
    """A paste of `mib` MiB: chat noise, a few people's identity codes far apart."""
    rng = synthetic.random.Random(5)
    rows, size, i = [], 0, 0
    while size < mib * (1 << 20):
        row = synthetic.noise_line(rng)
        if i % 4000 == 0:
            row += " " + PEOPLE[rng.randrange(len(PEOPLE))].hetu
        rows.append(row)
        size += len(row) + 1
        i += 1
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def pools(monkeypatch):
    """The thread names alive each time a pool of workers was forked."""
    seen: list[list[str]] = []
    pool = workers._Pool

    def recording(*args, **kwargs):
        seen.append([t.name for t in threading.enumerate()])
        return pool(*args, **kwargs)

    monkeypatch.setattr(workers, "_Pool", recording)
    return seen


def test_a_fast_scan_stays_in_process(tmp_path, pools):
    """A 2 MiB paste, identity codes only: scanned at a few ms a MB, where workers would
    add 45 ms and 1.6 ms a MB (2 cores: a sparse 20 MB paste took 1.6x as long with them)."""
    path = _sparse(tmp_path, 2)
    one = list(sf.scan_files([path], INDEX, KEY, HETU, jobs=1))
    two = list(sf.scan_files([path], INDEX, KEY, HETU, jobs=2))
    assert pools == []
    assert two == one
    assert sum(isinstance(e, Finding) for e in one) >= 5
    data = open(path, "rb").read()
    assert one[-1] == Scanned(path, len(data), ContentIds(KEY).of_bytes(data), "text", "utf-8",
                              "ok")


def _burn(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def _slow_scan_task(task):
    _burn(0.005)  # CPU time, which the gate measures
    return _SCAN_TASK(task)


_SCAN_TASK = sf._scan_task


def test_a_slow_scan_starts_its_workers_after_its_first_ranges(tmp_path, pools, monkeypatch):
    monkeypatch.setattr(sf, "RANGE_BYTES", 64 << 10)
    monkeypatch.setattr(sf, "_scan_task", _slow_scan_task)  # 5 ms a 64 KiB: 76 ms a MB
    path = _sparse(tmp_path, 2)
    ran: list[int] = []
    run = sf._run
    monkeypatch.setattr(sf, "_run", lambda task: ran.append(1) or run(task))
    one = list(sf.scan_files([path], INDEX, KEY, HETU, jobs=1))
    ran.clear()
    two = list(sf.scan_files([path], INDEX, KEY, HETU, jobs=2))
    assert len(pools) == 1
    assert two == one
    assert len(ran) >= 2  # the probe's, in process (and whatever the parent ran meanwhile)


def test_no_hash_thread_runs_when_the_workers_fork(tmp_path, pools, monkeypatch):
    """The hash of a file cut in ranges is held back while its first ranges are timed, and
    computed once the workers are forked: a thread alive at a fork is a deadlock risk in
    the child. Also for a file the parent read whole to judge."""
    monkeypatch.setattr(sf, "RANGE_BYTES", 64 << 10)
    monkeypatch.setattr(sf, "TASK_BYTES", 512 << 10)
    monkeypatch.setattr(sf, "_scan_task", _slow_scan_task)
    paths = [_sparse(tmp_path, 0.4, "a.txt"), _sparse(tmp_path, 1.5, "b.txt")]
    one = list(sf.scan_files(paths, INDEX, KEY, HETU, jobs=1))
    two = list(sf.scan_files(paths, INDEX, KEY, HETU, jobs=2))
    assert len(pools) == 1
    assert not any("sha256" in name for name in pools[0])
    assert two == one
    assert [e.content_id for e in two if isinstance(e, Scanned)] == [
        ContentIds(KEY).of_bytes(open(p, "rb").read()) for p in paths]


def test_held_hashes_are_computed_on_release(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"x" * 5000)
    task = sf._RangeTask(str(path), str(path), 0, 5000, 5000, "utf-8", "text", "utf-8", 0)
    read = sf._RangeTask(str(path), str(path), 0, 5000, 5000, "utf-8", "text", "utf-8", 1)
    hashes = sf._Hashes(ContentIds(KEY))
    hashes.hold()
    hashes.start(task)
    hashes.start(read, b"y" * 5000)
    assert not any(t.name.startswith("vahti-sha256") for t in threading.enumerate())
    hashes.release()
    try:
        assert hashes.scanned(0).content_id == ContentIds(KEY).of_bytes(b"x" * 5000)
        assert hashes.scanned(1).content_id == ContentIds(KEY).of_digest(
            hashlib.sha256(b"y" * 5000).digest())
    finally:
        hashes.close()


def test_cores_are_those_this_process_may_use():
    assert 1 <= sf._cores() <= (sf.os.cpu_count() or 1)
    if hasattr(sf.os, "sched_getaffinity"):
        assert sf._cores() == len(sf.os.sched_getaffinity(0))


def test_break_even(monkeypatch):
    monkeypatch.setattr(sf, "_cores", lambda: 2)
    mb = 1 << 20
    per_byte = sf.PARALLEL_BYTE_SECONDS
    assert sf._break_even(None, 2) == per_byte
    assert sf._break_even(20 * mb, 2) == pytest.approx(
        per_byte + sf.PARALLEL_START_SECONDS / (20 * mb))
    assert sf._break_even(2 * mb, 2) > sf._break_even(20 * mb, 2) > sf._break_even(None, 2)
    assert sf._break_even(20 * mb, 8) == sf._break_even(20 * mb, 2)  # 2 cores: 2 ways
    assert sf._break_even(0, 2) == float("inf")
    monkeypatch.setattr(sf, "_cores", lambda: 4)
    assert sf._break_even(20 * mb, 3) == pytest.approx(sf._break_even(20 * mb, 2) / 2)
    monkeypatch.setattr(sf, "_cores", lambda: 1)
    assert sf._break_even(None, 2) == float("inf")  # one core: workers never pay
    # a sparse paste (1.5 ms a MB) never pays on 2 cores; the 20 MB leak corpus (5 ms) does
    monkeypatch.setattr(sf, "_cores", lambda: 2)
    assert 1.5e-9 < sf._break_even(None, 2) < sf._break_even(20 * mb, 2) < 5e-9


def _range(path: str, lo: int, hi: int, size: int, file_id: int = 0,
           scope: str = sf.IDENTIFIERS) -> sf._RangeTask:
    return sf._RangeTask(path, path, lo, hi, size, "utf-8", "text", "utf-8", file_id, scope)


def test_the_rest_of_a_file_is_cut_as_one_job_cuts_it(monkeypatch):
    monkeypatch.setattr(sf, "TASK_BYTES", 100)
    member = sf._MemberTask("m", b"x")
    tasks = [_range("a", 0, 30, 250), _range("a", 30, 60, 250), _range("a", 60, 90, 250),
             _range("a", 90, 120, 250), _range("a", 120, 250, 250), member,
             _range("b", 0, 40, 80, 1), _range("b", 40, 80, 80, 1),
             _range("c", 0, 40, 80, 2, sf.FRAGMENTS), _range("c", 40, 80, 80, 2, sf.FRAGMENTS)]
    got = list(sf._coalesced(iter(tasks)))
    assert got == [_range("a", 0, 90, 250), _range("a", 90, 120, 250),
                   _range("a", 120, 250, 250), member, _range("b", 0, 80, 80, 1),
                   *tasks[-2:]]


def _second_range_fails(task):
    if isinstance(task, sf._RangeTask) and task.lo == sf.RANGE_BYTES:
        raise ValueError("the second range failed")
    return _SCAN_TASK(task)


def _until_error(events) -> tuple[list, str]:
    got = []
    try:
        for e in events:
            got.append(e)
    except ValueError as e:
        return got, str(e)
    return got, ""


def test_a_range_that_fails_while_timed_fails_in_its_place(tmp_path, monkeypatch):
    """The events of the ranges before it come first, as when workers run it: nothing found
    is dropped because the gate was still deciding."""
    monkeypatch.setattr(sf, "RANGE_BYTES", 64 << 10)
    monkeypatch.setattr(sf, "_scan_task", _second_range_fails)
    path = _sparse(tmp_path, 2)
    gate = sf._gate
    monkeypatch.setattr(sf, "_gate", lambda tasks, jobs, total: ([], tasks, True))
    workers_ran = _until_error(sf.scan_files([path], INDEX, KEY, HETU, jobs=2))
    monkeypatch.setattr(sf, "_gate", gate)
    monkeypatch.setattr(sf, "_break_even", lambda left, jobs: 0.0)  # still timing at the 2nd
    gated = _until_error(sf.scan_files([path], INDEX, KEY, HETU, jobs=2))
    assert workers_ran[1] == "the second range failed"
    assert gated == workers_ran
    assert any(isinstance(e, Finding) for e in gated[0])


def test_a_file_the_probe_scanned_whole_ends_without_waiting_for_the_workers(
        tmp_path, pools, monkeypatch):
    """The probe may run every range of a first file (here two) before it decides on workers;
    its `Scanned` event comes before they fork, while the hashes are still held. That file
    is hashed in place: waiting for the hash thread, which starts only at the fork, hung
    `vahti scan --jobs 2` for ever on a 600 KB dump followed by a big file."""
    monkeypatch.setattr(sf, "RANGE_BYTES", 64 << 10)
    monkeypatch.setattr(sf, "_scan_task", _slow_scan_task)
    paths = [_sparse(tmp_path, 0.1, "a.txt"), _sparse(tmp_path, 1.5, "b.txt")]
    one = list(sf.scan_files(paths, INDEX, KEY, HETU, jobs=1))
    got: list = []
    scan = threading.Thread(target=lambda: got.extend(
        sf.scan_files(paths, INDEX, KEY, HETU, jobs=2)), daemon=True)
    scan.start()
    scan.join(30)
    assert not scan.is_alive(), "the scan hung"
    assert len(pools) == 1
    assert not any("sha256" in name for name in pools[0])
    assert got == one
    assert [e.content_id for e in got if isinstance(e, Scanned)] == [
        ContentIds(KEY).of_bytes(open(p, "rb").read()) for p in paths]
