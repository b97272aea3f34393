"""The worker processes of a parallel scan (`matchers.workers`, `scan_files` with jobs > 1):
results in task order, a bounded read-ahead, a worker's exception (or death) raised in the
parent, and workers that end when the scan ends early: closed, Ctrl-C or an exception."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.index import synthetic_index
from vahti.demo import synthetic
from vahti.matchers import scanfiles as sf
from vahti.matchers import workers
from vahti.matchers.engine import Finding, Scanned, Skipped
from vahti.matchers.keys import Key

REPO = Path(__file__).resolve().parents[2]
KEY = Key(bytes(range(32)))
PEOPLE = synthetic.make_people(20, seed=5)
INDEX = synthetic_index(KEY, PEOPLE)


@pytest.fixture(autouse=True)
def workers_always_start(monkeypatch):
    """These tests are about the workers: every scan with jobs > 1 here starts them (the
    gate that keeps a fast scan in process is tested in test_scan_gate.py)."""
    monkeypatch.setattr(sf, "_gate", lambda tasks, jobs, total: ([], tasks, True))


def _late_square(x: int) -> int:
    time.sleep(0.02 if x % 3 == 0 else 0.0)  # early tasks finish after later ones
    return x * x


def _fail_at_5(x: int) -> int:
    if x == 5:
        raise ValueError(f"task {x} failed")
    return x


SCANNED = "secret scanned text"


PARENT = os.getpid()


def _fail_at_5_in_parent(x: int) -> int:
    if os.getpid() != PARENT:
        time.sleep(0.05)  # the parent runs most tasks, task 5 among them
    return _fail_at_5(x)


def _unicode_error(x: int) -> int:
    if x == 2:
        (SCANNED.encode() + bytes([0xff])).decode("ascii")  # the error quotes the bytes
    return x


def _die_at_3(x: int) -> int:
    if x == 3:
        os._exit(7)
    return x


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("local", [False, True])
@pytest.mark.parametrize("jobs", [2, 3])
def test_results_come_in_task_order(jobs, local):
    got = list(workers.ordered_map(_late_square, range(40), jobs, local=local))
    assert got == [x * x for x in range(40)]


def _echo(data: bytes) -> bytes:
    return data


@pytest.mark.parametrize("local", [False, True])
def test_tasks_and_results_bigger_than_a_pipe(local):
    """An archive's member is a task of its bytes, and a dense dump's result is big: the
    parent never blocks writing a task while the worker is blocked writing a result."""
    tasks = [bytes([i]) * (3 << 20) for i in range(8)]
    assert list(workers.ordered_map(_echo, tasks, 3, local=local)) == tasks


def _noted(taken: list[int], n: int) -> Iterator[int]:
    """range(n), noting in `taken` the tasks read."""
    for x in range(n):
        taken.append(x)
        yield x


@pytest.mark.parametrize("local", [False, True])
def test_tasks_are_read_ahead_only_a_window(local):
    taken: list[int] = []
    for n, _ in enumerate(workers.ordered_map(_late_square, _noted(taken, 60), 2, window=5,
                                              local=local)):
        # the window, and the tasks waiting for room in it (two, for the parent's turn)
        assert len(taken) - n <= 5 + 1 + local
        time.sleep(0.002)
    assert len(taken) == 60


def test_a_worker_exception_is_raised_in_order_with_its_frames():
    got = []
    with pytest.raises(ValueError, match="task 5 failed") as info:
        for x in workers.ordered_map(_fail_at_5, range(20), 2):  # workers only
            got.append(x)
    assert got == [0, 1, 2, 3, 4]  # everything before it, nothing after
    assert isinstance(info.value.__cause__, workers.RemoteTraceback)
    assert "_fail_at_5" in str(info.value.__cause__)
    assert "task 5 failed" not in str(info.value.__cause__)  # frames, not the message


def test_an_exception_in_the_parent_is_raised_in_order_too():
    got = []
    with pytest.raises(ValueError, match="task 5 failed"):
        for x in workers.ordered_map(_fail_at_5_in_parent, range(20), 2, local=True):
            got.append(x)
    assert got == [0, 1, 2, 3, 4]


def test_an_exception_carrying_scanned_bytes_does_not_bring_them():
    with pytest.raises(RuntimeError) as info:
        list(workers.ordered_map(_unicode_error, range(6), 2))
    assert "UnicodeDecodeError" in str(info.value)
    seen = repr(info.value.args) + str(info.value.__cause__) + repr(info.value.__dict__)
    assert SCANNED not in seen


def test_a_dead_worker_is_an_error_not_a_hang():
    # in a child with a timeout: a broken pool would wait for the dead worker forever
    code = textwrap.dedent("""
        from tests.unit.test_scan_workers import _die_at_3
        from vahti.matchers import workers
        try:
            list(workers.ordered_map(_die_at_3, range(10), 2))
        except RuntimeError as e:
            print("raised:", e)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert "raised: a scan worker ended unexpectedly (exit code 7)" in out.stdout, out.stderr


def _dump(tmp_path: Path, files: int, lines: int = 3000) -> list[str]:
    rng = synthetic.random.Random(3)
    paths = []
    for i in range(files):
        rows = []
        for j in range(lines):
            rows.append(synthetic.noise_line(rng))
            if j % 5 == 0:
                p = PEOPLE[rng.randrange(len(PEOPLE))]
                rows.append(f"{p.full_name};{p.hetu};{p.email}")
        path = tmp_path / f"dump{i}.csv"
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        paths.append(str(path))
    return paths


def _slow_after_first(task):  # scanfiles._scan_task, slow in a worker but the first task
    if os.getpid() != PARENT and (getattr(task, "lo", 0) > 0 or getattr(task, "file_id", 0)):
        time.sleep(30)
    return _SCAN_TASK(task)


_SCAN_TASK = sf._scan_task


def test_closing_the_scan_early_ends_the_workers_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(sf, "RANGE_BYTES", 16 << 10)
    paths = _dump(tmp_path, 2)
    monkeypatch.setattr(sf, "_scan_task", _slow_after_first)  # before the fork
    events = sf.scan_files(paths, INDEX, KEY, jobs=2)
    first = next(events)
    assert isinstance(first, Finding)
    pids = [p.pid for p in mp.active_children()]
    assert len(pids) == 1 and all(map(_alive, pids))  # and the parent: jobs=2
    t0 = time.monotonic()
    events.close()  # the consumer stopped: the worker is in a 30 s task
    assert time.monotonic() - t0 < 3
    assert not any(map(_alive, pids))  # ended and reaped, no zombie left
    assert not mp.active_children()


def test_a_scan_worker_exception_reaches_the_parent(tmp_path, monkeypatch):
    monkeypatch.setattr(sf, "RANGE_BYTES", 16 << 10)
    paths = _dump(tmp_path, 2)

    def fail_second_file(task):
        if getattr(task, "file_id", 0) == 1:
            raise OSError("cannot read")
        return _SCAN_TASK(task)

    monkeypatch.setattr(sf, "_scan_task", fail_second_file)
    got = []
    with pytest.raises(OSError, match="cannot read"):
        for e in sf.scan_files(paths, INDEX, KEY, jobs=2):
            got.append(e)
    assert isinstance(got[-1], Scanned) and got[-1].location == paths[0]  # first file done
    assert not mp.active_children()


def test_ctrl_c_ends_the_scan_and_its_workers(tmp_path):
    """SIGINT to the whole process group, as a terminal sends it: the parent stops with
    KeyboardInterrupt, the workers (which ignore it) are ended, nothing is left."""
    paths = _dump(tmp_path, 2)
    code = textwrap.dedent(f"""
        import multiprocessing as mp, signal, sys
        # Ctrl-C raises, as in a terminal's foreground job, even when this test runs where
        # SIGINT is ignored (a suite started with `&` by a shell without job control).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from tests.unit import test_scan_workers as t
        from vahti.matchers import scanfiles as sf
        sf.RANGE_BYTES = 16 << 10
        sf._scan_task = t._slow_after_first
        sf._gate = lambda tasks, jobs, total: ([], tasks, True)  # workers, however slow
        events = sf.scan_files({paths!r}, t.INDEX, t.KEY, jobs=2)
        next(events)
        print(" ".join(str(p.pid) for p in mp.active_children()), flush=True)
        for _ in events:
            pass
    """)
    child = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    pids = [int(p) for p in child.stdout.readline().split()]
    assert len(pids) == 1
    os.killpg(child.pid, signal.SIGINT)
    t0 = time.monotonic()
    _, err = child.communicate(timeout=20)
    assert time.monotonic() - t0 < 4
    assert child.returncode != 0
    assert err.count("KeyboardInterrupt") == 1, err  # the parent's; no worker's traceback
    time.sleep(0.2)
    assert not any(map(_alive, pids))


def test_an_interrupt_in_the_parent_ends_the_workers(tmp_path, monkeypatch):
    """Ctrl-C while the parent runs the consumer's code (here `progress`): the workers end
    at once, even while the traceback keeps the scan's frames alive."""
    monkeypatch.setattr(sf, "RANGE_BYTES", 16 << 10)
    paths = _dump(tmp_path, 2)
    monkeypatch.setattr(sf, "_scan_task", _slow_after_first)
    pids: list[int] = []

    def interrupt(n: int) -> None:
        pids.extend(p.pid for p in mp.active_children())
        raise KeyboardInterrupt

    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt) as info:
        list(sf.scan_files(paths, INDEX, KEY, jobs=2, progress=interrupt))
    assert time.monotonic() - t0 < 3
    assert info.traceback  # kept: the generators' frames are still referenced
    assert len(pids) == 1 and not any(map(_alive, pids))


def _running(pid: int) -> bool:
    """Whether `pid` runs (a zombie has ended: its parent, here gone, did not reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


_CHILD = """
import multiprocessing as mp, sys, time
from tests.unit import test_scan_workers as t
from vahti.matchers import scanfiles as sf
sf.RANGE_BYTES = 16 << 10
sf._gate = lambda tasks, jobs, total: ([], tasks, True)  # workers, whatever the speed
events = sf.scan_files({paths!r}, t.INDEX, t.KEY, jobs=3)
n = 1 if next(events) else 0
print(" ".join(str(p.pid) for p in mp.active_children()), flush=True)
{then}
"""


def test_workers_end_when_their_parent_is_killed(tmp_path):
    """SIGKILL leaves the parent no time to end its workers: each ends at the end of its
    task pipe, which no other process (another worker) may hold open."""
    code = _CHILD.format(paths=_dump(tmp_path, 2), then="time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, text=True,
                             stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=str(REPO)))
    pids = [int(p) for p in child.stdout.readline().split()]
    assert len(pids) == 2
    child.kill()
    child.wait()
    deadline = time.monotonic() + 10
    while any(map(_running, pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in pids if _running(pid)]
    for pid in left:  # not to leave them behind when this fails
        os.kill(pid, signal.SIGKILL)
    assert not left


def test_workers_leave_sigint_to_the_parent(tmp_path):
    """A SIGINT that reaches the workers (Ctrl-C reaches the whole process group) is the
    parent's to act on: the workers carry on, and the scan is whole."""
    paths = _dump(tmp_path, 2)
    whole = sum(1 for _ in sf.scan_files(paths, INDEX, KEY, jobs=1))
    then = "n += sum(1 for _ in events)\nprint(n)"
    code = _CHILD.format(paths=paths, then="time.sleep(0.5)\n" + then)
    child = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=dict(os.environ, PYTHONPATH=str(REPO)))
    pids = [int(p) for p in child.stdout.readline().split()]
    assert len(pids) == 2
    for pid in pids:
        os.kill(pid, signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert int(out) == whole


def test_small_files_are_scanned_without_workers(tmp_path, monkeypatch):
    paths = _dump(tmp_path, 2, lines=200)
    total = sum(os.path.getsize(p) for p in paths)
    monkeypatch.setattr(sf, "RANGE_BYTES", (total - 1) // sf.SMALL_RANGES)
    pools = []
    ordered_map = workers.ordered_map
    monkeypatch.setattr(workers, "ordered_map",
                        lambda *a, **k: pools.append(1) or ordered_map(*a, **k))
    one = list(sf.scan_files(paths[:1], INDEX, KEY, jobs=1))
    assert list(sf.scan_files(paths[:1], INDEX, KEY, jobs=2)) == one
    assert list(sf.scan_files([*paths[:1], str(tmp_path / "missing")], INDEX, KEY, jobs=2))
    assert pools == []
    assert list(sf.scan_files(paths, INDEX, KEY, jobs=2))[:len(one)] == one  # one byte more
    assert list(sf.scan_files([str(tmp_path)], INDEX, KEY, jobs=2))  # a directory
    assert pools == [1, 1]


def test_without_fork_the_scan_spawns_its_workers(tmp_path, monkeypatch):
    monkeypatch.setattr(sf, "RANGE_BYTES", 16 << 10)
    paths = _dump(tmp_path, 2, lines=1000)
    one = list(sf.scan_files(paths, INDEX, KEY, jobs=1))
    monkeypatch.setattr(workers, "available", lambda: False)
    assert list(sf.scan_files(paths, INDEX, KEY, jobs=2)) == one


def _wait_for_the_other_side(task: tuple[str, int, str]) -> bool:
    """A "small" task notes where it ran; a "big" one returns True once the other side
    (the parent for a worker's task, a worker for the parent's) has run `n` small tasks
    meanwhile, False if that does not happen in 10 s (the other side was held back)."""
    kind, n, log = task
    here = ".parent" if os.getpid() == PARENT else ".worker"
    if kind == "small":
        if here == ".worker":
            time.sleep(0.01)  # so the parent finds the worker's queue full and runs a task
        with open(log + here, "a") as fh:
            fh.write("x")
        return True
    other = log + (".worker" if here == ".parent" else ".parent")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if os.path.exists(other) and os.path.getsize(other) >= n:
            return True
        time.sleep(0.002)
    return False


def _big_weighs_20(task: tuple[str, int, str]) -> int:
    return 20 if task[0] == "big" else 1


def test_a_big_task_does_not_hold_back_the_small_ones_after_it(tmp_path):
    """A big file's fragment task, then its identifier ranges: while a worker runs the
    big one, the parent runs the small ones after it, beyond a window of a few tasks (the
    window weighs tasks: it bounds what is held, not how many tasks)."""
    log = str(tmp_path / "log")
    tasks = [("big", 30, log)] + [("small", 0, log)] * 40
    got = list(workers.ordered_map(_wait_for_the_other_side, tasks, 2, local=True,
                                   window=64, weight=_big_weighs_20))
    assert got == [True] * len(tasks)
    assert os.path.getsize(log + ".parent") >= 30


def test_before_the_parent_runs_a_big_task_it_gives_the_workers_the_next_ones(tmp_path):
    """The parent runs a task itself when every worker's queue is full; a big one would
    leave the workers idle once their few queued tasks are done, so the parent first sends
    them as much weight of the tasks after it."""
    log = str(tmp_path / "log")
    tasks = [("small", 0, log)] * 2 + [("big", 10, log)] + [("small", 0, log)] * 30
    got = list(workers.ordered_map(_wait_for_the_other_side, tasks, 2, local=True,
                                   window=64, weight=_big_weighs_20))
    assert got == [True] * len(tasks)


@pytest.mark.parametrize("local", [False, True])
def test_the_read_ahead_window_weighs_tasks(local):
    taken: list[int] = []

    def weight(x: int) -> int:
        return x % 7 + 1

    for n, _ in enumerate(workers.ordered_map(_late_square, _noted(taken, 60), 2, window=12,
                                              local=local, weight=weight)):
        # what is read and not yet yielded weighs less than the window, but for the last
        held = [weight(x) for x in taken[n:]]
        assert sum(held[:-1]) < 12
        time.sleep(0.002)
    assert len(taken) == 60


def test_scan_tasks_weigh_their_input_bytes(tmp_path, monkeypatch):
    """The read-ahead window of `scan_files` is in bytes of input: a file's fragment task
    (its whole text) weighs the file, a range its bytes, a member its data."""
    monkeypatch.setattr(sf, "RANGE_BYTES", 16 << 10)
    (path,) = _dump(tmp_path, 1)
    size = os.path.getsize(path)
    assert size > sf.MIN_WEIGHT
    split = sf._plain_file_tasks(path, 0, "apart")
    assert split is not None
    tasks, _ = split
    assert isinstance(tasks[0], sf._WholeTextTask)
    assert sf._weight(tasks[0]) == size
    assert [sf._weight(t) for t in tasks[1:]] == [
        max(sf.MIN_WEIGHT, min(size, lo + (16 << 10)) - lo) for lo in range(0, size, 16 << 10)]
    assert sf._weight(sf._MemberTask("x!y", b"z" * 100_000)) == 100_000
    assert sf._weight(Skipped("missing", "not found")) == sf.MIN_WEIGHT
    seen = []
    ordered_map = workers.ordered_map
    monkeypatch.setattr(workers, "ordered_map",
                        lambda *a, **k: seen.append(k) or ordered_map(*a, **k))
    assert list(sf.scan_files([path], INDEX, KEY, jobs=2)) == list(
        sf.scan_files([path], INDEX, KEY, jobs=1))
    assert seen[0]["weight"] is sf._weight
    assert seen[0]["window"] == 4 * sf.TASK_BYTES
