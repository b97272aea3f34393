"""PostgreSQL's own dump format, read: `pg_dump -Fc` ("custom"), the usual way a
PostgreSQL database is backed up, and so a usual way a database leaks. Its table data is
compressed (zlib by default; lz4 or zstd since PostgreSQL 16), so the people in it were
"binary" to a scan. Imported only when such a file is met.

The file (pg_dump's pg_backup_archiver.c and pg_backup_custom.c) is a header, a table of
contents (TOC) and then the data blocks, one after the other:

* numbers are a sign byte and `int_size` bytes, least significant first; strings a
  number (their length, -1 for none) and their bytes;
* a TOC entry holds the SQL that makes an object (CREATE TABLE, COMMENT ON, ...) and,
  for a table's data, the COPY statement its rows are for;
* a data block is a type byte, the id of its TOC entry, then the data as chunks, each a
  number (its length) and its bytes, up to a chunk of length 0. The chunks together are
  one compressed stream. A block of large objects holds, per object, its oid and its
  chunks, up to an oid of 0.

The blocks are read in the order they were written (with their offsets in the TOC or
without, as pg_dump writes them to a pipe), so the file is read once, front to back.

Each input becomes: `dump!toc.sql`, the TOC's SQL (comments, defaults and views may hold
data too); `dump!schema.table`, a table's rows in COPY's text form after their COPY
statement, as `pg_restore -f -` prints them; `dump!blob:OID`, a large object's bytes,
read like any file (a scanned referral stored as a PDF). The toc.dat of a dump in the
directory or tar format holds only the TOC: its data files are read as files.

Each member goes through the archive guards (its size, the input's budget and member
count, its compression ratio to its own chunks). What is not read is said: a file cut
short, a damaged stream, a version newer than this reader knows.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from .archives import (
    _NO_LIBARCHIVE,
    BLOCK,
    PGDUMP_MAGIC,
    ArchiveLimits,
    Member,
    _Budget,
    _collect,
    _descend,
    _inner,
    _libarchive,
    _Limit,
    _member_size_reason,
    _Source,
    _stopped,
    _too_many,
    zstd,
)

_CUSTOM, _TAR, _DIRECTORY = 1, 3, 5  # pg_dump's ArchiveFormat
_NONE, _GZIP, _LZ4, _ZSTD = 0, 1, 2, 3  # pg_compress_algorithm
_ALGORITHM = {_NONE: "none", _GZIP: "gzip", _LZ4: "lz4", _ZSTD: "zstd"}
_BLK_DATA, _BLK_BLOBS = 1, 3
_OFFSET_NOT_SET, _OFFSET_SET = 1, 2  # a TOC entry's data: written, where not known / known
MAX_STRING = 64 << 20  # a TOC string (SQL that makes an object) is never near this
OLDEST, NEWEST = (1, 10), (1, 16)  # the archive versions of PostgreSQL 8.0 to 17 and on


class PgDumpError(Exception):
    """The file is not what its structure says: `reason` without content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _cut() -> PgDumpError:
    return PgDumpError("corrupt archive: pgdump (cut short)")


class _Reader:
    """pg_dump's numbers, strings and bytes, read from a file front to back."""

    def __init__(self, f: BinaryIO, size: int) -> None:
        self.f = f
        self.left = size
        self.int_size = 4
        self.off_size = 8

    def take(self, n: int) -> bytes:
        if n > self.left:
            raise _cut()
        data = self.f.read(n)
        if len(data) < n:
            raise _cut()
        self.left -= n
        return data

    def byte(self) -> int:
        return self.take(1)[0]

    def int(self) -> int:
        sign = self.byte()
        value = int.from_bytes(self.take(self.int_size), "little")
        return -value if sign else value

    def str(self) -> bytes | None:
        n = self.int()
        if n < 0:
            return None
        if n > MAX_STRING:  # a damaged length would have a gigabyte read into memory
            raise PgDumpError("corrupt archive: pgdump (a string of more than 64 MiB)")
        return self.take(n)  # (a length past the file's end: "cut short")

    def at_end(self) -> bool:
        return self.left == 0


@dataclass(frozen=True)
class _Header:
    version: tuple[int, int]
    fmt: int
    algorithm: int


@dataclass(frozen=True)
class _Entry:
    dump_id: int
    desc: bytes
    tag: bytes
    namespace: bytes
    defn: bytes
    copy_stmt: bytes
    has_data: bool  # a data block of its own follows the TOC

    def name(self) -> str:
        """The member name of its data: schema.table."""
        parts = [p for p in (self.namespace, self.tag) if p]
        return ".".join(p.decode("utf-8", "replace") for p in parts).replace("!", "_")


def _header(r: _Reader) -> _Header:
    r.take(len(PGDUMP_MAGIC))
    major, minor, _rev = r.byte(), r.byte(), r.byte()
    version = (major, minor)
    if major != OLDEST[0] or not OLDEST[1] <= minor <= NEWEST[1]:
        raise PgDumpError(f"unsupported: pg_dump archive version {major}.{minor} "
                          f"(vahti reads {OLDEST[0]}.{OLDEST[1]} to {NEWEST[0]}.{NEWEST[1]})")
    r.int_size = r.byte()
    r.off_size = r.byte()
    if not 1 <= r.int_size <= 8 or not 1 <= r.off_size <= 8:
        raise PgDumpError("corrupt archive: pgdump (number sizes)")
    fmt = r.byte()
    if fmt not in (_CUSTOM, _DIRECTORY, _TAR):
        raise PgDumpError(f"corrupt archive: pgdump (format {fmt})")
    if version >= (1, 15):
        algorithm = r.byte()
    else:  # a zlib level: 0 is no compression
        algorithm = _GZIP if r.int() != 0 else _NONE
    for _ in range(7):  # the time it was made
        r.int()
    r.str()  # the database's name
    r.str()  # the server's version
    r.str()  # pg_dump's version
    return _Header(version, fmt, algorithm)


def _toc(r: _Reader, h: _Header) -> list[_Entry]:
    count = r.int()
    if count < 0:
        raise PgDumpError("corrupt archive: pgdump (table of contents)")
    entries = []
    for _ in range(count):
        dump_id = r.int()
        r.int()  # had a dumper
        r.str()  # tableoid
        r.str()  # oid
        tag = r.str() or b""
        desc = r.str() or b""
        if h.version >= (1, 11):
            r.int()  # section
        defn = r.str() or b""
        r.str()  # the DROP statement
        copy_stmt = r.str() or b""
        namespace = r.str() or b""
        r.str()  # tablespace
        if h.version >= (1, 14):
            r.str()  # table access method
        if h.version >= (1, 16):
            r.int()  # relkind
        r.str()  # owner
        r.str()  # "with oids"
        while r.str() is not None:  # the ids it depends on
            pass
        has_data = False
        if h.fmt == _CUSTOM:  # where its data is: a flag byte and an offset
            has_data = r.take(1 + r.off_size)[0] in (_OFFSET_NOT_SET, _OFFSET_SET)
        elif h.fmt == _DIRECTORY or h.fmt == _TAR:
            r.str()  # the name of its data file
        entries.append(_Entry(dump_id, desc, tag, namespace, defn, copy_stmt, has_data))
    return entries


def _toc_text(entries: list[_Entry]) -> bytes:
    """The SQL of the TOC, as pg_restore prints it (without the data)."""
    return b"".join(e.defn + b"\n" for e in entries if e.defn)


# --- data blocks ---------------------------------------------------------------------


class _Chunks:
    """A data stream's chunks, in pieces of at most BLOCK, counting the bytes read (the
    compressed size, for the ratio). Where it is in a chunk is kept here, not in a
    generator: a member stopped by a limit is read on to its end (`drain`)."""

    def __init__(self, r: _Reader) -> None:
        self.r = r
        self.read = 0
        self._left = 0  # bytes of the current chunk not read yet
        self._ended = False

    def __iter__(self) -> Iterator[bytes]:
        while not self._ended:
            if self._left == 0:
                n = self.r.int()
                if n < 0:
                    raise PgDumpError("corrupt archive: pgdump (chunk length)")
                self._left = n
                self._ended = n == 0
                continue
            piece = self.r.take(min(self._left, BLOCK))
            self._left -= len(piece)
            self.read += len(piece)
            yield piece

    def drain(self) -> None:
        """Read past what is left of the stream (to the next block)."""
        for _ in self:
            pass


class _Broken(Exception):
    """A compressed stream that does not decompress (the error's type name)."""


class _Unsupported(Exception):
    """A stream this machine cannot decompress (the reason)."""


def _decompressed(chunks: _Chunks, algorithm: int, limits: ArchiveLimits) -> Iterator[bytes]:
    """The stream's bytes, at most BLOCK at a time out of a decompressor."""
    try:
        if algorithm == _NONE:
            yield from chunks
        elif algorithm == _GZIP:
            yield from _inflate(chunks)
        elif algorithm == _ZSTD:
            yield from _unzstd(chunks)
        else:
            yield from _lz4(chunks, limits)
    except (zlib.error, zstd.ZstdError) as exc:
        raise _Broken(type(exc).__name__) from None


def _inflate(chunks: _Chunks) -> Iterator[bytes]:
    """A zlib stream (pg_dump deflates with zlib's header)."""
    inflate = zlib.decompressobj()
    for piece in chunks:
        out = inflate.decompress(piece, BLOCK)
        while out:
            yield out
            out = inflate.decompress(inflate.unconsumed_tail, BLOCK)
    if not inflate.eof:
        raise zlib.error("stream ends early")


def _unzstd(chunks: _Chunks) -> Iterator[bytes]:
    """Zstandard frames (one, as pg_dump writes them, or more)."""
    unzstd, fed = zstd.ZstdDecompressor(), False
    for piece in chunks:
        data = piece
        while data or fed:
            fed = True
            out = unzstd.decompress(data, BLOCK)
            data = b""
            if out:
                yield out
            if unzstd.eof:  # a frame ended; another may follow
                data, unzstd, fed = unzstd.unused_data, zstd.ZstdDecompressor(), False
            elif unzstd.needs_input:
                break
    if fed:
        raise zstd.ZstdError("stream ends early")


def _lz4(chunks: _Chunks, limits: ArchiveLimits) -> Iterator[bytes]:
    """An LZ4 frame, decompressed by libarchive's lz4 filter (its compressed bytes held,
    at most the member size)."""
    with_libarchive = _libarchive()
    if with_libarchive is None:
        raise _Unsupported(f"unsupported: lz4 data, {_NO_LIBARCHIVE}")
    framed = bytearray()
    for piece in chunks:
        framed += piece
        if len(framed) > limits.max_member_size:
            raise _Limit(_member_size_reason(limits))
    try:
        with with_libarchive._reader(_Source(data=bytes(framed)), ("raw",), ("lz4",)) as archive:
            if not archive.filter_names:
                raise _Broken("not an LZ4 frame")
            for entry in archive:
                yield from entry.get_blocks(BLOCK)
    except with_libarchive.ArchiveError as exc:
        raise _Broken(type(exc).__name__) from None


class _UpToBreak:
    """A member's pieces up to where its stream breaks: cut short (the file ends in it) or
    damaged (it does not decompress). What came before is kept, and read."""

    def __init__(self, pieces: Iterator[bytes], algorithm: int) -> None:
        self.pieces = pieces
        self.algorithm = algorithm
        self.broken: str | None = None  # why, once it broke
        self.cut = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.pieces
        except PgDumpError as exc:
            self.broken, self.cut = exc.reason, True
        except _Broken as exc:
            self.broken = f"corrupt archive: pgdump ({_ALGORITHM[self.algorithm]} data: {exc})"
        except _Unsupported as exc:
            self.broken = str(exc)


class _Ended(Exception):
    """The file ended inside a member (said at the member): no block follows."""


def _with_head(head: bytes, blocks: Iterator[bytes]) -> Iterator[bytes]:
    if head:
        yield head
    yield from blocks


# --- the members ---------------------------------------------------------------------


def iter_pgdump(src: _Source, location: str, depth: int, limits: ArchiveLimits,
                budget: _Budget) -> Iterator[Member]:
    """The TOC's SQL, then each table's rows and each large object, as members."""
    with src.open() as f:
        r = _Reader(f, src.size())
        try:
            h = _header(r)
            entries = _toc(r, h)
        except PgDumpError as exc:
            yield Member(location, None, exc.reason)
            return
        if h.algorithm not in _ALGORITHM:
            yield Member(location, None,
                         f"unsupported: pg_dump compression method {h.algorithm}")
            return
        toc = _toc_text(entries)
        if toc:
            yield from _inner(toc, f"{location}!toc.sql", location, depth, limits, budget)
        if h.fmt != _CUSTOM:
            return  # the data is in files of its own
        by_id = {e.dump_id: e for e in entries}
        unseen = {e.dump_id for e in entries if e.has_data}
        try:
            while not r.at_end():
                yield from _block(r, h, by_id, unseen, location, depth, limits, budget)
        except PgDumpError as exc:  # between members
            yield Member(location, None, exc.reason)
        except _Ended:
            pass
        # A file cut at a block's edge ends quietly: its TOC says what it still held.
        for dump_id in sorted(unseen):
            yield Member(f"{location}!{by_id[dump_id].name()}", None,
                         "corrupt archive: pgdump (not reached: the file is cut short or "
                         "damaged before it)")


def _block(r: _Reader, h: _Header, by_id: dict[int, _Entry], unseen: set[int], location: str,
           depth: int, limits: ArchiveLimits, budget: _Budget) -> Iterator[Member]:
    kind = r.byte()
    dump_id = r.int()
    unseen.discard(dump_id)
    entry = by_id.get(dump_id)
    name = entry.name() if entry is not None else "data"
    if kind == _BLK_DATA:
        copy = entry.copy_stmt if entry is not None else b""
        yield from _stream(r, h, copy, f"{location}!{name}", depth, limits, budget)
    elif kind == _BLK_BLOBS:
        while (oid := r.int()) != 0:
            yield from _stream(r, h, b"", f"{location}!blob:{oid}", depth, limits, budget)
    else:
        raise PgDumpError(f"corrupt archive: pgdump (block type {kind})")


def _stream(r: _Reader, h: _Header, head: bytes, loc: str, depth: int, limits: ArchiveLimits,
            budget: _Budget) -> Iterator[Member]:
    """One member: `head` (its COPY statement), then its stream. A member stopped by a
    limit, or damaged, is said and the next one read; one the file ends in is read up to
    the cut and said, and ends the file."""
    if not budget.allow_members(1):
        yield from _stopped(loc, _too_many(limits))
    chunks = _Chunks(r)
    start = chunks.read
    stream = _UpToBreak(_with_head(head, _decompressed(chunks, h.algorithm, limits)),
                        h.algorithm)
    try:  # the ratio: to the member's own chunks
        data = _collect(stream, limits, budget,
                        None if h.algorithm == _NONE else lambda: chunks.read - start)
    except _Limit as lim:
        yield from _stopped(loc, lim)
        chunks.drain()
        return
    if stream.broken is None:
        yield from _descend(data, loc, depth, limits, budget)
        return
    reason = stream.broken
    if len(data) > len(head):  # (the same location: as a big file's "read failed")
        yield from _descend(data, loc, depth, limits, budget)
        reason = reason[:-1] + "; what came before it was read)"
    yield Member(loc, None, reason)
    if stream.cut:
        raise _Ended
    chunks.drain()
