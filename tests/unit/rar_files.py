"""RAR archives with stored (uncompressed) members, for tests: no free program writes RAR.

RAR 5.0 (rarlab's "RAR 5.0 archive format") and RAR 1.5-4.x (the old block format):
a signature, a main header, one file header per member followed by its bytes, and an
end header. Each header carries its CRC32, as the readers check it.
"""

from __future__ import annotations

import struct
import zlib

RAR5_SIGNATURE = b"Rar!\x1a\x07\x01\x00"
RAR4_SIGNATURE = b"Rar!\x1a\x07\x00"


def _vint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _rar5_header(body: bytes) -> bytes:
    """A RAR5 header: CRC32 of (size, body), the size of the body, the body."""
    sized = _vint(len(body)) + body
    return struct.pack("<I", zlib.crc32(sized)) + sized


def rar5(members: list[tuple[str, bytes]], volume: bool = False,
         encrypted: frozenset[str] = frozenset(), split: frozenset[str] = frozenset(),
         encrypted_headers: bool = False, continued: frozenset[str] = frozenset()) -> bytes:
    """A RAR5 archive storing `members` (name, bytes). A name in `encrypted` gets an
    encryption record (its bytes stay plain: a reader must refuse it all the same); one
    in `split` is flagged as continuing in the next volume, one in `continued` as going on
    from the previous one. `encrypted_headers` writes
    an archive encryption header (what `rar -hp` writes) and nothing after it."""
    out = bytearray(RAR5_SIGNATURE)
    if encrypted_headers:
        record = _vint(0) + _vint(0) + _vint(15) + bytes(16) + bytes(12)
        return bytes(out + _rar5_header(_vint(4) + _vint(0) + record) + bytes(64))
    out += _rar5_header(_vint(1) + _vint(0) + _vint(1 if volume else 0))  # main
    for name, data in members:
        raw = name.encode()
        extra = b""
        if name in encrypted:
            record = _vint(0x01) + _vint(0) + _vint(0) + _vint(15) + bytes(16) + bytes(16)
            extra = _vint(len(record)) + record
        flags = (0x0002 | (0x0001 if extra else 0) | (0x0010 if name in split else 0)
                 | (0x0008 if name in continued else 0))
        body = (_vint(2) + _vint(flags)
                + (_vint(len(extra)) if extra else b"") + _vint(len(data))
                + _vint(0x0004) + _vint(len(data)) + _vint(0x20)
                + struct.pack("<I", zlib.crc32(data))
                + _vint(0) + _vint(0) + _vint(len(raw)) + raw + extra)
        out += _rar5_header(body) + data
    out += _rar5_header(_vint(5) + _vint(0) + _vint(0))  # end of archive
    return bytes(out)


def _rar4_block(kind: int, flags: int, fields: bytes) -> bytes:
    size = 7 + len(fields)
    rest = struct.pack("<BHH", kind, flags, size) + fields
    return struct.pack("<H", zlib.crc32(rest) & 0xFFFF) + rest


def rar4(members: list[tuple[str, bytes]], encrypted: frozenset[str] = frozenset(),
         encrypted_headers: bool = False, volume: bool = False,
         continued: frozenset[str] = frozenset(), split: frozenset[str] = frozenset()) -> bytes:
    """A RAR 2.9-4.x archive storing `members` (method 0x30, "store"). A name in
    `encrypted` is flagged password-protected; `encrypted_headers` flags the archive's
    headers as encrypted (`rar -hp`). `volume`, `continued` and `split` as for `rar5`."""
    out = bytearray(RAR4_SIGNATURE)
    archive_flags = (0x0080 if encrypted_headers else 0) | (0x0001 if volume else 0)
    out += _rar4_block(0x73, archive_flags, bytes(6))  # two reserved fields
    for name, data in members:
        raw = name.encode()
        fields = struct.pack("<IIBIIBBHI", len(data), len(data), 2, zlib.crc32(data),
                             0x21000000, 29, 0x30, len(raw), 0x20) + raw
        flags = (0x8000 | (0x0004 if name in encrypted else 0)
                 | (0x0001 if name in continued else 0) | (0x0002 if name in split else 0))
        out += _rar4_block(0x74, flags, fields) + data
    out += _rar4_block(0x7B, 0x4000, b"")  # end of archive
    return bytes(out)
