"""Scanning files, directories and archives, in parallel over chunks.

Plain text files are cut into byte ranges of `TASK_BYTES` that the worker
processes read themselves (no file data crosses a pipe); archives are
expanded by `matchers.archives` in the parent and each member is one task.
Results come back in task order, so the output is the same for any `jobs`.

A plain file's encoding and kind are judged once from its head
(`matchers.decode`). UTF-8 and single-byte files are split; anything else
(UTF-16, a BOM) is one task decoded whole. Offsets in findings are character
offsets in the decoded file, as for `Scanner.scan_text`: each task reports
how many characters its range decoded to, and the parent adds them up.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from . import archives, decode
from .engine import CONTEXT_BEFORE, Finding, Scanner, ScanOptions, Skipped
from .index import WatchlistIndex
from .keys import Key

TASK_BYTES = 8 << 20
HEAD_BYTES = 64 << 10
# Bytes read beyond a task's range: identifier context, fragment context.
TAIL_BYTES = 64 << 10
_SPLITTABLE = {"utf-8": "utf-8", "utf-8+cp1252": "utf-8", "cp1252": "cp1252"}


@dataclass(frozen=True)
class _RangeTask:
    path: str
    location: str
    lo: int
    hi: int
    size: int
    codec: str
    kind: str


@dataclass(frozen=True)
class _MemberTask:
    location: str
    data: bytes


_WORKER: Scanner | None = None


def _init(index: WatchlistIndex, key: Key, options: ScanOptions) -> None:
    global _WORKER
    _WORKER = Scanner(index, key, options)


def _run(task: _RangeTask | _MemberTask | Skipped) -> tuple[str, list[Finding | Skipped], int]:
    """(location, findings with offsets relative to the task, characters in the task)."""
    scanner = _WORKER
    assert scanner is not None
    if isinstance(task, Skipped):
        return task.location, [task], 0
    if isinstance(task, _MemberTask):
        dec = decode.decode_bytes(task.data, task.location)
        if dec.text is None:
            return task.location, [Skipped(task.location, dec.reason or "binary")], 0
        found = scanner.scan_text(dec.text, task.location, dec.kind)
        return task.location, list(found), 0
    found, n_chars = _run_range(scanner, task)
    return task.location, found, n_chars


def _run_range(scanner: Scanner, t: _RangeTask) -> tuple[list[Finding | Skipped], int]:
    """Scan the characters that start in bytes [lo, hi) of a plain file."""
    before = CONTEXT_BEFORE * 4 if t.lo else 0
    with open(t.path, "rb") as fh:
        fh.seek(t.lo - before)
        data = fh.read(t.hi - t.lo + before + TAIL_BYTES)
    body_end = t.hi - t.lo + before
    if t.codec == "utf-8":
        # Cut at character starts: a continuation byte belongs to the range before.
        head_cut = _utf8_start(data, 0, before)
        body_cut = _utf8_start(data, before, len(data)) if t.lo else 0
        end_cut = _utf8_start(data, body_end, len(data)) if body_end < len(data) else len(data)
    else:
        head_cut, body_cut, end_cut = 0, before, min(body_end, len(data))
    prefix = data[head_cut:body_cut].decode(t.codec, errors="replace")
    body = data[body_cut:end_cut].decode(t.codec, errors="replace")
    tail = data[end_cut:].decode(t.codec, errors="replace") if t.hi < t.size else ""
    text = prefix + body + tail
    lo, hi = len(prefix), len(prefix) + len(body)
    found = scanner.scan_range(text, lo, hi, t.location, t.kind)
    shifted: list[Finding | Skipped] = [
        replace(f, start=f.start - lo, end=f.end - lo) for f in found
    ]
    return shifted, len(body)


def _utf8_start(data: bytes, pos: int, limit: int) -> int:
    while pos < limit and pos < len(data) and 0x80 <= data[pos] < 0xC0:
        pos += 1
    return pos


def _tasks(
    paths: Sequence[str], limits: archives.ArchiveLimits
) -> Iterator[_RangeTask | _MemberTask | Skipped]:
    for path in paths:
        if path != "-" and os.path.isfile(path):
            task = _plain_file_tasks(path)
            if task is not None:
                yield from task
                continue
        for member in archives.iter_paths([path], limits):
            if member.data is None:
                yield Skipped(member.location, member.skipped_reason or "skipped")
            else:
                yield _MemberTask(member.location, member.data)


def _plain_file_tasks(path: str) -> list[_RangeTask] | None:
    """Range tasks for a plain text file; None for archives and whole-decode files."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    if archives._archive_kind(head[: archives.HEAD], path) is not None:
        return None
    size = os.path.getsize(path)
    if size <= TASK_BYTES:
        return None
    dec = decode.decode_bytes(head, path)
    codec = _SPLITTABLE.get(dec.encoding)
    if dec.text is None or codec is None:
        return None
    return [
        _RangeTask(path, path, lo, min(size, lo + TASK_BYTES), size, codec, dec.kind)
        for lo in range(0, size, TASK_BYTES)
    ]


def scan_files(
    paths: Sequence[str],
    index: WatchlistIndex,
    key: Key,
    options: ScanOptions | None = None,
    jobs: int = 1,
    limits: archives.ArchiveLimits = archives.DEFAULT_LIMITS,
) -> Iterator[Finding | Skipped]:
    """Findings (and skipped inputs) of every input, in input order, for any `jobs`."""
    index.check_key(key)
    options = options or ScanOptions()
    tasks = _tasks(list(paths), limits)
    if jobs <= 1:
        _init(index, key, options)
        results = map(_run, tasks)
        yield from _ordered(results)
        return
    # fork: the workers share the (memory-mapped) index instead of pickling it.
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(jobs, initializer=_init, initargs=(index, key, options)) as pool:
        yield from _ordered(pool.imap(_run, tasks, chunksize=1))


def _ordered(tasks_results: Iterator[tuple[str, list[Finding | Skipped], int]]
             ) -> Iterator[Finding | Skipped]:
    """Turn range-relative offsets into file offsets (ranges of a file come in order)."""
    base_of: dict[str, int] = {}
    for location, found, n_chars in tasks_results:
        base = base_of.get(location, 0)
        for f in found:
            if isinstance(f, Finding):
                f = replace(f, start=f.start + base, end=f.end + base)
            yield f
        base_of[location] = base + n_chars
