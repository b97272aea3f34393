"""A file cut in ranges that cannot be read to its end (deleted, its permissions changed,
an I/O error while the scan runs) is reported as not read, with the byte where reading
failed, and the scan goes on with the next input: it used to end the whole scan with the
OSError, so every input after it went unscanned."""

from __future__ import annotations

import os

import pytest

from tests.support.index import synthetic_index
from vahti.demo import synthetic
from vahti.matchers import scanfiles as sf
from vahti.matchers.engine import Finding, FindingColumns, Scanned, ScanOptions, Skipped
from vahti.matchers.keys import Key
from vahti.matchers.skips import reason_kind, skip_reason

KEY = Key(bytes(range(32)))
PEOPLE = synthetic.make_people(20, seed=11)
INDEX = synthetic_index(KEY, PEOPLE)


def _dump(path, rows: int) -> str:
    rng = synthetic.random.Random(rows)
    lines = []
    for i in range(rows):
        p = PEOPLE[rng.randrange(len(PEOPLE))]
        lines.append(f"{i};{p.full_name};{p.hetu};{synthetic.noise_line(rng)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def inputs(tmp_path, monkeypatch):
    monkeypatch.setattr(sf, "TASK_BYTES", 64 << 10)
    monkeypatch.setattr(sf, "RANGE_BYTES", 16 << 10)
    return _dump(tmp_path / "a.csv", 3000), _dump(tmp_path / "b.csv", 300)


def _failing_from(lo: int):
    """`_run_range` as if the file had gone at byte `lo`."""
    run = sf._run_range

    def run_range(scanner, t):
        if t.path.endswith("a.csv") and t.lo >= lo:
            raise FileNotFoundError(2, "No such file or directory", t.path)
        return run(scanner, t)
    return run_range


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("types", [frozenset({"hetu"}), None])
def test_a_file_that_fails_half_way_is_reported_and_the_scan_goes_on(inputs, monkeypatch,
                                                                     jobs, types):
    a, b = inputs
    opts = ScanOptions(types=types)
    whole = list(sf.scan_files([a, b], INDEX, KEY, opts, jobs=jobs))
    cut = sf.TASK_BYTES if jobs == 1 else 2 * sf.RANGE_BYTES
    monkeypatch.setattr(sf, "_run_range", _failing_from(cut))
    got = list(sf.scan_files([a, b], INDEX, KEY, opts, jobs=jobs))
    skipped = [e for e in got if isinstance(e, Skipped)]
    assert [s.location for s in skipped] == [a]
    # the first task that failed (one job, or the rest of the file after the gate's probe,
    # cuts bigger tasks than the workers' ranges)
    at = int(skip_reason(skipped[0]).split("at byte ")[1].split(";")[0])
    assert at >= cut and at % sf.RANGE_BYTES == 0
    assert skipped[0].reason == ("read failed: No such file or directory "
                                 f"(at byte {at}; the text before it was scanned)")
    assert reason_kind(skipped[0].reason) == "read failed"
    assert "/" not in skipped[0].reason  # the system's words, not the exception's path
    # a's findings before the failure came out, and b was scanned as before
    a_found = [e for e in got if isinstance(e, Finding) and e.location == a]
    assert a_found and all(f.start < at for f in a_found)
    assert a_found == [e for e in whole if isinstance(e, Finding) and e.location == a
                       and e.start < a_found[-1].end]
    assert [e for e in got if e.location == b] == [e for e in whole if e.location == b]
    assert not any(isinstance(e, Scanned) and e.location == a for e in got)


def test_columns_too(inputs, monkeypatch):
    a, b = inputs
    monkeypatch.setattr(sf, "_run_range", _failing_from(sf.RANGE_BYTES))
    got = list(sf.scan_files([a, b], INDEX, KEY, ScanOptions(), jobs=2, columns=True))
    assert [e.location for e in got if isinstance(e, Skipped)] == [a]
    assert [e.location for e in got if isinstance(e, Scanned)] == [b]
    assert any(isinstance(e, FindingColumns) and e.location == b for e in got)


def test_a_file_deleted_while_it_is_scanned(inputs):
    a, b = inputs
    got = []
    for e in sf.scan_files([a, b], INDEX, KEY, ScanOptions(types=frozenset({"hetu"}))):
        if not got and isinstance(e, Finding):
            os.unlink(a)  # after its first range was read
        got.append(e)
    assert [e.location for e in got if isinstance(e, Skipped)] == [a]
    assert [e.location for e in got if isinstance(e, Scanned)] == [b]


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_file_gone_before_its_hash_was_read(inputs, monkeypatch, jobs):
    """Every range was scanned, but the file went before the hash thread read it: no
    content id, so it is reported as not read (its findings were shown), not raised."""
    a, b = inputs

    def gone(path, *also):
        if path.endswith("a.csv"):
            raise FileNotFoundError(2, "No such file or directory", path)
        return hash_file(path, *also)
    hash_file = sf._sha256_file
    monkeypatch.setattr(sf, "_sha256_file", gone)
    got = list(sf.scan_files([a, b], INDEX, KEY, ScanOptions(types=frozenset({"hetu"})),
                             jobs=jobs))
    assert [(e.location, e.reason) for e in got if isinstance(e, Skipped)] == [
        (a, "read failed: No such file or directory (after it was scanned, before its hash "
            "was read)")]
    assert [e.location for e in got if isinstance(e, Scanned)] == [b]


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_file_truncated_while_it_is_scanned(inputs, jobs):
    """A log truncated in place (copytruncate): the ranges past its new end read nothing.
    Without a word, the rest of the file would pass for scanned."""
    a, b = inputs
    got = []
    for e in sf.scan_files([a, b], INDEX, KEY, ScanOptions(types=frozenset({"hetu"})),
                           jobs=jobs):
        if not got and isinstance(e, Finding):
            os.truncate(a, 1000)
        got.append(e)
    skipped = [e for e in got if isinstance(e, Skipped)]
    assert [e.location for e in skipped] == [a]
    assert skipped[0].reason.startswith("read failed: the file shrank while it was scanned")
    assert [e.location for e in got if isinstance(e, Scanned)] == [b]


@pytest.mark.parametrize("types", [frozenset({"hetu"}), None])
def test_a_file_read_whole_to_judge_it_is_scanned_as_it_was_read(tmp_path, monkeypatch, types):
    """A file of at most TASK_BYTES is read whole by the parent, which judges and hashes
    it; its ranges are then scanned from those bytes (in the parent, and in a worker
    forked after they were read), not read again: what was scanned is what was hashed,
    even when the file changes meanwhile (here its digits wiped, size kept)."""
    monkeypatch.setattr(sf, "RANGE_BYTES", 16 << 10)
    a = _dump(tmp_path / "a.csv", 3000)
    opts = ScanOptions(types=types)
    before = list(sf.scan_files([a], INDEX, KEY, opts, jobs=1))
    assert sum(isinstance(e, Finding) for e in before) > 100
    cut = sf._plain_file_tasks

    def cut_then_wipe(path, file_id, plan):
        split = cut(path, file_id, plan)
        with open(path, "r+b") as fh:
            data = fh.read()
            fh.seek(0)
            fh.write(bytes(b"x"[0] if 48 <= c <= 57 else c for c in data))
        return split

    monkeypatch.setattr(sf, "_plain_file_tasks", cut_then_wipe)
    gate = sf._gate

    def workers_start(tasks, jobs, total):  # after the first ranges, run in process
        done, rest, _ = gate(tasks, jobs, total)
        return done, rest, True

    monkeypatch.setattr(sf, "_gate", workers_start)
    after = list(sf.scan_files([a], INDEX, KEY, opts, jobs=2))
    assert after == before


def test_bytes_in_hand_stand_in_only_for_their_own_file(monkeypatch):
    """File ids count from 0 in every scan: the bytes in hand are taken for a task only when
    its path and size are theirs too, never another file's in its place."""
    monkeypatch.setattr(sf, "_IN_HAND", {0: ("/data/a.csv", b"0123456789")})
    assert sf._in_hand("/data/a.csv", 0, 10) == b"0123456789"
    assert sf._in_hand("/data/b.csv", 0, 10) is None  # another file, the same id
    assert sf._in_hand("/data/a.csv", 0, 11) is None  # changed size since it was read
    assert sf._in_hand("/data/a.csv", 1, 10) is None
