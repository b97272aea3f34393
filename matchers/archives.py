"""Expand inputs into scannable members: files, directories, stdin and (nested) archives.

Leaks travel packed: a 7z inside a zip, a tar.gz of CSV exports, a .sql.gz. This
module turns any of them into a flat, deterministic stream of `Member`s whose
`location` says where the bytes came from (`dump.zip!inner.tar!notes.csv`).

Dumps are hostile input. Everything that decompresses goes through a guard that
counts bytes in blocks and stops early, so a 10 GB zip bomb costs a few MB:

* compression ratio: a member (or a compressed stream) unpacking to more than
  `max_ratio` times its compressed size is stopped — but only once more than
  `ratio_grace` bytes came out, so small highly repetitive files pass;
* member size: nothing larger than `max_member_size` is held in memory;
* total: one input may unpack at most `max_total_unpacked` bytes; past that the
  rest of that input is dropped (other inputs go on);
* depth: at most `max_depth` archive layers are opened;
* sparse tar members: their holes never pass through a decompressor, so the
  declared size is counted against the ratio and the budget before reading.

A stopped, encrypted or corrupt part becomes a `Member` with `data=None` and a
`skipped_reason`; the scan goes on. An "archive" that is corrupt before anything came
out of it, and whose bytes read as text all over (`decode.text_all_over`), is read as
a plain input instead: a dump behind an archive's magic bytes must not go unread.
E-mail messages and mailboxes are read as they are, then their base64 and
quoted-printable parts decoded, each an input of its own (`matchers.mail`).
Reasons hold fixed phrases, sizes and exception type names — never content (member
names are fine: they are locations, already shown to the operator).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import re
import struct
import sys
import tarfile
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import BinaryIO

from . import base64_blobs, decode, documents, mail
from .documents import ExtractError, Part, TextBudget, ole
from .documents.dicom import dicom_parts
from .documents.doc import doc_parts
from .documents.mongo import archive_parts, bson_parts, is_bson
from .documents.msg import Message, read_msg
from .documents.office import is_embedded, office_kind, office_parts
from .documents.pdf import pdf_parts
from .documents.ppt import ppt_parts
from .documents.rtf import rtf_parts
from .documents.sqlite import sqlite_parts
from .documents.tnef import read_tnef
from .documents.xls import xls_parts

if sys.version_info >= (3, 14):
    from compression import zstd
else:  # the same module, for older Pythons (py7zr needs it too)
    from backports import zstd

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
BLOCK = 1 * MiB  # decompression step: the most a guard lets out before it checks again
HEAD = 1024  # bytes read to recognise a format (tar magic sits at offset 257)
STDIN_LOCATION = "<stdin>"


@dataclass(frozen=True)
class ArchiveLimits:
    """Limits on what one input may unpack.

    Defaults: 5 layers covers every real "zip of tars of gzips" seen in dumps;
    1 GiB per member keeps memory bounded while admitting large SQL/CSV exports;
    4 GiB in total per input; ratio 100 is far above text (3-15x) and SQL/CSV
    dumps (up to ~30x), while deflate bombs sit near 1000x. The 1 MiB grace keeps
    small, very repetitive files (logs, padded tables) from being flagged.
    10,000 members per input: each costs a scan and a page record (about 2 ms;
    `benchmarks/archive_limits.py`), so a 42 KB archive of 20,000 one-byte files
    no longer buys 20,000 records; an input with more is read up to the limit and
    reported as partial.
    """

    max_depth: int = 5
    max_member_size: int = 1 * GiB
    max_total_unpacked: int = 4 * GiB
    max_ratio: float = 100.0
    ratio_grace: int = 1 * MiB
    max_members: int = 10_000
    # one document's text extraction (SQLite, PDF, Office); its text may be at most
    # max_member_size characters
    document_timeout_s: float = 30.0
    # passwords to try on encrypted zip members and 7z archives, in order (never shown)
    passwords: tuple[str, ...] = field(default=(), repr=False)


DEFAULT_LIMITS = ArchiveLimits()


@dataclass(frozen=True)
class Member:
    """One scannable unit. Exactly one of `data` / `skipped_reason` is None.
    `text_from` names the document format (sqlite, pdf, docx, ...) when `data` is
    the UTF-8 text extracted from it rather than the input's own bytes."""

    location: str
    data: bytes | None
    skipped_reason: str | None
    text_from: str | None = None


def _size(n: float) -> str:
    for unit, factor in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= factor:
            return f"{n / factor:g} {unit}"
    return f"{int(n)} bytes"


class _Limit(Exception):
    """A limit was hit; `reason` is the skipped_reason (no content). `total` marks
    the per-input budget, which ends the whole input, not just one archive."""

    def __init__(self, reason: str, total: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.total = total


class _StopInput(Exception):
    """The input's total budget is spent: unwind every layer of this input."""


class _Budget:
    """Bytes unpacked so far for one top-level input. Locked: the 7z reader
    charges it from its worker thread."""

    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        self.used = 0
        self.members = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> None:
        with self._lock:
            self.used += n
            over = self.used > self.limits.max_total_unpacked
        if over:
            raise _Limit(
                f"archive bomb: more than {_size(self.limits.max_total_unpacked)} "
                "unpacked from one input",
                total=True,
            )

    def allow_members(self, n: int) -> int:
        """Count up to `n` more members of this input; how many fit under the limit."""
        allowed = max(0, min(n, self.limits.max_members - self.members))
        self.members += allowed
        return allowed


def _too_many(limits: ArchiveLimits) -> _Limit:
    return _Limit(f"too many members: more than {limits.max_members} in one input "
                  "(the rest was not read)", total=True)


def _ratio_reason(limits: ArchiveLimits) -> str:
    return f"archive bomb: compression ratio over {limits.max_ratio:g}"


def _too_deep(limits: ArchiveLimits) -> str:
    """An archive (or a base64 blob) inside more layers than `max_depth`."""
    return f"archive bomb: nested deeper than {limits.max_depth} archives"


def _too_large(limits: ArchiveLimits) -> str:
    """A file, stdin or mail message over the member size, not read at all."""
    return f"too large: over {_size(limits.max_member_size)}"


def _member_size_reason(limits: ArchiveLimits) -> str:
    return f"archive bomb: member over {_size(limits.max_member_size)} unpacked"


def _stopped(location: str, lim: _Limit) -> Iterator[Member]:
    """Report a hit limit; a spent budget then unwinds every layer of the input."""
    yield Member(location, None, lim.reason)
    if lim.total:
        raise _StopInput


def _check_ratio(out: int, compressed: int, limits: ArchiveLimits) -> None:
    if out > limits.ratio_grace and out > limits.max_ratio * max(compressed, 1):
        raise _Limit(_ratio_reason(limits))


# --- sources ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """A file on disk or bytes in memory, opened as often as a reader needs."""

    path: str | None = None
    data: bytes | None = None

    def open(self) -> BinaryIO:
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return open(self.path, "rb")  # noqa: SIM115 - callers close it

    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        assert self.path is not None
        return os.path.getsize(self.path)

    def read(self) -> bytes:
        """All of it (the caller checked its size)."""
        if self.data is not None:
            return self.data
        with self.open() as f:
            return f.read()

    def head(self) -> bytes:
        if self.data is not None:
            return self.data[:HEAD]
        with self.open() as f:
            return f.read(HEAD)


class _CountingReader(io.RawIOBase):
    """Counts the compressed bytes a decompressor has pulled so far."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.inner.read(len(b))
        n = len(data)
        b[:n] = data
        self.count += n
        return n


class _GuardedStream(io.RawIOBase):
    """A decompressed stream that charges the budget and enforces the ratio on
    every read, so a bomb stops within one BLOCK of crossing a limit."""

    def __init__(
        self, inner: BinaryIO, counter: _CountingReader, limits: ArchiveLimits, budget: _Budget
    ) -> None:
        self.inner = inner
        self.counter = counter
        self.limits = limits
        self.budget = budget
        self.out = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.inner.read(min(len(b), BLOCK))
        n = len(data)
        b[:n] = data
        self.out += n
        self.budget.take(n)
        _check_ratio(self.out, self.counter.count, self.limits)
        return n


def _read_member(
    stream: BinaryIO,
    limits: ArchiveLimits,
    budget: _Budget | None,
    compressed: Callable[[], int] | None,
) -> bytes:
    """Read a whole member in BLOCK steps (`_collect`)."""
    return _collect(iter(partial(stream.read, BLOCK), b""), limits, budget, compressed)


def _collect(
    blocks: Iterable[bytes],
    limits: ArchiveLimits,
    budget: _Budget | None,
    compressed: Callable[[], int] | None,
) -> bytes:
    """A member's bytes from its blocks as they come out, checking size, budget and ratio
    after each block. `budget`/`compressed` are None when a guarded stream below
    already does that accounting."""
    buf = io.BytesIO()
    n = 0
    for block in blocks:
        n += len(block)
        if n > limits.max_member_size:
            raise _Limit(_member_size_reason(limits))
        if budget is not None:
            budget.take(len(block))
        if compressed is not None:
            _check_ratio(n, compressed(), limits)
        buf.write(block)
    return buf.getvalue()


# --- format recognition ----------------------------------------------------------------

_TAR_SUFFIXES = (".tar", ".tgz", ".tbz", ".tbz2", ".txz", ".tar.gz", ".tar.bz2", ".tar.xz")


def archive_kind(head: bytes, location: str) -> str | None:
    """Format by magic bytes; the extension only helps where magic is absent
    (old v7 tars, zips with a prefix such as self-extractors)."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return "zip"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if head.startswith(b"Rar!\x1a\x07"):
        return "rar"
    if head.startswith(b"\x1f\x8b"):
        return "gz"
    if head.startswith(b"BZh") and head[3:4].isdigit():
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zst"
    if head[257:262] == b"ustar":
        return "tar"
    if head.startswith(b"\x04\x22\x4d\x18"):
        return "lz4"
    if head.startswith(b"LZIP"):
        return "lzip"
    if head.startswith(b"\x1f\x9d"):
        return "Z"
    if _UUENCODED.match(head):
        return "uu"
    if head.startswith(PGDUMP_MAGIC):
        return "pgdump"
    name = location.rsplit("!", 1)[-1].lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith(".7z"):
        return "7z"
    if name.endswith(".tar"):
        return "tar"
    return None


PGDUMP_MAGIC = b"PGDMP"  # pg_dump's own format (archive_pgdump)

# Single streams read with libarchive (archive_libarchive.iter_filtered): lz4, lzip,
# compress (.Z), and uuencode, which starts with its "begin" line.
_STREAMS = ("lz4", "lzip", "Z", "uu")
_UUENCODED = re.compile(rb"begin [0-7]{3,4} ([^\r\n]+)\r?\n")


def _inner_name(location: str, kind: str) -> str:
    """Name of the single file inside a .gz/.bz2/.xz/.zst: the outer name minus its suffix."""
    base = location.rsplit("!", 1)[-1].rsplit("/", 1)[-1]
    low = base.lower()
    for suffix, repl in ((".tgz", ".tar"), (".tbz2", ".tar"), (".tbz", ".tar"), (".txz", ".tar"),
                         (".tzst", ".tar"), (".gz", ""), (".bz2", ""), (".xz", ""),
                         (".zst", ""), (".lz4", ""), (".lz", ""), (".z", ""), (".uue", ""),
                         (".uu", "")):
        if low.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)] + repl
    return base


_OPENERS: dict[str, Callable[[BinaryIO], io.BufferedIOBase]] = {
    "gz": lambda f: gzip.GzipFile(fileobj=f, mode="rb"),
    "bz2": lambda f: bz2.BZ2File(f, mode="rb"),
    "xz": lambda f: lzma.LZMAFile(f, mode="rb"),
    "zst": lambda f: zstd.ZstdFile(f, mode="rb"),
}

# What a broken archive raises, by layer. Never forwarded: only the type name.
_CORRUPT = (
    zipfile.BadZipFile, tarfile.TarError, zlib.error, lzma.LZMAError, EOFError, OSError,
    ValueError, NotImplementedError, KeyError, IndexError, RuntimeError, struct.error,
    zstd.ZstdError,
)  # and py7zr's errors (archive_7z)


def _corrupt(kind: str, exc: BaseException) -> str:
    return f"corrupt archive: {kind} ({type(exc).__name__})"


# --- the expansion ---------------------------------------------------------------------


def _expand(
    src: _Source, location: str, depth: int, limits: ArchiveLimits, budget: _Budget
) -> Iterator[Member]:
    head = src.head()
    kind = archive_kind(head, location)
    if kind is None:
        if src.data is None and src.size() > limits.max_member_size:
            yield Member(location, None, _too_large(limits))
            return
        data = src.read()
        yield from _document_or_plain(data, location, depth, limits, budget)
        mail_kind = mail.mail_kind(head)
        if mail_kind is not None:
            yield from _mail_parts([data], mail_kind, location, depth, limits, budget)
        elif documents.document_kind(head) is None:
            found = base64_blobs.blobs(data, limits.max_member_size)
            yield from _base64_parts(found, location, depth, limits, budget)
        return
    if depth >= limits.max_depth:
        yield Member(location, None, _too_deep(limits))
        return
    if kind == "zip":
        members = _iter_zip(src, location, depth, limits, budget)
    elif kind == "tar":
        members = _iter_tar(src, location, depth, limits, budget, None)
    elif kind == "7z":
        from .archive_7z import iter_7z  # py7zr only when a 7z is opened (0.1 s of import)

        members = iter_7z(src, location, depth, limits, budget)
    elif kind == "pgdump":
        from .archive_pgdump import iter_pgdump

        members = iter_pgdump(src, location, depth, limits, budget)
    elif kind == "rar" or kind in _STREAMS:
        with_libarchive = _libarchive()
        if with_libarchive is None:
            yield Member(location, None, f"unsupported: {kind} data, {_NO_LIBARCHIVE}")
            return
        members = (with_libarchive.iter_rar(src, location, depth, limits, budget)
                   if kind == "rar" else
                   with_libarchive.iter_filtered(src, location, depth, limits, budget, kind))
    else:
        members = _iter_compressed(src, location, depth, limits, budget, kind)
    yield from _or_text(members, src, location, depth, limits, budget)


def _or_text(members: Iterator[Member], src: _Source, location: str, depth: int,
             limits: ArchiveLimits, budget: _Budget) -> Iterator[Member]:
    """An archive's members; but an "archive" that is corrupt before anything came out of
    it, and whose bytes read as text all over, is text behind an archive's magic bytes
    (put there to hide a dump from a monitor, or a truncated zip of stored text files),
    and is read as a plain input instead."""
    first = next(members, None)
    if first is None:
        return
    if (first.location == location and first.data is None
            and (first.skipped_reason or "").startswith("corrupt archive")
            and src.size() <= limits.max_member_size):
        data = src.read()
        if decode.text_all_over(data):
            yield from _document_or_plain(data, location, depth, limits, budget)
            return
    yield first
    yield from members


def _mail_parts(blocks: Iterable[bytes], kind: str, location: str, depth: int,
                limits: ArchiveLimits, budget: _Budget) -> Iterator[Member]:
    """After a message's or mailbox's own bytes: its parts whose transfer encoding hides
    them (`matchers.mail`), each decoded and read as an input, attachments expanded."""
    for n, message in enumerate(mail.messages(blocks, kind, limits.max_member_size), 1):
        at = f"{location}!msg:{n}" if kind == "mbox" else location
        if message is None:
            yield Member(at, None, _too_large(limits))
            continue
        try:
            parts = list(mail.encoded_parts(message))  # at most the message's size
        except mail.BROKEN as exc:
            yield Member(at, None, documents.failed("mail", exc))
            continue
        for part in parts:
            loc = f"{at}!{part.name}"
            if not budget.allow_members(1):
                yield from _stopped(location, _too_many(limits))
            if part.data is None:
                yield Member(loc, None, part.reason)
                continue
            yield from _inner(part.data, loc, location, depth, limits, budget, counted=True)


def _base64_parts(found: Iterator[base64_blobs.Blob], location: str, depth: int,
                  limits: ArchiveLimits, budget: _Budget) -> Iterator[Member]:
    """After a text's own bytes: its base64 blobs (`matchers.base64_blobs`) that decode
    to text, an archive or a document, each read as an input. A blob that decodes to
    anything else (an image, a key) is left: its characters were read as text."""
    for blob in found:
        loc = f"{location}!{blob.encoding}:{blob.start}"
        if blob.data is None:
            yield Member(loc, None, _too_large(limits))
            continue
        if not _readable(blob.data):
            continue
        if depth >= limits.max_depth:
            yield Member(loc, None, _too_deep(limits))
            return
        yield from _inner(blob.data, loc, location, depth, limits, budget)


# A decoded blob in a single-byte code page is read when fewer of its bytes are over 0x7F:
# Finnish or Swedish text has a few in a hundred, random bytes (a key, an image's
# compressed data) half.
_MAX_HIGH_SHARE = 0.3
_HIGH_SAMPLE = 64 << 10
_LOW_BYTES = bytes(range(0x80))


def _readable(data: bytes) -> bool:
    """Is a decoded blob text, an archive or a document (not an image, a key or noise
    that happened to be base64's alphabet)?"""
    head = data[:HEAD]
    if archive_kind(head, "") is not None or documents.document_kind(head) is not None:
        return True
    judged = decode.judge(data)
    if judged.text is None:
        return False
    if judged.encoding.startswith("utf-"):
        return True
    sample = data[:_HIGH_SAMPLE]
    return len(sample.translate(None, _LOW_BYTES)) <= _MAX_HIGH_SHARE * len(sample)


def iter_encoded_parts(path: str, limits: ArchiveLimits = DEFAULT_LIMITS,
                       regions: list[tuple[int, int]] | None = None) -> Iterator[Member]:
    """What a text file's own bytes encode, read a block at a time: a message's or
    mailbox's decoded parts (`_mail_parts`), or any other text's base64 blobs
    (`_base64_parts`). For a file whose own bytes are scanned in ranges
    (matchers.scanfiles). `regions`: where its blobs may lie (`base64_blobs.Regions`, found
    while another reader read it): only those are read."""
    try:
        fh = open(path, "rb")
    except OSError:
        return  # gone or unreadable since: the scan of its own bytes says so
    try:
        with fh:
            kind = mail.mail_kind(fh.read(HEAD))
            fh.seek(0)
            blocks = iter(lambda: fh.read(mail.BLOCK), b"")
            if kind is not None:
                yield from _mail_parts(blocks, kind, path, 0, limits, _Budget(limits))
                return
            if regions is not None:
                found = base64_blobs.blobs_in_regions(partial(_read_at, fh), regions,
                                                      limits.max_member_size)
            else:
                found = base64_blobs.blobs_in_blocks(blocks, limits.max_member_size)
            yield from _base64_parts(found, path, 0, limits, _Budget(limits))
    except _StopInput:
        return
    except OSError as exc:
        yield Member(path, None, f"unreadable: {type(exc).__name__}")


def _read_at(fh: BinaryIO, at: int, n: int) -> bytes:
    fh.seek(at)
    return fh.read(n)


def _inner(data: bytes, loc: str, location: str, depth: int, limits: ArchiveLimits,
           budget: _Budget, counted: bool = False) -> Iterator[Member]:
    """A file inside an input (decoded, attached or embedded) at `loc`: counted as one of
    `location`'s members (unless `counted` already) and in the unpacked total, then
    expanded as an input of its own."""
    if not counted and not budget.allow_members(1):
        yield from _stopped(location, _too_many(limits))
    try:
        budget.take(len(data))
    except _Limit as lim:
        yield from _stopped(loc, lim)
    yield from _descend(data, loc, depth, limits, budget)


_NO_LIBARCHIVE = "and this machine has no libarchive to read it (install libarchive13)"


def _libarchive():  # noqa: ANN202 - the module, or None
    """`archive_libarchive` (RAR, AES zips, lz4/lzip/.Z/uuencode), imported when first
    needed; None on a machine without libarchive.so.13."""
    try:
        from . import archive_libarchive
    except (ImportError, OSError, AttributeError):
        return None
    return archive_libarchive


def _descend(
    data: bytes, location: str, depth: int, limits: ArchiveLimits, budget: _Budget
) -> Iterator[Member]:
    yield from _expand(_Source(data=data), location, depth + 1, limits, budget)


def _iter_zip(
    src: _Source, location: str, depth: int, limits: ArchiveLimits, budget: _Budget
) -> Iterator[Member]:
    try:
        fobj = src.open()
        zf = zipfile.ZipFile(fobj)
    except _CORRUPT as exc:
        yield Member(location, None, _corrupt("zip", exc))
        return
    with fobj, zf:
        names = [i.filename for i in zf.infolist() if not i.is_dir()]

        def read(name: str) -> bytes:
            return _zip_member(zf, name, limits, budget, src)

        try:
            office = office_kind(names, read)
        except (_Limit, ExtractError, *_CORRUPT):
            office = None  # a damaged or encrypted "mimetype": read it as a plain zip
        if office is not None:
            parts = office_parts(office, names, read, _text_budget(limits))
            yield from _document(parts, office, location, depth, limits, budget)
            # then the files embedded in it (a workbook in a letter), each an input
            embedded = [i for i in zf.infolist() if is_embedded(office, i.filename)]
            yield from _zip_members(zf, src, embedded, location, depth, limits, budget)
            return
        yield from _zip_members(zf, src, zf.infolist(), location, depth, limits, budget)


def _zip_members(zf: zipfile.ZipFile, src: _Source, infos: list[zipfile.ZipInfo],
                 location: str, depth: int, limits: ArchiveLimits,
                 budget: _Budget) -> Iterator[Member]:
    """These members of a zip, each expanded as an input of its own. The AES-encrypted
    ones, which zipfile cannot decrypt, are read last, in one pass of libarchive's
    (also when the member limit ends the zip: they were counted)."""
    aes: dict[str, int] = {}
    for info in infos:
        if info.is_dir():
            continue
        if not budget.allow_members(1):
            yield from _zip_aes(src, aes, location, depth, limits, budget)
            yield from _stopped(location, _too_many(limits))
        loc = f"{location}!{info.filename}"
        if _is_aes(info) and limits.passwords and info.filename not in aes:
            try:  # what the headers admit, before anything is decrypted
                _zip_sizes(info, limits)
            except _Limit as lim:
                yield from _stopped(loc, lim)
                continue
            aes[info.filename] = info.compress_size
            continue
        try:
            data = _zip_member(zf, info, limits, budget, src)
        except ExtractError as exc:
            yield Member(loc, None, exc.reason)
            continue
        except _Limit as lim:
            yield from _stopped(loc, lim)
            continue
        except _CORRUPT as exc:
            reason = (f"unsupported: zip compression method {info.compress_type}"
                      if isinstance(exc, NotImplementedError) else _corrupt("zip", exc))
            yield Member(loc, None, reason)
            continue
        yield from _descend(data, loc, depth, limits, budget)
    yield from _zip_aes(src, aes, location, depth, limits, budget)


def _zip_aes(src: _Source, aes: dict[str, int], location: str, depth: int,
             limits: ArchiveLimits, budget: _Budget) -> Iterator[Member]:
    """The AES-encrypted members named in `aes` (name: compressed size), with libarchive."""
    if not aes:
        return
    with_libarchive = _libarchive()
    if with_libarchive is None:
        for name in aes:
            yield Member(f"{location}!{name}", None,
                         f"encrypted: AES-encrypted zip member, {_NO_LIBARCHIVE}")
        return
    yield from with_libarchive.iter_zip_aes(src, aes, location, depth, limits, budget)


_ZIP_AES = 99  # WinZip AES: zipfile reads only the old ZipCrypto encryption


def _is_aes(info: zipfile.ZipInfo) -> bool:
    return bool(info.flag_bits & 0x1) and info.compress_type == _ZIP_AES


def _zip_sizes(info: zipfile.ZipInfo, limits: ArchiveLimits) -> None:
    """Headers can lie (that is how bombs hide), but when they admit to a bomb there is
    no need to inflate anything: _Limit."""
    if info.file_size > limits.max_member_size:
        raise _Limit(_member_size_reason(limits))
    _check_ratio(info.file_size, info.compress_size, limits)


def _zip_member(zf: zipfile.ZipFile, member: zipfile.ZipInfo | str, limits: ArchiveLimits,
                budget: _Budget, src: _Source) -> bytes:
    """Inflate one member of the zip `src` under the limits, trying the passwords on an
    encrypted one. Raises _Limit, ExtractError (encrypted) or what zipfile raises."""
    info = zf.getinfo(member) if isinstance(member, str) else member
    _zip_sizes(info, limits)
    if info.compress_type == _DEFLATE64 and not info.flag_bits & 0x1:
        return _deflate64(src, info, limits, budget)
    if not info.flag_bits & 0x1:
        return _inflate(zf, info, None, limits, budget)
    if info.compress_type == _ZIP_AES:  # with passwords, `_zip_members` has libarchive read it
        raise ExtractError(f"encrypted: AES-encrypted zip member{_none_fits(limits)}")
    for password in limits.passwords:
        try:
            return _inflate(zf, info, password.encode("utf-8"), limits, budget)
        except (RuntimeError, zipfile.BadZipFile):
            # a wrong password: refused by the check byte, or (1 in 256) by the CRC at the end
            continue
    raise ExtractError(f"encrypted: password-protected member{_none_fits(limits)}")


# Deflate64 ("enhanced deflate"): what Windows Explorer writes into a zip of more than
# 2 GB, every member of it. zipfile cannot inflate it; inflate64 (py7zr's) can.
_DEFLATE64 = 9
_DEFLATE64_PIECE = 4 * KiB  # compressed bytes per inflate call: a bomb's output per call
                            # stays under ~100 MB (inflate64 has no output bound)


def _deflate64(src: _Source, info: zipfile.ZipInfo, limits: ArchiveLimits,
               budget: _Budget) -> bytes:
    """A Deflate64 member, from its local header on, under the member size, the budget
    and the ratio, its CRC checked. Raises _Limit, BadZipFile, ValueError (inflate64)."""
    import inflate64

    with src.open() as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if len(local) < 30 or local[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile("no local header")
        name_size, extra_size = struct.unpack("<HH", local[26:30])
        f.seek(info.header_offset + 30 + name_size + extra_size)
        inflater = inflate64.Inflater()
        read = [0]  # compressed bytes fed so far

        def inflated() -> Iterator[bytes]:
            while read[0] < info.compress_size and not inflater.eof:
                piece = f.read(min(_DEFLATE64_PIECE, info.compress_size - read[0]))
                if not piece:
                    raise EOFError
                read[0] += len(piece)
                yield inflater.inflate(piece)

        data = _collect(inflated(), limits, budget, lambda: read[0])
    if zlib.crc32(data) != info.CRC or len(data) != info.file_size:
        raise zipfile.BadZipFile("CRC or size")
    return data


def _inflate(zf: zipfile.ZipFile, info: zipfile.ZipInfo, password: bytes | None,
             limits: ArchiveLimits, budget: _Budget) -> bytes:
    with zf.open(info, pwd=password) as stream:
        return _read_member(stream, limits, budget, lambda: info.compress_size)


# --- documents: their text is the member --------------------------------------------


def _text_budget(limits: ArchiveLimits) -> TextBudget:
    return TextBudget(limits.max_member_size, limits.document_timeout_s)


def _document_or_plain(
    data: bytes, location: str, depth: int, limits: ArchiveLimits, budget: _Budget
) -> Iterator[Member]:
    """A SQLite database, PDF, RTF, DICOM, MongoDB dump or legacy Office document becomes
    its text parts, an Outlook message or a TNEF (winmail.dat) its text and attachments;
    anything else is one member."""
    kind = documents.document_kind(data[:documents.KIND_HEAD])
    if kind == "sqlite":
        yield from _document(sqlite_parts(data, _text_budget(limits)), kind, location, depth,
                             limits, budget)
    elif kind == "pdf":
        yield from _document(pdf_parts(data, _text_budget(limits), limits.passwords), kind,
                             location, depth, limits, budget)
    elif kind == "rtf":
        yield from _document(rtf_parts(data, _text_budget(limits)), kind, location, depth,
                             limits, budget)
    elif kind == "ole2":
        yield from _ole2(data, location, depth, limits, budget)
    elif kind == "dicom":
        yield from _document(dicom_parts(data, _text_budget(limits)), kind, location, depth,
                             limits, budget)
    elif kind == "tnef":
        try:
            message = read_tnef(data, _text_budget(limits))
        except ExtractError as exc:
            yield Member(location, None, exc.reason)
            return
        yield from _outlook_message(message, location, depth, limits, budget)
    elif kind == "mongo archive":
        yield from _document(archive_parts(data, _text_budget(limits)), "bson", location,
                             depth, limits, budget)
    elif is_bson(data):  # (no magic bytes: told by its structure)
        yield from _document(bson_parts(data, _text_budget(limits)), "bson", location, depth,
                             limits, budget)
    else:
        yield Member(location, data, None)


_OLE2_READERS = {"doc": doc_parts, "ppt": ppt_parts}  # (xlrd reads a workbook's own bytes)


def _ole2(data: bytes, location: str, depth: int, limits: ArchiveLimits,
          budget: _Budget) -> Iterator[Member]:
    """A legacy Office file (`ole.ole2_kind`): its text, then the objects embedded in
    it; an Outlook message's text, bodies and attachments; an embedded object's file.
    The container is opened once for all of it."""
    inner: list[ole.Embedded] = []
    message: Message | None = None
    try:
        with ole.open_ole(data, "ole2") as container:
            kind = ole.ole2_kind(container)
            if kind in ("doc", "xls", "ppt"):
                text_budget = _text_budget(limits)
                parts = (xls_parts(data, container, text_budget) if kind == "xls"
                         else _OLE2_READERS[kind](container, text_budget))
                yield from _document(parts, kind, location, depth, limits, budget)
                if kind != "ppt":  # (a .ppt keeps its objects compressed in records)
                    try:
                        inner = ole.embedded_objects(container, kind)
                    except ExtractError as exc:
                        yield Member(f"{location}!objects", None, exc.reason)
            elif kind == "msg":
                message = read_msg(container, _text_budget(limits))
            elif kind == "object":
                inner = [ole.object_bytes(container, [])]
    except ExtractError as exc:
        yield Member(location, None, exc.reason)
        return
    if message is not None:
        yield from _outlook_message(message, location, depth, limits, budget)
    elif kind in ole.OLE2_REASONS:
        yield Member(location, None, ole.OLE2_REASONS[kind])
    yield from _embedded(inner, location, depth, limits, budget, numbered=kind != "object")


def _embedded(objects: list[ole.Embedded], location: str, depth: int, limits: ArchiveLimits,
              budget: _Budget, numbered: bool = True) -> Iterator[Member]:
    """Embedded objects, each an input of its own: ``doc!object:2`` (by its number),
    and by the file name it was packaged with (``doc!object:2!potilaat.csv``). The one
    file of an object's wrapper (`numbered` False) is read at the wrapper's location."""
    for n, obj in enumerate(objects, 1):
        loc = f"{location}!object:{n}" if numbered else location
        loc = f"{loc}!{obj.name}" if obj.name else loc
        if obj.reason is not None:
            yield Member(loc, None, obj.reason)
            continue
        yield from _inner(obj.data, loc, location, depth, limits, budget)


def _outlook_message(message: Message, location: str, depth: int, limits: ArchiveLimits,
                     budget: _Budget) -> Iterator[Member]:
    """An Outlook message's text, then its HTML and RTF bodies and its attachments,
    each an input of its own; an attached message the same way, one level deeper."""
    yield from _document(iter([Part("", message.text, "msg")]), "msg", location, depth,
                         limits, budget)
    if message.rtf_reason is not None:
        yield Member(f"{location}!body.rtf", None, message.rtf_reason)
    inputs = [("body.html", message.html), ("body.rtf", message.rtf)]
    inputs += [(a.name, a.data) for a in message.attachments if a.data is not None]
    for name, data in inputs:
        if data is not None:
            yield from _inner(data, f"{location}!{name}", location, depth, limits, budget)
    for att in message.attachments:
        loc = f"{location}!{att.name}"
        if att.reason is not None:
            yield Member(loc, None, att.reason)
        elif att.message is not None and depth + 1 >= limits.max_depth:
            yield Member(loc, None, _too_deep(limits))
        elif att.message is not None:
            yield from _outlook_message(att.message, loc, depth + 1, limits, budget)


def _document(parts: Iterator[Part], fmt: str, location: str, depth: int,
              limits: ArchiveLimits, budget: _Budget) -> Iterator[Member]:
    """Each extracted part as a member (`location` + the part's suffix); a failure or a
    limit after some parts reports the document, the parts before it stand. A file
    embedded in the document (a part with `data`) is expanded as an input of its own,
    after the document's text."""
    files: list[Part] = []
    try:
        for part in parts:
            if part.suffix and not budget.allow_members(1):
                yield from _stopped(location, _too_many(limits))
            if part.reason is not None:
                yield Member(location + part.suffix, None, part.reason)
                continue
            if part.data is not None:
                files.append(part)
                continue
            text = part.text.encode("utf-8", "replace")
            budget.take(len(text))
            yield Member(location + part.suffix, text, None, part.fmt)
    except ExtractError as exc:
        yield Member(location, None, exc.reason)
    except _Limit as lim:
        yield from _stopped(location, lim)
    except _CORRUPT as exc:
        yield Member(location, None, documents.failed(fmt, exc))
    for part in files:  # (counted as members above)
        assert part.data is not None
        yield from _inner(part.data, location + part.suffix, location, depth, limits, budget,
                          counted=True)


def _iter_tar(
    src: _Source,
    location: str,
    depth: int,
    limits: ArchiveLimits,
    budget: _Budget,
    compression: str | None,
) -> Iterator[Member]:
    """A tar, optionally inside gz/bz2/xz/zst, read as one guarded stream (tarfile's
    "r|" mode never seeks, so nothing is inflated twice)."""
    label = f"tar.{compression}" if compression else "tar"
    fobj = src.open()
    with fobj:
        counter = _CountingReader(fobj)
        try:
            raw: BinaryIO = _OPENERS[compression](counter) if compression else counter  # type: ignore[assignment]
            guarded = _GuardedStream(raw, counter, limits, budget)
            tf = tarfile.open(fileobj=guarded, mode="r|")  # type: ignore[arg-type]
        except _Limit as lim:
            yield from _stopped(location, lim)
            return
        except _CORRUPT as exc:
            yield Member(location, None, _corrupt(label, exc))
            return
        with tf:
            loc = location
            while True:
                try:
                    info = tf.next()
                    if info is None:
                        break
                    if not info.isreg():
                        continue
                    if not budget.allow_members(1):
                        yield from _stopped(location, _too_many(limits))
                    loc = f"{location}!{info.name}"
                    if info.size > limits.max_member_size:
                        yield Member(loc, None, _member_size_reason(limits))
                        continue
                    sparse = _sparse_problem(info, limits, budget)
                    if sparse is not None:
                        # the header admits it: skip its stored bytes, read on
                        yield from _stopped(loc, sparse)
                        continue
                    stream = tf.extractfile(info)
                    assert stream is not None
                    data = _read_member(stream, limits, None, None)
                except _Limit as lim:
                    # The stream itself is the bomb: nothing after this point is trusted.
                    yield from _stopped(loc, lim)
                    return
                except _CORRUPT as exc:
                    yield Member(loc, None, _corrupt(label, exc))
                    return
                yield from _descend(data, loc, depth, limits, budget)


def _sparse_problem(info: tarfile.TarInfo, limits: ArchiveLimits,
                    budget: _Budget) -> _Limit | None:
    """A sparse member's holes are zeros tarfile makes up, never bytes of the stream, so
    no guard below sees them: its declared size counts against the ratio (to the bytes
    it stores) and its holes against the budget, before anything is read."""
    if info.sparse is None:
        return None
    stored = sum(n for _, n in info.sparse)
    if info.size > limits.ratio_grace and info.size > limits.max_ratio * max(stored, 1):
        return _Limit(f"archive bomb: sparse member of {_size(info.size)} stores "
                      f"{_size(stored)}")
    try:
        budget.take(max(0, info.size - stored))
    except _Limit as lim:
        return lim
    return None


def _iter_compressed(
    src: _Source, location: str, depth: int, limits: ArchiveLimits, budget: _Budget, kind: str
) -> Iterator[Member]:
    """.gz/.bz2/.xz/.zst: a tar inside is expanded in the same layer (x.tgz!member);
    anything else is one member named after the file (x.sql.gz!x.sql)."""
    try:
        with src.open() as f, _OPENERS[kind](f) as peek:
            inner_head = peek.read(HEAD)
    except _CORRUPT as exc:
        yield Member(location, None, _corrupt(kind, exc))
        return
    if inner_head[257:262] == b"ustar":
        yield from _iter_tar(src, location, depth, limits, budget, kind)
        return
    loc = f"{location}!{_inner_name(location, kind)}"
    try:
        with src.open() as f:
            counter = _CountingReader(f)
            with _OPENERS[kind](counter) as raw:  # type: ignore[arg-type]
                guarded = _GuardedStream(raw, counter, limits, budget)
                data = _read_member(guarded, limits, None, None)  # type: ignore[arg-type]
    except _Limit as lim:
        yield from _stopped(loc, lim)
        return
    except _CORRUPT as exc:
        yield Member(loc, None, _corrupt(kind, exc))
        return
    yield from _descend(data, loc, depth, limits, budget)


def _none_fits(limits: ArchiveLimits) -> str:
    return " (no password of the password file fits)" if limits.passwords else ""


# --- public entry points ---------------------------------------------------------------


def iter_members(
    path_or_bytes: str | os.PathLike[str] | bytes,
    location: str,
    limits: ArchiveLimits = DEFAULT_LIMITS,
) -> Iterator[Member]:
    """Every scannable member of one input, archives expanded recursively.

    A plain file yields one Member at `location`; archive members get
    `location!name`, nested ones `location!a.zip!name`. Limits apply per call:
    each input has its own total budget.
    """
    if isinstance(path_or_bytes, bytes | bytearray | memoryview):
        src = _Source(data=bytes(path_or_bytes))
    else:
        src = _Source(path=os.fspath(path_or_bytes))
    budget = _Budget(limits)
    try:
        yield from _expand(src, location, 0, limits, budget)
    except _StopInput:
        return
    except OSError as exc:  # the input itself vanished or is unreadable
        yield Member(location, None, f"unreadable: {type(exc).__name__}")


def _read_stdin(limits: ArchiveLimits) -> bytes | None:
    """All of stdin, or None when it exceeds max_member_size."""
    stream = sys.stdin.buffer
    buf = io.BytesIO()
    while True:
        block = stream.read(BLOCK)
        if not block:
            return buf.getvalue()
        buf.write(block)
        if buf.tell() > limits.max_member_size:
            return None


def _walk(root: str) -> Iterator[tuple[str, str | None]]:
    """(path, problem) for every file below root, sorted by name at each level
    so two runs over the same tree see the same order. Symlinked directories
    are not followed (loops); symlinked files are."""
    try:
        with os.scandir(root) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        yield root, f"unreadable directory: {type(exc).__name__}"
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(entry.path)
            elif entry.is_file():
                yield entry.path, None
            elif entry.is_symlink() and not os.path.exists(entry.path):
                yield entry.path, "not found: broken symlink"
            elif not entry.is_symlink():
                yield entry.path, "not a regular file"
        except OSError as exc:
            yield entry.path, f"unreadable: {type(exc).__name__}"


def iter_paths(paths: list[str], limits: ArchiveLimits = DEFAULT_LIMITS) -> Iterator[Member]:
    """Members of files, directories (recursive, sorted) and "-" (stdin), in order."""
    for path in paths:
        if path == "-":
            data = _read_stdin(limits)
            if data is None:
                yield Member(STDIN_LOCATION, None, _too_large(limits))
            else:
                yield from iter_members(data, STDIN_LOCATION, limits)
        elif os.path.isdir(path):
            for file_path, problem in _walk(path):
                if problem is not None:
                    yield Member(file_path, None, problem)
                else:
                    yield from iter_members(file_path, file_path, limits)
        elif os.path.isfile(path):
            yield from iter_members(path, path, limits)
        elif not os.path.exists(path):
            yield Member(path, None, "not found")
        else:
            yield Member(path, None, "not a regular file")
