"""What vahti reads with libarchive: RAR archives (RAR 5 and RAR 1.5-4.x), zip members
encrypted with WinZip AES, and single streams of lz4, lzip, compress (.Z) and uuencode.
Imported only when one of them is met.

libarchive-c is a ctypes binding to the system's libarchive.so.13 (BSD licensed, the
library behind bsdtar). Each member's bytes come out a block at a time and go through the
same guards as a tar's: its size, the input's unpacked total and member count, and the
compression ratio, checked every `BLOCK`.

RAR: leak forums post their dumps as .rar more than as anything else. libarchive
decompresses every RAR method, solid archives included. What it does not do is said
instead of read:

* Decrypt RAR: a password-protected member, or an archive whose headers are encrypted,
  is reported "encrypted". libarchive 3.6 notices RAR 4 encryption itself, but skips a
  RAR 5 member's encryption record and would hand out its ciphertext as the member's
  bytes, a silent miss; `_rar5_layout` reads the RAR 5 headers first to know them.
* Join volumes: one volume of a multi-volume set is read on its own; a member that
  continues in another volume is reported with that reason.

Zip: Python's zipfile decrypts only the old ZipCrypto. 7-Zip, WinZip and WinRAR encrypt
a zip with AES (method 99), which libarchive decrypts with the passwords of
`--password-file`, all of them offered at once (it tries each on each member).

Streams: unpacked like a .gz (`iter_filtered`), with libarchive told the filter and the
format, never left to guess them.

Reasons name the format and libarchive's error class, never member contents. Each reader
knows only the formats and filters it needs (`_reader`), so no other libarchive parser
sees the bytes.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import BinaryIO

import libarchive
import libarchive.ffi
from libarchive.exception import ArchiveError
from libarchive.read import ArchiveRead

from .archives import (
    _UUENCODED,
    BLOCK,
    ArchiveLimits,
    Member,
    _Budget,
    _collect,
    _corrupt,
    _descend,
    _inner_name,
    _Limit,
    _member_size_reason,
    _none_fits,
    _Source,
    _stopped,
    _too_many,
)

RAR5_SIGNATURE = b"Rar!\x1a\x07\x01\x00"
RAR4_SIGNATURE = b"Rar!\x1a\x07\x00"

# libarchive-c logs libarchive's warnings, and they hold values of the content ("ZIP bad
# CRC: 0x691d28f3 should be 0x691d280c": the CRC32 of a one-line member can be brute-forced
# back to the identity code it holds). A warning changes nothing of what is read.
# (A filter, which logging.config leaves in place: a dictConfig enables a disabled logger.)
logging.getLogger("libarchive").addFilter(lambda record: False)

# What libarchive reads of the archive at a time (from a file or from memory: by default
# it takes a buffer whole). A member's compression ratio is to the archive bytes read
# while it came out, which may be short of the truth by this much (`_consumed`).
READ_AHEAD = 64 * 1024
_read_open_memory2 = libarchive.ffi.ffi(
    "read_open_memory2", [libarchive.ffi.c_archive_p, ctypes.c_void_p, ctypes.c_size_t,
                          ctypes.c_size_t], ctypes.c_int, libarchive.ffi.check_int)

_is_data_encrypted = libarchive.ffi.libarchive.archive_entry_is_data_encrypted
_is_data_encrypted.argtypes = [ctypes.c_void_p]
_is_data_encrypted.restype = ctypes.c_int

_ENCRYPTED_MEMBER = "encrypted: password-protected RAR member (vahti cannot decrypt RAR)"
_ENCRYPTED_ARCHIVE = ("encrypted: RAR archive with encrypted file names "
                      "(vahti cannot decrypt RAR)")
_IN_NEXT_VOLUME = ("incomplete: continues in another volume of a multi-volume RAR "
                   "(each volume is read on its own)")
_FROM_PREVIOUS_VOLUME = ("incomplete: the rest of a member begun in another volume of a "
                         "multi-volume RAR, not read (each volume is read on its own)")


@dataclass
class _Layout:
    """What the headers say before anything is decompressed."""

    volume: bool = False
    headers_encrypted: bool = False
    cut: bool = False  # RAR 5: the headers end before the end-of-archive header
    encrypted: set[str] = field(default_factory=set)  # RAR 5 member names
    split: set[str] = field(default_factory=set)  # RAR 5 members continued elsewhere
    continued: list[str] = field(default_factory=list)  # RAR 5 members begun elsewhere


def rar_format(head: bytes) -> str | None:
    """libarchive's name of the reader for this signature, or None."""
    if head.startswith(RAR5_SIGNATURE):
        return "rar5"
    if head.startswith(RAR4_SIGNATURE):
        return "rar"
    return None


def iter_rar(src: _Source, location: str, depth: int, limits: ArchiveLimits,
             budget: _Budget) -> Iterator[Member]:
    head = src.head()
    fmt = rar_format(head) or "rar"
    with src.open() as fobj:
        layout = _rar5_layout(fobj, limits.max_members * 4) if fmt == "rar5" else _rar4_layout(head)
    if layout.headers_encrypted:
        yield Member(location, None, _ENCRYPTED_ARCHIVE)
        return
    try:
        with _reader(src, (fmt,)) as archive:
            yield from _members(archive, layout, location, depth, limits, budget)
    except ArchiveError as exc:
        # the archive as a whole (its first header) could not be read
        yield Member(location, None, _reason(exc, layout))


def _members(archive: libarchive.read.ArchiveRead, layout: _Layout, location: str,
             depth: int, limits: ArchiveLimits, budget: _Budget) -> Iterator[Member]:
    for name in layout.continued:  # never an entry of libarchive's
        if budget.allow_members(1):
            yield Member(f"{location}!{name}", None, _FROM_PREVIOUS_VOLUME)
    entries = iter(archive)
    files = len(layout.continued)
    while True:
        try:
            entry = next(entries, None)
        except ArchiveError as exc:
            # a damaged header: what follows it cannot be found
            yield Member(location, None, _reason(exc, layout))
            return
        if entry is None:
            break
        name = _name(entry.pathname)
        if not entry.isfile or name in layout.continued:
            continue
        files += 1
        if not budget.allow_members(1):
            yield from _stopped(location, _too_many(limits))
        loc = f"{location}!{name}"
        if name in layout.encrypted or _is_data_encrypted(entry._entry_p):
            yield Member(loc, None, _ENCRYPTED_MEMBER)
            continue
        if entry.size is not None and entry.size > limits.max_member_size:
            yield Member(loc, None, _member_size_reason(limits))
            continue
        try:
            data = _collect(entry.get_blocks(BLOCK), limits, budget, _consumed(archive))
        except _Limit as lim:
            # the stream itself is the bomb (a solid archive's members share it)
            yield from _stopped(loc, lim)
            return
        except ArchiveError as exc:
            yield Member(loc, None, _IN_NEXT_VOLUME if name in layout.split
                         else _reason(exc, layout))
            return  # libarchive cannot go on after a failed read
        yield from _descend(data, loc, depth, limits, budget)
    # libarchive ends quietly where the bytes end: a cut archive must not look whole
    if layout.cut:
        yield Member(location, None, "corrupt archive: rar (cut short before its end)")
    elif not files:
        yield Member(location, None, "empty: a RAR archive with no file in it")


def _name(pathname: str | bytes) -> str:
    """A member's name. RAR 5 names are UTF-8; an old RAR's may be in the DOS code page
    of the machine that wrote it (libarchive-c then gives bytes), read as cp437 as zipfile
    reads such zip names."""
    return pathname.decode("cp437") if isinstance(pathname, bytes) else pathname


def _consumed(archive: ArchiveRead) -> Callable[[], int]:
    """The archive bytes libarchive reads from now on (and what it may already hold): a
    member's own share of the archive, for its ratio. Counted from the archive's start,
    a bomb after a large member would pass."""
    start = archive.bytes_read
    return lambda: archive.bytes_read - start + READ_AHEAD


def _reason(exc: ArchiveError, layout: _Layout) -> str:
    """libarchive's error as a reason. Its message (a phrase of libarchive's, which may
    quote a member's name) is looked into, never shown."""
    message = str(getattr(exc, "msg", "") or "")
    if "ncrypt" in message:
        return _ENCRYPTED_ARCHIVE
    if layout.volume and ("runcated" in message or "volume" in message):
        return _IN_NEXT_VOLUME
    return _corrupt("rar", exc)


# --- single compressed streams: lz4, lzip, compress (.Z), uuencode ---------------------

_FILTER_OF = {"lz4": "lz4", "lzip": "lzip", "Z": "compress", "uu": "uu"}


class FilterRefused(Exception):
    """The stream is not what its first bytes said (libarchive's filter refused it)."""


def iter_filtered(src: _Source, location: str, depth: int, limits: ArchiveLimits,
                  budget: _Budget, kind: str) -> Iterator[Member]:
    """lz4, lzip, .Z or uuencoded data: a tar inside is expanded in the same layer
    (x.tar.lz4!member), anything else is one member named after the file
    (x.sql.lz4!x.sql), as for .gz (`archives._iter_compressed`)."""
    filter_name = _FILTER_OF[kind]
    loc = location
    try:
        # A tar is told by its "ustar" mark, as in a .gz: left to libarchive's bidding, a
        # file that begins with 1,024 NUL bytes would be an empty tar, and nothing read.
        tar = _stream_head(src, filter_name)[257:262] == b"ustar"
        with _reader(src, ("tar",) if tar else ("raw",), (filter_name,)) as archive:
            for entry in archive:
                if not tar:
                    loc = f"{location}!{_stream_name(src, location, kind)}"
                else:
                    if not entry.isfile:
                        continue
                    if not budget.allow_members(1):
                        yield from _stopped(location, _too_many(limits))
                    loc = f"{location}!{_name(entry.pathname)}"
                try:
                    data = _collect(entry.get_blocks(BLOCK), limits, budget, _consumed(archive))
                except _Limit as lim:
                    yield from _stopped(loc, lim)  # the stream itself is the bomb
                    return
                yield from _descend(data, loc, depth, limits, budget)
    except (ArchiveError, FilterRefused) as exc:
        yield Member(loc, None, _corrupt(kind, exc))


def _stream_head(src: _Source, filter_name: str) -> bytes:
    """The first 512 bytes the stream unpacks to; FilterRefused when libarchive's filter
    does not take it (libarchive would then read the bytes as they are, and the same
    input would come out again, one layer deeper each time)."""
    head = b""
    with _reader(src, ("raw",), (filter_name,)) as archive:
        entry = next(iter(archive), None)
        if entry is None or not archive.filter_names:
            raise FilterRefused
        for block in entry.get_blocks(512):
            head += block
            if len(head) >= 512:
                break
    return head[:512]


def _stream_name(src: _Source, location: str, kind: str) -> str:
    """The name of the one file in a stream: uuencode's "begin" line names it, the others
    are named after the file (x.sql.lz4: x.sql)."""
    begin = _UUENCODED.match(src.head()) if kind == "uu" else None
    name = begin.group(1).decode("utf-8", "replace").strip().rsplit("/", 1)[-1] if begin else ""
    return name if name not in ("", "-") else _inner_name(location, kind)


# --- zip members encrypted with AES ----------------------------------------------------


def iter_zip_aes(src: _Source, sizes: dict[str, int], location: str, depth: int,
                 limits: ArchiveLimits, budget: _Budget) -> Iterator[Member]:
    """The AES-encrypted members of the zip `src` named in `sizes` (name: compressed size,
    from zipfile's reading of the central directory, which checked their sizes), in one
    pass, each decrypted with the first of `limits.passwords` that fits; zipfile has
    already counted them as members."""
    left = dict(sizes)
    try:
        yield from _zip_aes_members(src, left, location, depth, limits, budget)
    except ArchiveError as exc:  # libarchive could not open it (zipfile could)
        for name in left:
            yield Member(f"{location}!{name}", None, _corrupt("zip", exc))
        return
    for name in left:  # in the central directory, but libarchive found no such entry
        yield Member(f"{location}!{name}", None, "corrupt archive: zip (AES member not found)")


def _zip_aes_members(src: _Source, left: dict[str, int], location: str, depth: int,
                     limits: ArchiveLimits, budget: _Budget) -> Iterator[Member]:
    """`iter_zip_aes`, taking each member it reads out of `left`."""
    # from the central directory, as zipfile reads it
    with _reader(src, ("zip_seekable",), passwords=limits.passwords) as archive:
        entries = iter(archive)
        while left:
            entry = next(entries, None)  # a damaged header: the rest is reported by the caller
            if entry is None:
                return
            name = _name(entry.pathname)
            if name not in left:
                continue
            loc = f"{location}!{name}"
            packed = left.pop(name)
            try:
                data = _collect(entry.get_blocks(BLOCK), limits, budget, partial(int, packed))
            except _Limit as lim:
                yield from _stopped(loc, lim)
                continue
            except ArchiveError as exc:
                yield Member(loc, None, _zip_aes_reason(exc, limits))
                continue
            yield from _descend(data, loc, depth, limits, budget)


@contextmanager
def _reader(src: _Source, formats: tuple[str, ...], filters: tuple[str, ...] = ("none",),
            passwords: tuple[str, ...] = ()) -> Iterator[ArchiveRead]:
    """A libarchive reader of `src` that knows only these formats and filters (no other
    libarchive parser sees the bytes), holding every password (libarchive-c's own
    readers take one format and one password)."""
    archive_p = libarchive.ffi.read_new()
    try:
        for name in formats:
            libarchive.ffi.get_read_format_function(name)(archive_p)
        for name in filters:
            libarchive.ffi.get_read_filter_function(name)(archive_p)
        for password in passwords:
            libarchive.ffi.read_add_passphrase(archive_p, password.encode("utf-8"))
        if src.data is not None:
            data = src.data  # held by `src` for as long as libarchive reads it
            _read_open_memory2(archive_p, data, len(data), READ_AHEAD)
            yield ArchiveRead(archive_p)
            return
        assert src.path is not None
        fd = os.open(src.path, os.O_RDONLY)
        try:
            libarchive.ffi.read_open_fd(archive_p, fd, READ_AHEAD)
            yield ArchiveRead(archive_p)
        finally:
            os.close(fd)
    finally:
        libarchive.ffi.read_free(archive_p)


def _zip_aes_reason(exc: ArchiveError, limits: ArchiveLimits) -> str:
    message = str(getattr(exc, "msg", "") or "")
    if "assphrase" in message:  # "Incorrect passphrase", "Passphrase required ..."
        return f"encrypted: AES-encrypted zip member{_none_fits(limits)}"
    return _corrupt("zip", exc)


# --- the headers, read before libarchive decompresses anything -------------------------


def _vint(data: bytes, at: int) -> tuple[int, int]:
    """A RAR 5 variable-length integer at `at`: (value, the offset after it)."""
    value = shift = 0
    while at < len(data) and shift < 64:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7
    raise ValueError("truncated number")


def _rar5_layout(fobj: BinaryIO, max_headers: int) -> _Layout:
    """Which RAR 5 members are encrypted or split across volumes, from the headers alone
    (the data areas are skipped with seeks). A damaged header ends the walk: libarchive
    then reports the damage itself."""
    layout = _Layout()
    at = len(RAR5_SIGNATURE)
    for _ in range(max_headers):
        fobj.seek(at)
        start = fobj.read(4 + 3)  # the CRC32, then the size in at most 3 bytes
        try:
            size, body_at = _vint(start, 4)
            if size > 2 * 1024 * 1024:  # the format's own bound on a header
                raise ValueError("header too large")
            fobj.seek(at + body_at)
            body = fobj.read(size)
            if len(body) < size:
                raise ValueError("cut short")
            data_size = _rar5_header(body, layout)
        except (ValueError, IndexError, UnicodeDecodeError):
            layout.cut = True
            break
        if data_size is None:
            break
        at += body_at + size + data_size
    return layout


def _rar5_header(body: bytes, layout: _Layout) -> int | None:
    """Note what one header says; the size of its data area, or None at the end."""
    kind, at = _vint(body, 0)
    flags, at = _vint(body, at)
    extra_size = data_size = 0
    if flags & 0x0001:
        extra_size, at = _vint(body, at)
    if flags & 0x0002:
        data_size, at = _vint(body, at)
    if extra_size > len(body):
        raise ValueError("extra area larger than its header")
    if kind == 1:  # main archive header
        archive_flags, at = _vint(body, at)
        layout.volume = bool(archive_flags & 0x0001)
    elif kind == 4:  # archive encryption header: every header after it is encrypted
        layout.headers_encrypted = True
        return None
    elif kind == 5:  # end of archive
        return None
    elif kind == 2:  # a file
        file_flags, at = _vint(body, at)
        _, at = _vint(body, at)  # unpacked size
        _, at = _vint(body, at)  # attributes
        at += 4 * bool(file_flags & 0x0002) + 4 * bool(file_flags & 0x0004)  # mtime, CRC
        _, at = _vint(body, at)  # compression information
        _, at = _vint(body, at)  # host OS
        name_size, at = _vint(body, at)
        name = body[at:at + name_size].decode("utf-8")
        if flags & 0x0010:  # its data continues in the next volume
            layout.split.add(name)
        if flags & 0x0008:  # its data began in the previous volume: libarchive skips it
            layout.continued.append(name)
        if _has_record(body[len(body) - extra_size:], 0x01):
            layout.encrypted.add(name)
    return data_size


def _has_record(extra: bytes, wanted: int) -> bool:
    """Does a RAR 5 extra area hold a record of this type?"""
    at = 0
    while at < len(extra):
        size, after = _vint(extra, at)
        kind, _ = _vint(extra, after)
        if kind == wanted:
            return True
        at = after + size
    return False


def _rar4_layout(head: bytes) -> _Layout:
    """RAR 4's archive header (right after the signature): volume and encrypted-headers
    flags. libarchive itself notices an encrypted member of RAR 4."""
    flags = int.from_bytes(head[len(RAR4_SIGNATURE) + 3:len(RAR4_SIGNATURE) + 5], "little")
    return _Layout(volume=bool(flags & 0x0001), headers_encrypted=bool(flags & 0x0080))

