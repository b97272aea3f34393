"""A zip whose members are Deflate64 is read: Windows Explorer writes every member of a zip
over 2 GB that way (a clinic's file share, zipped on a Windows machine, is one), and each
of them was "unsupported: zip compression method 9".

The zips are zipfile's, with their stored members replaced by Deflate64 data (inflate64's
compressor) and the headers' method, CRC and size set as Explorer writes them.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import inflate64
import pytest

from tests.unit.test_rar import CSV, NOTE, _data, _no_content_in_reasons, _reasons
from vahti.matchers.archives import iter_members


def _deflate64_zip(members: list[tuple[str, bytes]], declared: int | None = None) -> bytes:
    """`declared`: the size the headers give each member (a lie, as bombs tell it)."""
    packed = []
    for _, data in members:
        deflater = inflate64.Deflater()
        packed.append(deflater.deflate(data) + deflater.flush())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for (name, _), body in zip(members, packed, strict=True):
            zf.writestr(name, body)
    out = bytearray(buf.getvalue())
    central = out.index(b"PK\x01\x02")
    for (_, data), info in zip(members, zipfile.ZipFile(io.BytesIO(bytes(out))).infolist(),
                                  strict=True):
        fields = (9, zlib.crc32(data))
        at = info.header_offset  # local header: method at 8, CRC at 14, size at 22
        struct.pack_into("<H", out, at + 8, fields[0])
        struct.pack_into("<I", out, at + 14, fields[1])
        struct.pack_into("<I", out, at + 22, len(data) if declared is None else declared)
        at = out.index(b"PK\x01\x02", central)  # its central entry: 10, 16, 24
        struct.pack_into("<H", out, at + 10, fields[0])
        struct.pack_into("<I", out, at + 16, fields[1])
        struct.pack_into("<I", out, at + 24, len(data) if declared is None else declared)
        central = at + 4
    return bytes(out)


@pytest.mark.parametrize("on_disk", [True, False], ids=["file", "bytes"])
def test_deflate64_members_are_read(tmp_path: Path, on_disk: bool) -> None:
    data = _deflate64_zip([("potilaat.csv", CSV), ("kansio/lahete.txt", NOTE)])
    assert {i.compress_type for i in zipfile.ZipFile(io.BytesIO(data)).infolist()} == {9}
    path = tmp_path / "jako.zip"
    path.write_bytes(data)
    got = list(iter_members(str(path) if on_disk else data, "jako.zip"))
    assert _data(got) == {"jako.zip!potilaat.csv": CSV, "jako.zip!kansio/lahete.txt": NOTE}
    assert not _reasons(got)


def test_a_damaged_deflate64_member_is_reported_and_the_others_read() -> None:
    data = bytearray(_deflate64_zip([("potilaat.csv", CSV * 20), ("lahete.txt", NOTE)]))
    at = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("potilaat.csv").header_offset
    for i in range(at + 60, at + 90):
        data[i] ^= 0x5A
    got = list(iter_members(bytes(data), "jako.zip"))
    assert _reasons(got)["jako.zip!potilaat.csv"].startswith("corrupt archive: zip (")
    assert _data(got) == {"jako.zip!lahete.txt": NOTE}
    _no_content_in_reasons(got)


def test_a_deflate64_bomb_stops_early() -> None:
    """By its headers when they admit it, by the running count when they lie."""
    zeros = [("nollat.csv", bytes(300 << 20))]
    for declared in (None, 1000):
        got = list(iter_members(_deflate64_zip(zeros, declared), "jako.zip"))
        assert _reasons(got) == {"jako.zip!nollat.csv": "archive bomb: compression ratio over 100"}
