"""7z archives, for `archives`: imported only when a 7z archive is opened.

py7zr brings pycryptodomex, cffi and its compressors with it (about 0.1 s of import);
a scan that meets no 7z file does not pay for them.
"""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Iterator

import py7zr
import py7zr.exceptions
from py7zr.io import Py7zIO, WriterFactory

from .archives import (
    _CORRUPT,
    ArchiveLimits,
    Member,
    _Budget,
    _check_ratio,
    _corrupt,
    _descend,
    _Limit,
    _member_size_reason,
    _none_fits,
    _Source,
    _stopped,
    _too_many,
)

# What a broken 7z may raise: what any archive may, and py7zr's own (never forwarded:
# only the type name)
_CORRUPT_7Z = (*_CORRUPT, py7zr.exceptions.ArchiveError)


class _SevenZipSink(Py7zIO):
    """Collects one 7z member, enforcing limits on every write."""

    def __init__(self, name: str, pipe: _SevenZipPipe) -> None:
        self.name = name
        self.pipe = pipe
        self.buf = io.BytesIO()
        self.closed_once = False

    def write(self, s: bytes | bytearray) -> int:
        if self.pipe.stop.is_set():
            raise _Limit("stopped")  # consumer went away: end the worker quickly
        n = self.buf.tell() + len(s)
        if n > self.pipe.limits.max_member_size:
            raise _Limit(_member_size_reason(self.pipe.limits))
        self.pipe.budget.take(len(s))
        self.pipe.written += len(s)
        _check_ratio(self.pipe.written, self.pipe.packed, self.pipe.limits)
        return self.buf.write(s)

    def read(self, size: int | None = None) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.buf.tell()

    def seekable(self) -> bool:
        return False  # tells py7zr not to rewind us on close

    def flush(self) -> None:
        pass

    def size(self) -> int:
        return self.buf.tell()

    def close(self) -> None:
        if not self.closed_once:
            self.closed_once = True
            self.pipe.put(("member", self.name, self.buf.getvalue()))


class _SevenZipPipe(WriterFactory):
    def __init__(self, limits: ArchiveLimits, budget: _Budget, packed: int) -> None:
        self.limits = limits
        self.budget = budget
        self.packed = packed
        self.written = 0
        self.q: queue.Queue[tuple[str, str, object]] = queue.Queue(maxsize=1)
        self.stop = threading.Event()

    def create(self, filename: str) -> Py7zIO:
        return _SevenZipSink(filename, self)

    def put(self, item: tuple[str, str, object]) -> None:
        while not self.stop.is_set():
            try:
                self.q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Limit("stopped")


class _WrongPassword(Exception):
    """A 7z archive failed to decrypt with the password tried."""


def iter_7z(
    src: _Source, location: str, depth: int, limits: ArchiveLimits, budget: _Budget
) -> Iterator[Member]:
    """An encrypted archive is tried with no password, then each of `limits.passwords`."""
    for password in (None, *limits.passwords):
        with src.open() as fobj:
            try:
                # A file object (not a path) also keeps py7zr from decompressing
                # folders in parallel threads of its own.
                sz = py7zr.SevenZipFile(fobj, "r", password=password)
            except py7zr.exceptions.PasswordRequired:
                continue  # the headers are encrypted too
            except Exception as exc:  # noqa: BLE001 - a wrong password garbles encrypted headers
                if password is not None:
                    continue
                if not isinstance(exc, _CORRUPT_7Z):
                    raise
                yield Member(location, None, _corrupt("7z", exc))
                return
            with sz:
                files = [f for f in sz.list() if not f.is_directory]
                if sz.needs_password() and password is None and limits.passwords:
                    continue
                if sz.needs_password() and password is None:
                    for f in files:
                        yield Member(f"{location}!{f.filename}", None,
                                     "encrypted: password-protected member")
                    return
                counted = budget.members
                try:
                    yield from _read_7z(sz, files, src, location, depth, limits, budget,
                                        probe=password is not None)
                except _WrongPassword:
                    budget.members = counted
                    continue
                return
    yield Member(location, None, f"encrypted: password-protected archive{_none_fits(limits)}")


def _read_7z(
    sz: py7zr.SevenZipFile, files: list, src: _Source, location: str, depth: int,
    limits: ArchiveLimits, budget: _Budget, probe: bool,
) -> Iterator[Member]:
    # 7z headers state every size and py7zr never unpacks past them, so
    # declared sizes bound the work; check them before inflating anything.
    targets = [f.filename for f in files if f.uncompressed <= limits.max_member_size]
    too_large = [f.filename for f in files if f.uncompressed > limits.max_member_size]
    wanted = set(targets)
    declared = sum(f.uncompressed for f in files if f.filename in wanted)
    try:
        _check_ratio(declared, src.size(), limits)
    except _Limit as lim:
        yield Member(location, None, lim.reason)
        return
    allowed = budget.allow_members(len(targets))
    if targets[:allowed]:
        yield from _drain_7z(sz, targets[:allowed], src.size(), location, depth, limits,
                             budget, probe)
    for name in too_large:
        yield Member(f"{location}!{name}", None, _member_size_reason(limits))
    if allowed < len(targets):
        yield from _stopped(location, _too_many(limits))


def _drain_7z(
    sz: py7zr.SevenZipFile,
    targets: list[str],
    packed: int,
    location: str,
    depth: int,
    limits: ArchiveLimits,
    budget: _Budget,
    probe: bool = False,
) -> Iterator[Member]:
    """Members as py7zr's worker thread inflates them. With `probe` (a password being
    tried), a failure before the first member means the password is wrong."""
    pipe = _SevenZipPipe(limits, budget, packed)

    def work() -> None:
        try:
            sz.extract(targets=targets, factory=pipe)
            pipe.put(("end", "", None))
        except _Limit as lim:
            if lim.reason != "stopped":
                pipe.put(("limit", "", lim))
        except py7zr.exceptions.PasswordRequired:
            pipe.put(("encrypted", "", None))
        except Exception as exc:  # noqa: BLE001 - reported as a reason, type name only
            pipe.put(("corrupt", "", type(exc).__name__))

    worker = threading.Thread(target=work, name="vahti-7z", daemon=True)
    worker.start()
    seen: set[str] = set()
    try:
        while True:
            what, name, payload = pipe.q.get()
            if what == "member":
                seen.add(name)
                assert isinstance(payload, bytes)
                yield from _descend(payload, f"{location}!{name}", depth, limits, budget)
                continue
            if probe and not seen and what in ("encrypted", "corrupt"):
                raise _WrongPassword
            if what == "limit":
                assert isinstance(payload, _Limit)
                yield from _stopped(location, payload)
            elif what == "encrypted":
                for name in targets:
                    if name not in seen:
                        yield Member(f"{location}!{name}", None,
                                     "encrypted: password-protected member")
            elif what == "corrupt":
                yield Member(location, None, f"corrupt archive: 7z ({payload})")
            return
    finally:
        pipe.stop.set()
        worker.join()
