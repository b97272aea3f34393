"""Scanning files, directories and archives, in parallel over chunks.

Plain text files larger than `TASK_BYTES` are cut into byte ranges that the
worker processes read themselves (no file data crosses a pipe) and scan as
bytes (`Scanner.scan_bytes`); archives are expanded by `matchers.archives` in
the parent and each member (like each small file) is one task. Results come
back in task order, so the output is the same for any `jobs`.

A big file's encoding and kind are judged once from its head
(`matchers.decode`). UTF-8 and single-byte files are split; anything else
(UTF-16, a BOM) is one task decoded whole. A head that says binary on a file whose
bytes read as text all over (a dump behind junk) is judged as text
(`_text_behind_a_binary_head`); a head that says binary or cp1252 is judged with
`decode.SPOTS` places spread over the file, so that UTF-8 text behind it is read
as UTF-8. Offsets in findings are character
offsets in the decoded file, as for `Scanner.scan_text`: each task reports
how many characters its range decoded to, and the parent adds them up.

Identifiers are scanned in ranges of `RANGE_BYTES`, and files between
`RANGE_BYTES` and `TASK_BYTES` are cut too (judged on their whole bytes, as a
member is): a few big files then keep every worker busy to the end. The bytes
the parent read to judge such a file are kept until the file's last range is in
(`_Hashes.in_hand`): its ranges are scanned from them in the parent, and in a
worker forked after they were read, instead of being read again (what is
scanned is then what was hashed). A range read from the file takes the context
its scanner needs around it (`Scanner.context_before_bytes` and `context_after_bytes`:
a few kB for identifiers; 16 kB before and 128 kB after for fragments).
Identifier findings do not depend on where text is cut (each hit is scored
from the text around it). Fragment findings do: a chunk reports each record's
best region (`fragments.match`). So fragments are scanned apart, over the
text the file was always scanned as (the whole text of a file up to
`TASK_BYTES`, `TASK_BYTES` ranges of a bigger one), in a task ahead of the
file's identifier ranges, and the parent merges the two in the order a scan
gives; that is cheap, as fragments cost a small share of a scan. A scan
that retains candidate keys (a cap per input) keeps the `TASK_BYTES` ranges
of every type.

Every input that was read ends with a `Scanned` event after its findings
(size, keyed content id of the raw bytes, kind, encoding, status); `Skipped` is
for inputs that could not be read at all, and for a file cut in ranges that could not be
read to its end (gone, unreadable or shrunk while it was scanned: "read failed"), after
the findings of the ranges before the one that failed. The SHA-256 of a split file, which its
content id is keyed from, is computed in the parent by a thread reading the file
sequentially (or hashing the bytes in hand) while the scan runs (hashlib releases
the GIL), so it costs no scan time on a free core; the parent keys it.
`progress`, if given, is called in the parent with the number of input bytes
each finished task covered.

Workers do not always pay. A text with few identifiers is scanned, identifiers
only, faster than a scan with workers adds costs of its own: the SHA-256 that one
job hides on a second core then takes a core's share, and each range re-reads its
context and crosses a pipe. On 2 cores a sparse 20 MB paste took 1.6x as long with
two jobs as with one. So such a scan first runs its first ranges in process, timed
(`_gate`), and starts its workers only when the rest, at that rate, is worth them;
otherwise it goes on as one job would.

With workers, the tasks read ahead and not yet yielded cover less than
`(2 + jobs) * TASK_BYTES` bytes of input (`_weight`; 32 MiB with jobs=2), plus the
last task read: that bounds the findings held for order, the members' bytes and the
bytes in hand.
"""

from __future__ import annotations

import gc
import hashlib
import heapq
import multiprocessing as mp
import os
import stat
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from itertools import chain
from operator import attrgetter
from typing import BinaryIO

import numpy as np

from . import (
    archives,
    base64_blobs,
    binary_strings,
    decode,
    documents,
    fragments,
    native,
    normalize,
    workers,
)
from .contentid import ContentIds, shareable_sha256
from .engine import (
    FINDING_ORDER,
    MAX_BYTES_PER_CHAR,
    MAX_CONTEXT_BYTES,
    Finding,
    FindingColumns,
    NeedsContext,
    Scanned,
    Scanner,
    ScanOptions,
    Skipped,
    char_start,
)
from .index import WatchlistIndex
from .keys import Key

TASK_BYTES = 8 << 20
# Range size of identifier-only scans: the last range to finish keeps the other
# workers idle about half its time. Ranges of 256 KiB to 4 MiB cost the same CPU
# time as whole files on the 20 MB leak corpus (benchmarks/scan_jobs.py).
RANGE_BYTES = 512 << 10
# Inputs of at most this many ranges in all are scanned in process whatever `jobs`
# (`_small`). On 2 cores, one file with jobs=2 against jobs=1: 0.6 MB 0.58x (HETU) and
# 0.81x (all types), 1 MB 0.73x and 1.06x, 2 MB 0.81x and 1.14x.
SMALL_RANGES = 2
# Whether workers pay is judged from the CPU time of a scan's first ranges (`_gate`),
# against what a scan with workers costs beyond the scanning: CPU seconds for each byte
# (the parent's SHA-256, which one job hides on a second core; each range's re-read
# context; pickles, pipes and ordering of its findings) and once (the fork, the pages both
# sides then copy, workers starting cold). Fitted on 2 cores, HETU only, jobs=1 against
# jobs=2 (benchmarks/scan_jobs.py --sizes): the 20 MB leak corpus and a 5 MB dense dump
# (one job 5.2-5.8 ms a MB; two 0.69x at 5 MB, 1.1x at 20 MB) give 2.0 ns a byte and 45 ms;
# a sparse paste of 20 and 60 MB (one job 1.15-1.25 ms a MB; two 0.6x and 0.8x), 1.25 ns and
# 30 ms. Taken between the two: 1.6 ns and 45 ms (a sparse text falls short of any of
# them; the leak corpus, at the edge where workers gain 1.1x, stays with them).
PARALLEL_BYTE_SECONDS = 1.6e-9
PARALLEL_START_SECONDS = 0.045
PROBE_RANGES = 3
HEAD_BYTES = 64 << 10
MIN_WEIGHT = 64 << 10  # what a task weighs at least (`_weight`)
HASH_BLOCK = 1 << 20
_SPLITTABLE = {"utf-8": "utf-8", "utf-8+cp1252": "utf-8", "cp1252": "cp1252"}

Event = Finding | Scanned | Skipped
# What a task scans for: every type, or identifiers or fragments alone (module doc).
ALL, IDENTIFIERS, FRAGMENTS = "all", "identifiers", "fragments"


@dataclass(frozen=True)
class _RangeTask:
    path: str
    location: str
    lo: int
    hi: int
    size: int
    codec: str
    kind: str
    encoding: str
    file_id: int
    scope: str = ALL


@dataclass(frozen=True)
class _WholeTextTask:
    """The fragment scan of a file judged whole, whose identifiers are scanned in
    ranges: over its whole text, as the file would be scanned as a member."""

    path: str
    file_id: int
    size: int = 0  # bytes


@dataclass(frozen=True)
class _MemberTask:
    location: str
    data: bytes
    text_from: str | None = None  # data is text extracted from a document of this format


@dataclass(frozen=True)
class _Result:
    location: str
    events: list[Event]  # after `found`: the input's `Scanned` or `Skipped` event
    n_chars: int
    n_bytes: int
    file_id: int = -1  # a split file's id (see `_Hashes`), -1 otherwise
    last: bool = False  # the last range of a split file
    retained: dict | None = None  # a range's candidate keys (ScanOptions.retain)
    partial: bool = False
    # the findings, first, as columns (for the pipe, and made into objects once, in the
    # consumer's process), offsets relative to the task's first character
    found: FindingColumns | None = None
    apart: bool = False  # fragment findings of a file whose identifiers come in ranges
    failed: str | None = None  # why the task's part of a split file could not be read


Task = _RangeTask | _WholeTextTask | _MemberTask | Skipped
_SCANNERS: dict[str, Scanner] = {}  # by scope
# the scan's `_Hashes.in_hand` (in a worker: as it was when the worker forked)
_IN_HAND: dict[int, tuple[str, bytes]] = {}


def _init(index: WatchlistIndex, key: Key, options: ScanOptions, jobs: int) -> str:
    """Make the scanners of a scan with `jobs` workers; returns its plan (`_plan`)."""
    full = Scanner(index, key, options)
    _SCANNERS.clear()
    _SCANNERS[ALL] = full
    plan = _plan(full) if jobs > 1 else "kept"
    if jobs > 1:  # the workers fork with the per-process tables built
        index.prepare(full.types)
        normalize.prepare()
        if full.fingerprint:
            fragments.prepare()
    if plan == "apart":
        _SCANNERS[IDENTIFIERS] = Scanner(index, key, replace(options,
                                                             types=frozenset(full.types)))
        _SCANNERS[FRAGMENTS] = Scanner(index, key, replace(options,
                                                           types=frozenset({"fragment"})))
    return plan


def _plan(scanner: Scanner) -> str:
    """How text files are cut for workers (module doc): "ranges" (identifiers only),
    "apart" (fragments apart from identifier ranges) or "kept" (`TASK_BYTES` ranges of
    every type; also the plan of one job, which gains nothing from cuts)."""
    if scanner.retained is not None:
        return "kept"
    if not scanner.fingerprint:
        return "ranges"
    return "apart" if scanner.types else "kept"


def _forked() -> None:
    """A forked worker: the parent's scanners are already there. What it inherited lives
    as long as it does: out of the collector's way, whose full passes would otherwise
    walk (and copy, page by page) the parent's objects (3-6% of a worker's CPU on the
    20 MB leak corpus)."""
    gc.freeze()


def _run(task: Task) -> _Result:
    """Scan one task (in a worker process, or in the parent with one job)."""
    return _scan_task(task)


def _scan_task(task: Task) -> _Result:
    if isinstance(task, Skipped):
        return _Result(task.location, [task], 0, 0)
    if isinstance(task, _MemberTask):
        found, scanned = member_columns(_SCANNERS[ALL], task.location, task.data,
                                        task.text_from)
        return _Result(task.location, [scanned], 0, len(task.data), found=found)
    if isinstance(task, _WholeTextTask):
        try:
            whole = _in_hand(task.path, task.file_id, task.size)
            if whole is None:
                with open(task.path, "rb") as fh:
                    whole = fh.read()
            dec = decode.decode_bytes(whole, task.path)
        except OSError as exc:  # gone, or unreadable, since it was judged
            return _Result(task.path, [], 0, 0, task.file_id, apart=True,
                           failed=_read_failed(0, exc))
        text = dec.text or ""
        found = _SCANNERS[FRAGMENTS].scan_range_columns(text, 0, len(text), task.path,
                                                        dec.kind)
        return _Result(task.path, [], 0, 0, task.file_id, apart=True, found=found)
    scanner = _SCANNERS[task.scope]
    if scanner.retained is not None:
        scanner.retained.clear()
    apart = task.scope == FRAGMENTS
    try:
        found, n_chars = _run_range(scanner, task)
    except OSError as exc:  # the file went, or turned unreadable, while it was scanned
        return _Result(task.location, [], 0, 0 if apart else task.hi - task.lo, task.file_id,
                       task.hi >= task.size and not apart, apart=apart,
                       failed=_read_failed(task.lo, exc))
    kept = scanner.retained
    return _Result(task.location, [], n_chars, 0 if apart else task.hi - task.lo,
                   task.file_id, task.hi >= task.size and not apart,
                   kept.take() if kept is not None else None, bool(kept and kept.partial),
                   found=found, apart=apart)


def _read_failed(at: int | None, exc: OSError) -> str:
    """Why a split file was not read to its end: the system's words (not the exception's
    text, which holds the path: a file name may hold an identifier), and where."""
    why = exc.strerror or type(exc).__name__
    if at is None:
        return f"read failed: {why} (after it was scanned, before its hash was read)"
    return f"read failed: {why} (at byte {at}; the text before it was scanned)"


def scan_member(scanner: Scanner, location: str, data: bytes,
                text_from: str | None = None) -> list[Event]:
    """Findings in one in-memory input (no archive expansion), then its `Scanned` event.
    With `text_from`, `data` is UTF-8 text a document of that format was turned into
    (`matchers.documents`): it is not judged again, and its encoding says where it came from."""
    found, scanned = member_columns(scanner, location, data, text_from)
    return [*found.findings(), scanned]


def member_columns(scanner: Scanner, location: str, data: bytes,
                   text_from: str | None = None) -> tuple[FindingColumns, Scanned]:
    """`scan_member`, its findings as columns."""
    if text_from is not None:
        dec = decode.Decoded(data.decode("utf-8", "replace"), text_from, "text", None)
    else:
        dec = decode.decode_bytes(data, location)
    digest = _sha256_beside(data)  # while the text is scanned
    found = FindingColumns.empty(location)
    status = "ok"
    kept = scanner.retained
    if kept is not None:
        kept.clear()
    if dec.text is None:  # a format vahti does not read: its strings are, and it is said
        status, (strings, reason) = "binary", binary_strings.strings_read(data, dec.reason)
        if strings:
            status = "strings"
            dec = decode.Decoded(None, binary_strings.ENCODING, "binary", reason)
            found = scanner.scan_range_columns(strings, 0, len(strings), location, "text")
    elif not data:
        status = "empty"
    else:
        found = scanner.scan_range_columns(dec.text, 0, len(dec.text), location, dec.kind)
    return found, scanned_event(scanner.content_ids, location, len(data),
                                digest(), dec.kind, dec.encoding, status,
                                kept.take() if kept is not None else None,
                                bool(kept and kept.partial), dec.reason)


# An input at least this big is hashed by a thread of its own while it is scanned
# (hashlib lets go of the GIL): on a second core its SHA-256 (a tenth of a HETU scan's
# time) costs no wall time. Below it, starting the thread costs more than it saves.
SHA256_BESIDE_BYTES = 256 << 10


def _sha256_beside(data: bytes) -> Callable[[], bytes]:
    """A function returning the SHA-256 of `data`: computed by a thread started now
    when `data` is big (the function waits for it), else when called."""
    if len(data) < SHA256_BESIDE_BYTES:
        return lambda: hashlib.sha256(data).digest()
    digest: list[bytes] = []
    thread = threading.Thread(target=lambda: digest.append(hashlib.sha256(data).digest()),
                              name="vahti-sha256", daemon=True)
    thread.start()

    def result() -> bytes:
        thread.join()
        return digest[0] if digest else hashlib.sha256(data).digest()  # (a failed thread)
    return result


def scanned_event(ids: ContentIds, location: str, size: int, sha256_digest: bytes,
                  kind: str, encoding: str, status: str, retained: dict | None = None,
                  partial: bool = False, reason: str | None = None) -> Scanned:
    """The `Scanned` event of an input with this SHA-256: its content id, and the plain
    hash only where it may be shared."""
    return Scanned(location, size, ids.of_digest(sha256_digest), kind, encoding, status,
                   retained, partial, reason, shareable_sha256(size, sha256_digest))


def scan_blob(scanner: Scanner, data: bytes, location: str,
              limits: archives.ArchiveLimits = archives.DEFAULT_LIMITS) -> Iterator[Event]:
    """Every event of one downloaded response: archives expanded, members as `location!name`."""
    for member in archives.iter_members(data, location, limits):
        if member.data is None:
            yield Skipped(member.location, member.skipped_reason or "skipped")
        else:
            yield from scan_member(scanner, member.location, member.data, member.text_from)


def _run_range(scanner: Scanner, t: _RangeTask) -> tuple[FindingColumns, int]:
    """Scan the characters that start in bytes [lo, hi) of a plain file: from its bytes
    in hand when the parent read it whole (`_Hashes.in_hand`; a worker has those of the
    files in flight when it forked), else read."""
    whole = _in_hand(t.path, t.file_id, t.size)
    if whole is not None:
        return _scan_bytes_range(scanner, whole, t.lo, t.hi, t)
    try:
        return _read_range(scanner, t, scanner.context_before_bytes, scanner.context_after_bytes)
    except NeedsContext:  # text padded with what normalises to nothing (engine.MAX_CONTEXT)
        return _read_range(scanner, t, MAX_CONTEXT_BYTES,
                           max(MAX_CONTEXT_BYTES, scanner.context_after_bytes))


def _read_range(scanner: Scanner, t: _RangeTask, before: int, after: int
                ) -> tuple[FindingColumns, int]:
    """`_run_range` with up to `before` and `after` bytes of context read around it."""
    before = min(t.lo, before)
    # what the scan reads beyond hi, and a character's bytes (it ends at a character start)
    want = t.hi - t.lo + before + after + MAX_BYTES_PER_CHAR
    with open(t.path, "rb") as fh:
        fh.seek(t.lo - before)
        data = fh.read(want)
    if len(data) < t.hi - t.lo + before:  # (hi <= size) truncated since it was cut
        raise _Shrank(0, "the file shrank while it was scanned")
    return _scan_bytes_range(scanner, data, before, t.hi - t.lo + before, t,
                             t.lo > before, len(data) == want)


def _read_spots(fh: BinaryIO, size: int) -> list[bytes]:
    """The `decode.SPOTS` places spread over a big file, read where they lie."""
    spread = []
    for lo in decode.spot_offsets(size):
        fh.seek(lo)
        spread.append(fh.read(decode.SPOT_BYTES))
    return spread


def _text_behind_a_binary_head(fh: BinaryIO, size: int, spread: list[bytes]) -> bool:
    """Is a big file whose head says binary text all the same: do all its bytes read as
    text (`decode.file_text_all_over`)? Then it is cut in ranges like any text; otherwise
    it is read as a member, which says why not (and, up to the member size, judges all
    of it). (A document format's file never gets here: `_plain_file_tasks`.)

    A look at the places `spread` over the file comes first: one binary in most of them
    (a disk image, an encrypted container) is not counted whole, which for random bytes
    reads half of it before the answer is sure."""
    text_spots = sum(decode.text_all_over(spot) for spot in spread)
    return text_spots * 4 >= len(spread) * 3 and decode.file_text_all_over(fh, size)


def _in_hand(path: str, file_id: int, size: int) -> bytes | None:
    """The bytes the parent read of this file, if it has them (this scan's: the path and
    size are checked too, so that no other bytes are ever scanned in its place)."""
    path_in_hand, data = _IN_HAND.get(file_id, ("", b""))
    return data if path_in_hand == path and len(data) == size and size else None


def _scan_bytes_range(scanner: Scanner, data: bytes, lo: int, hi: int, t: _RangeTask,
                      input_before: bool = False, input_after: bool = False,
                      ) -> tuple[FindingColumns, int]:
    """Scan the characters that start in `data[lo:hi]`, the bytes [t.lo, t.hi) of a file
    (the rest of `data` is context; the file goes on before and after it as told)."""
    if t.codec == "utf-8":
        # Cut at character starts: the rest of a valid multi-byte character belongs to
        # the range before (`engine.char_start`).
        lo = char_start(data, lo, True) if t.lo else lo
        hi = char_start(data, hi, True) if t.hi < t.size else hi
    return scanner.scan_bytes_columns(data, lo, hi, t.codec, t.location, t.kind,
                                      input_before, input_after)


class _Shrank(OSError):
    """A split file shorter than it was when it was cut in ranges: what was cut off is
    not read, which must not pass unsaid."""


class _Hashes:
    """SHA-256 of whole split files, computed by a thread in the parent, and keyed; and,
    as the thread reads them, where their base64 blobs may lie (`regions`)."""

    def __init__(self, ids: ContentIds) -> None:
        self._ids = ids
        self._pool: ThreadPoolExecutor | None = None
        self._pending: dict[int, tuple[Future[_Hashed], _RangeTask]] = {}
        # the thread's work on a split file, by id, until `regions` asks for it
        self._hashing: dict[int, Future[_Hashed]] = {}
        # files to hash once released, and their bytes if the parent read them
        self._held: list[tuple[_RangeTask, bytes | None]] | None = None
        self.next_id = 0
        # the bytes of the files in flight that the parent read whole to judge (path and
        # bytes), by file id
        self.in_hand: dict[int, tuple[str, bytes]] = {}

    def start(self, task: _RangeTask, data: bytes | None = None) -> None:
        """Hash the file of `task`, or `data`, its bytes when the parent read them (up to
        TASK_BYTES), on the thread. While held (`hold`), a file is hashed once released.
        `data` is also kept in hand until the file's `scanned` (or `forget`): its ranges
        are then scanned from it in this process, without reading the file again
        (`_run_range`)."""
        if data is not None:
            self.in_hand[task.file_id] = (task.path, data)
        future: Future[_Hashed] = Future()
        if self._held is not None:
            self._held.append((task, data))
        else:
            future = self._submit(task.file_id, task.path, data)
        self._pending[task.file_id] = (future, task)

    def hold(self) -> None:
        """Start no thread until `release`: the workers are not forked yet (`_gate`)."""
        self._held = []

    def release(self) -> None:
        """Hash the files held back, on the thread: beside the first tasks."""
        held, self._held = self._held or [], None
        for task, data in held:
            self._pending[task.file_id] = (self._submit(task.file_id, task.path, data), task)

    def forget(self, file_id: int) -> None:
        """No `scanned` will come for this file (it could not be read to its end)."""
        self.in_hand.pop(file_id, None)
        self._hashing.pop(file_id, None)
        future, _ = self._pending.pop(file_id, (None, None))
        if future is not None:
            future.cancel()
        if self._held is not None:
            self._held = [(t, d) for t, d in self._held if t.file_id != file_id]

    def _hash_held(self, file_id: int) -> _Hashed:
        """The SHA-256 of a held file, computed here, in this thread: no longer held (its
        regions are not looked for: `regions` then reads the file)."""
        for i, (task, data) in enumerate(self._held or []):
            if task.file_id == file_id:
                del self._held[i]  # type: ignore[union-attr]
                return (_sha256(data) if data is not None else _sha256_file(task.path)), None
        raise KeyError(file_id)

    def _submit(self, file_id: int, path: str, data: bytes | None = None) -> Future[_Hashed]:
        """The SHA-256 of `data`, or of the file at `path`, and its blobs' regions, on the
        thread."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="vahti-sha256")
        future = self._pool.submit(_hash_and_regions, path, data)
        self._hashing[file_id] = future
        return future

    def regions(self, file_id: int) -> list[tuple[int, int]] | None:
        """Where a split file's base64 blobs may lie, found by the thread as it hashed the
        file (it is waited for); None when they were not looked for (a file held back: the
        workers have not forked, so the thread may not start), or the file could not be
        read: then read it for its blobs. Asked once per file."""
        future = self._hashing.pop(file_id, None)
        if future is None:
            return None
        try:
            return future.result()[1]
        except (OSError, CancelledError):
            return None

    def scanned(self, file_id: int) -> Scanned:
        self.in_hand.pop(file_id, None)
        future, t = self._pending.pop(file_id)
        if self._held is not None and not future.done():
            # `_gate` ran every range of this file and the workers have not forked yet: no
            # thread may start before they do, and none would ever set this future.
            future.set_result(self._hash_held(file_id))
        return scanned_event(self._ids, t.location, t.size, future.result()[0], t.kind,
                             t.encoding, "ok")

    def close(self) -> None:
        self.in_hand.clear()
        self._hashing.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _sha256_file(path: str, also: Callable[[bytes], None] | None = None) -> bytes:
    """The SHA-256 of the file at `path`; each block read is also given to `also`."""
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        while block := fh.read(HASH_BLOCK):
            h.update(block)
            if also is not None:
                also(block)
    return h.digest()


# A split file's SHA-256, and where its base64 blobs may lie (None: not looked for).
_Hashed = tuple[bytes, list[tuple[int, int]] | None]


def _hash_and_regions(path: str, data: bytes | None) -> _Hashed:
    """`_sha256_file` (or `_sha256` of `data`, the file's bytes in hand), and the file's
    `base64_blobs.Regions` found in the same read: the scan then reads only those for its
    blobs, not all of the file a second time (0.5 ms a MB)."""
    regions = base64_blobs.Regions()
    if data is not None:
        regions.feed(data)
        return _sha256(data), regions.close()
    digest = _sha256_file(path, regions.feed)
    return digest, regions.close()


def _tasks(
    paths: Sequence[str], limits: archives.ArchiveLimits, hashes: _Hashes,
    plan: Callable[[], str],
) -> Iterator[Task]:
    """Tasks of every input, text files cut as `plan()` says when they are reached (`_plan`;
    `_gate` may change it)."""
    for path in paths:
        if path != "-" and os.path.isfile(path):
            split = _plain_file_tasks(path, hashes.next_id, plan())
            if split is not None:
                tasks, data = split
                hashes.next_id += 1
                last = tasks[-1]
                assert isinstance(last, _RangeTask)
                hashes.start(last, data)
                yield from tasks
                # what its own bytes (the ranges) encode: a mailbox's attachments, or
                # base64 blobs (where the hashing thread saw they may lie)
                yield from _member_tasks(archives.iter_encoded_parts(
                    path, limits, hashes.regions(last.file_id)))
                continue
        yield from _member_tasks(archives.iter_paths([path], limits))


def _member_tasks(members: Iterable[archives.Member]) -> Iterator[Task]:
    for member in members:
        if member.data is None:
            yield Skipped(member.location, member.skipped_reason or "skipped")
        else:
            yield _MemberTask(member.location, member.data, member.text_from)


def _plain_file_tasks(
    path: str, file_id: int, plan: str
) -> tuple[list[_RangeTask | _WholeTextTask], bytes | None] | None:
    """Range tasks for a plain text file, and its bytes if they were read whole to judge
    it (as a member is judged); None for archives and files scanned as one member.
    The last task is a range."""
    fine = plan != "kept"
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
            if (archives.archive_kind(head[: archives.HEAD], path) is not None
                    or documents.document_kind(head) is not None):
                return None  # a member: its text is what archives extracts (RTF is text)
            size = os.fstat(fh.fileno()).st_size
            if size <= TASK_BYTES and not (fine and size > RANGE_BYTES):
                return None
            data = None
            if size <= TASK_BYTES:
                fh.seek(0)
                data = fh.read()
                size = len(data)
            dec = decode.judge(head if data is None else data, path)  # the workers decode
            if data is None and dec.encoding in ("binary", "cp1252"):
                # Judged on its head, which need not be what the rest is: junk before a
                # dump, or before UTF-8 text (read as cp1252, every letter over 0x7F
                # would turn into two). Places spread over the file decide too.
                spread = _read_spots(fh, size)
                if dec.text is not None:
                    dec = decode.judge(head, path, spread=spread)
                elif _text_behind_a_binary_head(fh, size, spread):
                    dec = decode.judge(head, path, text_known=True, spread=spread)
    except OSError:
        return None  # archives.iter_paths reports it
    codec = _SPLITTABLE.get(dec.encoding)
    if dec.text is None or codec is None or not size:
        return None

    def ranges(lo: int, hi: int, step: int, scope: str) -> list[_RangeTask | _WholeTextTask]:
        return [_RangeTask(path, path, a, min(hi, a + step), size, codec, dec.kind,
                           dec.encoding, file_id, scope) for a in range(lo, hi, step)]

    if plan != "apart":
        return ranges(0, size, RANGE_BYTES if fine else TASK_BYTES, ALL), data
    if data is not None:
        return [_WholeTextTask(path, file_id, size),
                *ranges(0, size, RANGE_BYTES, IDENTIFIERS)], data
    tasks: list[_RangeTask | _WholeTextTask] = []
    for lo in range(0, size, TASK_BYTES):
        hi = min(size, lo + TASK_BYTES)
        tasks += ranges(lo, hi, TASK_BYTES, FRAGMENTS) + ranges(lo, hi, RANGE_BYTES, IDENTIFIERS)
    return tasks, data


def scan_files(
    paths: Sequence[str],
    index: WatchlistIndex,
    key: Key,
    options: ScanOptions | None = None,
    jobs: int = 1,
    limits: archives.ArchiveLimits = archives.DEFAULT_LIMITS,
    progress: Callable[[int], None] | None = None,
    columns: bool = False,
) -> Iterator[Event | FindingColumns]:
    """Findings, `Scanned` and `Skipped` events of every input, in input order, for any `jobs`.

    With `columns`, findings come in batches instead (`FindingColumns`, a task's findings
    with their final offsets): for a consumer that needs no objects (`vahti scan --json`)."""
    index.check_key(key)
    native.warn_if_missing()  # before the workers fork: they inherit that it was said
    options = options or ScanOptions()
    hashes = _Hashes(ContentIds(key))
    global _IN_HAND
    _IN_HAND = hashes.in_hand
    paths = list(paths)
    if _small(paths):
        jobs = 1  # small files: starting workers costs more than scanning them
    plan = [_init(index, key, options, jobs)]  # before the fork: workers inherit the scanners
    tasks = _tasks(paths, limits, hashes, lambda: plan[0])
    results: Generator[_Result, None, None] | None = None
    try:
        if jobs <= 1:
            yield from _flat(_ordered(map(_run, tasks), hashes, progress, columns))
            return
        if workers.available():
            # fork: the workers share the scanner and its (memory-mapped) index instead of
            # pickling them. They start before the `_Hashes` thread does (held meanwhile).
            # The parent scans too, when idle (`workers` doc): jobs - 1 workers.
            hashes.hold()
            first, tasks, parallel = _gate(tasks, jobs, _input_bytes(paths))
            if not parallel:
                plan[0] = "kept"  # the inputs not yet cut: as one job cuts them
                hashes.release()
                yield from _flat(_ordered(chain(first, map(_run, _coalesced(tasks))),
                                          hashes, progress, columns))
                return
            results = workers.ordered_map(_run, tasks, jobs, _forked, local=True,
                                          window=(2 + jobs) * TASK_BYTES, weight=_weight,
                                          started=hashes.release)
            yield from _flat(_ordered(chain(first, results), hashes, progress, columns))
            return
        with mp.get_context("spawn").Pool(jobs, initializer=_init,
                                          initargs=(index, key, options, jobs)) as pool:
            yield from _flat(_ordered(pool.imap(_run, tasks, chunksize=1), hashes, progress,
                                      columns))
    finally:
        if results is not None:
            results.close()  # ends the workers now, even if the consumer stopped early
        hashes.close()


def _weight(task: Task) -> int:
    """What a task weighs for the workers' read-ahead (`workers.ordered_map`): its input's
    bytes, and at least `MIN_WEIGHT` (what an empty file's or a skipped input's result costs
    is not nothing). Results (findings) are in proportion, so the window bounds memory in
    bytes of input; and the parent, before it runs a big task itself, sends the workers as
    much to do meanwhile."""
    if isinstance(task, _RangeTask):
        n = task.hi - task.lo
    elif isinstance(task, _WholeTextTask):
        n = task.size
    elif isinstance(task, _MemberTask):
        n = len(task.data)
    else:
        n = 0
    return max(n, MIN_WEIGHT)


def _small(paths: list[str]) -> bool:
    """Whether the inputs are plain files of at most `SMALL_RANGES` ranges in all: a
    scan with workers costs 20-30 ms of CPU more (a fork, the pages both sides then copy,
    the parent's whole-file judging), which such inputs do not win back
    (benchmarks/scan_jobs.py --sizes)."""
    total = _input_bytes(paths)
    return total is not None and total <= SMALL_RANGES * RANGE_BYTES


def _input_bytes(paths: list[str]) -> int | None:
    """The bytes of the inputs when all are plain files (missing ones count none), else
    None (a directory, stdin: not known before they are read)."""
    total = 0
    for path in paths:
        try:
            st = os.stat(path) if path != "-" else None
        except OSError:
            continue  # reported as skipped
        if st is None or not stat.S_ISREG(st.st_mode):
            return None
        total += st.st_size
    return total


def _gate(tasks: Iterator[Task], jobs: int, total: int | None
          ) -> tuple[list[_Result], Iterator[Task], bool]:
    """Whether workers pay for this scan, judged from its first tasks run in process, timed:
    identifier ranges of a plain file (module doc). Returns those tasks' results, the tasks
    left, and the verdict. A scan that starts any other way (a member, an archive, a
    fragment scan, a range of `TASK_BYTES`) gets its workers at once.

    A new process scans its first ranges slower, growing its heap (a sparse paste's first
    three: 3.9-4.2, 2.2-3.0 and 1.5 ms a MB, then 1.5): the least of up to `PROBE_RANGES`
    ranges' rates is taken. The probe ends early once a range is fast enough for one job,
    or two are clearly too slow (by a fifth: each range run alone delays the workers)."""
    done: list[_Result] = []
    best = float("inf")  # the lowest CPU seconds a byte among the ranges run
    even = 0.0  # the rate above which workers pay for the rest
    scanned = 0
    for task in tasks:
        if not (isinstance(task, _RangeTask) and task.scope != FRAGMENTS
                and task.hi - task.lo <= RANGE_BYTES):
            tasks = chain([task], tasks)
            break
        t0 = time.thread_time()  # CPU time: other processes on a busy machine do not count
        try:
            done.append(_run(task))
        except Exception:  # noqa: BLE001 - raised again in its place, after the results before
            return done, chain([task], tasks), False  # it: the scan goes on as one job
        n = task.hi - task.lo
        best = min(best, (time.thread_time() - t0) / max(n, 1))
        scanned += n
        even = _break_even(None if total is None else max(0, total - scanned), jobs)
        if best <= even or len(done) == PROBE_RANGES or (len(done) == 2 and best > 1.2 * even):
            return done, tasks, best > even
    return done, tasks, best > even  # (no range to time: workers)


def _cores() -> int:
    """The cores this process may run on (its affinity: a container may allow fewer than
    the machine has)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _coalesced(tasks: Iterator[Task]) -> Iterator[Task]:
    """`tasks`, each run of ranges of one file that follow each other (the rest of a file
    the gate cut for workers) as ranges of up to `TASK_BYTES`, as one job cuts it. Only
    identifier ranges come so: their findings do not depend on the cuts (module doc)."""
    run: _RangeTask | None = None
    for task in tasks:
        if (run is not None and isinstance(task, _RangeTask) and task.file_id == run.file_id
                and task.scope == run.scope and task.lo == run.hi
                and task.hi - run.lo <= TASK_BYTES):
            run = replace(run, hi=task.hi)
            continue
        if run is not None:
            yield run
        run = task if isinstance(task, _RangeTask) and task.scope != FRAGMENTS else None
        if run is None:
            yield task
    if run is not None:
        yield run


def _break_even(left: int | None, jobs: int) -> float:
    """The scan rate (CPU seconds a byte) above which `jobs` processes scan `left` more
    bytes (None: unknown, many) sooner than one. One takes `rate * left` (the SHA-256 of a
    split file runs beside it, on another core); `jobs` share that and the pool's own costs,
    `PARALLEL_BYTE_SECONDS * left + PARALLEL_START_SECONDS`, over as many cores."""
    ways = min(jobs, _cores())
    if ways < 2:
        return float("inf")
    if left is None:
        return PARALLEL_BYTE_SECONDS / (ways - 1)
    if not left:
        return float("inf")
    return (PARALLEL_BYTE_SECONDS * left + PARALLEL_START_SECONDS) / (left * (ways - 1))


def _merged(parts: list[_Result]) -> dict[str, np.ndarray]:
    """The retained keys of a split file's ranges, as one input's."""
    types = {t for p in parts for t in p.retained or {}}
    return {t: np.unique(np.concatenate([p.retained[t] for p in parts if t in p.retained]))
            for t in types}


def _flat(blocks: Iterator[Iterable[Event | FindingColumns]]) -> Iterator[Event | FindingColumns]:
    """The events of `_ordered`'s blocks one by one, flattened in C: a generator between
    the scan and its consumer costs a resumption per finding."""
    return chain.from_iterable(blocks)


def _ordered(
    results: Iterator[_Result], hashes: _Hashes, progress: Callable[[int], None] | None,
    columns: bool = False,
) -> Iterator[Iterable[Event | FindingColumns]]:
    """Turn range-relative offsets into file offsets (ranges of a file come in order),
    merge fragment findings scanned apart into the ranges' (they come first), and close
    every split file with its `Scanned` event. With `columns`, each task's findings come
    as one `FindingColumns`. The events come in blocks (lists, a merge), for `_flat`."""
    base_of: dict[int, int] = {}
    kept_of: dict[int, list[_Result]] = {}  # a split file's ranges' retained keys
    apart: dict[int, list[Finding]] = {}  # a split file's fragment findings not yet yielded
    failed: dict[int, str] = {}  # a split file a task of which could not be read: why
    for r in results:
        if r.failed is not None:
            failed.setdefault(r.file_id, r.failed)
        if r.file_id in failed:
            # Nothing after what failed can be placed (its characters were not counted):
            # the file ends there, reported as not read, and the scan goes on.
            if r.last:
                base_of.pop(r.file_id, None)
                kept_of.pop(r.file_id, None)
                apart.pop(r.file_id, None)
                hashes.forget(r.file_id)
                yield (Skipped(r.location, failed.pop(r.file_id)),)
            if progress is not None and r.n_bytes:
                progress(r.n_bytes)
            continue
        base = base_of.get(r.file_id, 0)
        if r.apart:
            apart.setdefault(r.file_id, []).extend(
                chain.from_iterable(_events(r, base)))  # type: ignore[arg-type]
            continue
        held = apart.get(r.file_id, [])
        # the fragment findings that start in this range
        n = len(held) if r.last else bisect_left(held, base + r.n_chars, key=_START)
        frags = held[:n]
        del held[:n]
        blocks: Iterable[Iterable[Event | FindingColumns]]
        if columns and r.found is not None:
            found = r.found.shifted(base)
            if frags:
                found = found.merged(FindingColumns.of(frags, r.location))
            blocks = [[found, *r.events] if len(found) else r.events]
        elif frags:
            blocks = [heapq.merge(frags, chain.from_iterable(_events(r, base)),
                                  key=FINDING_ORDER)]
        else:
            blocks = _events(r, base)
        yield from blocks
        if r.file_id >= 0:
            base_of[r.file_id] = base + r.n_chars
            if r.retained is not None:
                kept_of.setdefault(r.file_id, []).append(r)
            if r.last:
                del base_of[r.file_id]
                apart.pop(r.file_id, None)
                parts = kept_of.pop(r.file_id, [])
                try:
                    scanned = hashes.scanned(r.file_id)
                except OSError as exc:  # gone before its hash could be read: no content id
                    yield (Skipped(r.location, _read_failed(None, exc)),)
                else:
                    if parts:
                        scanned = replace(scanned, retained=_merged(parts),
                                          partial=any(p.partial for p in parts))
                    yield (scanned,)
        if progress is not None and r.n_bytes:
            progress(r.n_bytes)


_START = attrgetter("start")


def _events(r: _Result, base: int) -> Iterator[list[Event]]:
    """The events of `r` in lists, findings at `base` characters further, made a block at
    a time (`FindingColumns.blocks`). Lists, which `_flat` hands on one event at a time:
    a generator more between the scan and its consumer would cost per finding."""
    if r.found is not None:
        yield from r.found.blocks(base)  # type: ignore[misc]
    if r.events:
        yield r.events
