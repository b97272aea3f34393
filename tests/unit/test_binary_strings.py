"""A binary input vahti has no reader for has its text strings read, as strings(1) finds
them, and is still reported: before, a database file or a memory dump was "binary" and
the people in it unfound.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from benchmarks.scan_throughput import build_index
from vahti.demo import synthetic
from vahti.matchers import binary_strings, native
from vahti.matchers import scanfiles as sf
from vahti.matchers.engine import Finding, Scanned, Scanner, ScanOptions
from vahti.matchers.keys import Key
from vahti.matchers.skips import skip_reason

KEY = Key(bytes(range(32)))
PEOPLE = synthetic.make_people(12, seed=45)


def page(people: list[synthetic.Person], rng: random.Random) -> bytes:
    """Records as a database page holds them: binary fields, a varchar code after its
    length byte, an nvarchar name (UTF-16LE) after its 2-byte length, an address."""
    page = b""
    for p in people:
        name = p.full_name.encode("utf-16-le")
        page += (rng.randbytes(24) + bytes([len(p.hetu)]) + p.hetu.encode()
                 + len(p.full_name).to_bytes(2, "little") + name + b"\x03" + rng.randbytes(8)
                 + b"\x00\x1a" + p.email.encode() + bytes(16))
    return page


def _strings(data: bytes, with_native: bool) -> str:
    saved = native.lib
    if not with_native:
        native.lib = None
    try:
        return binary_strings.strings_text(data)
    finally:
        native.lib = saved


@pytest.mark.parametrize("with_native", [True, False], ids=["c", "python"])
def test_strings_of_each_kind(with_native: bool) -> None:
    if with_native and native.lib is None:
        pytest.fail("matchers._native is not built (pip install -e .), or VAHTI_NO_NATIVE is set")
    data = (b"\x00\x01" + "Meikäläinen Matti".encode("cp1252") + b"\x00\x0b131052-308T\x02"
            + "Käynti sovittu".encode() + b"\x00\x00" + "Äiti Vänskä".encode("utf-16-le")
            + b"\x01\x02abcde\x00\x00" + "Tapio Ölund".encode("cp1252") + b"\x05")
    assert _strings(data, with_native).splitlines() == [
        "Meikäläinen Matti",  # cp1252: each ä right after an ASCII letter
        " 131052-308T ",  # (an identity code is set apart: see the next test but one)
        "Käynti sovittu",  # UTF-8
        "Äiti Vänskä",  # UTF-16LE
        # "abcde": shorter than MIN_RUN
        "Tapio ",  # a Latin-1 letter after no ASCII letter ends a string ("lund": too short)
    ]


def test_the_c_and_python_readings_are_the_same() -> None:
    if native.lib is None:
        pytest.fail("matchers._native is not built (pip install -e .), or VAHTI_NO_NATIVE is set")
    rng = random.Random(1)
    pieces = [b"\x00", b"a", b"Z", b" ", b"\xe4", b"\xc3\xa4", b"\xc3", b"\xa4", b"1", b"\x0b",
              b"\xff", b"\xd7", b"\t", b"M\x00", b"\xe4\x00", b"\x7f", b"\xe2\x82\xac"]
    for k in range(3000):
        data = (os.urandom(rng.randrange(400)) if k % 3 == 0 else
                b"".join(rng.choice(pieces) for _ in range(rng.randrange(200))))
        assert _strings(data, True) == _strings(data, False), data


def test_a_database_page_s_people_are_found_and_it_is_still_reported(tmp_path: Path) -> None:
    path = tmp_path / "potilaat.mdf"
    path.write_bytes(page(PEOPLE, random.Random(5)))
    index = build_index(KEY, PEOPLE, True)
    events = list(sf.scan_files([str(path)], index, KEY, ScanOptions()))
    (scanned,) = [e for e in events if isinstance(e, Scanned)]
    assert scanned.status == "strings" and scanned.encoding == "strings"
    assert skip_reason(scanned) == ("strings only: 26% NUL bytes in sample; its text strings "
                                    "were read, not its format")
    found = [e for e in events if isinstance(e, Finding)]
    assert {f.ref for f in found if f.id_type == "hetu"} == {p.ref for p in PEOPLE}
    assert {f.ref for f in found if f.id_type == "email"} == {p.ref for p in PEOPLE}
    # the UTF-16 name beside the code corroborates it, as in text
    assert all(f.score > 0.9 for f in found if f.id_type == "hetu")


def test_identity_codes_packed_against_other_text_are_found(tmp_path: Path) -> None:
    """A row's columns side by side, as a database file keeps them."""
    rng = random.Random(6)
    rows = b"".join(rng.randbytes(80) + f"{p.full_name}{p.hetu}{p.email}".encode()
                    + bytes(24) + f"12{p.hetu}X".encode() + rng.randbytes(80)
                    for p in PEOPLE)
    index = build_index(KEY, PEOPLE, True)
    scanner = Scanner(index, KEY, ScanOptions())
    events = sf.scan_member(scanner, "rivit.ibd", rows)
    assert events[-1].status == "strings"
    found = [e for e in events if isinstance(e, Finding)]
    assert {f.ref for f in found if f.id_type == "hetu"} == {p.ref for p in PEOPLE}
    assert sum(f.id_type == "hetu" for f in found) == 2 * len(PEOPLE)
    # the address after a code: found once the code is set apart
    assert {f.ref for f in found if f.id_type == "email"} == {p.ref for p in PEOPLE}


def test_a_binary_without_strings_is_binary_as_before() -> None:
    index = build_index(KEY, PEOPLE, True)
    data = bytes(range(32)) * 100  # control bytes only
    scanner = Scanner(index, KEY, ScanOptions())
    (scanned,) = [e for e in sf.scan_member(scanner, "x.bin", data) if isinstance(e, Scanned)]
    assert scanned.status == "binary"
    assert skip_reason(scanned) == scanned.reason == "binary: 3% NUL bytes in sample"


def test_of_compressed_media_only_the_head_and_tail_are_read() -> None:
    """EXIF, XMP and tags are there; a video's body of gigabytes is chance runs."""
    rng = random.Random(2)
    head, middle, tail = (f"\x00{p.full_name}\x00{p.hetu}\x00".encode() for p in PEOPLE[:3])
    body = rng.randbytes(3 << 20)
    jpeg = b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00" + head + body + middle + body + tail
    index = build_index(KEY, PEOPLE, True)
    events = Scanner(index, KEY, ScanOptions())
    got = sf.scan_member(events, "kuva.jpg", jpeg)
    scanned = got[-1]
    assert isinstance(scanned, Scanned) and scanned.status == "strings"
    assert scanned.reason == ("strings only: JPEG image; the text strings of its first and "
                              "last MiB were read, not its format")
    assert {f.ref for f in got if isinstance(f, Finding)} == {PEOPLE[0].ref, PEOPLE[2].ref}
    mp4 = b"\x00\x00\x00\x20ftypisom" + head + body
    assert sf.scan_member(events, "video.mp4", mp4)[-1].reason.startswith(
        "strings only: MP4/QuickTime video; the text strings of its first and last MiB")


def _nvarchar_page(people: list[synthetic.Person], rng: random.Random) -> bytes:
    """A SQL Server data page whose columns are nvarchar (UTF-16LE): a 96-byte binary page
    header, each row a small binary header and its columns side by side, the page's free
    space NULs. Without the header, nearly every byte that is not NUL is a letter."""
    rows = b"".join(bytes([0x30, 0, 0x0c, 0, i, 0, 0, 0, 3, 0])
                    + f"{p.hetu}{p.full_name} {p.email}".encode("utf-16-le")
                    for i, p in enumerate(people))
    return rng.randbytes(96) + rows + bytes(8192 - 96 - len(rows))


def test_utf16_columns_among_nuls_are_read_not_spaced_out(tmp_path: Path) -> None:
    """Such a page is no text padded with NULs: reading each NUL as a space spread every
    letter apart ("1 3 1 0 5 2 - 3 0 8 T"), and the page was "ok" with nobody found."""
    path = tmp_path / "asiakkaat.mdf"
    path.write_bytes(_nvarchar_page(PEOPLE, random.Random(6)) * 3)
    index = build_index(KEY, PEOPLE, True)
    events = list(sf.scan_files([str(path)], index, KEY, ScanOptions()))
    found = sorted((e.ref, e.id_type) for e in events if isinstance(e, Finding))
    assert found == sorted([(p.ref, "hetu") for p in PEOPLE] * 3
                           + [(p.ref, "email") for p in PEOPLE] * 3)
    (scanned,) = [e for e in events if isinstance(e, Scanned)]
    assert scanned.encoding == binary_strings.ENCODING and scanned.status == "strings"
