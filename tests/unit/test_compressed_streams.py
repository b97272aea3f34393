"""lz4, lzip, compress (.Z) and uuencoded files are unpacked (libarchive) like a .gz.

Before, a .lz4 was "text" (its literals hold about half of what it compresses, read with
the rest as garbage: "Scanned ok"), a uuencoded dump was text of uuencode and nothing in
it was found, and .lz and .Z were "binary". The files here are written by libarchive.
"""

from __future__ import annotations

import random
from pathlib import Path

import libarchive
import pytest

from tests.unit.test_rar import CSV, NOTE, _data, _no_content_in_reasons, _reasons
from vahti.matchers.archives import ArchiveLimits, iter_members

FILTERS = {"lz4": ".lz4", "lzip": ".lz", "compress": ".Z", "uuencode": ".uu"}


def _stream(tmp_path: Path, filter_name: str, members: list[tuple[str, bytes]],
            tar: bool = False) -> bytes:
    path = tmp_path / f"out.{filter_name}"
    with libarchive.file_writer(str(path), "ustar" if tar else "raw", filter_name) as w:
        for name, data in members:
            w.add_file_from_memory(name, len(data), data)
    return path.read_bytes()


@pytest.mark.parametrize("filter_name", FILTERS)
def test_a_compressed_file_is_unpacked(tmp_path: Path, filter_name: str) -> None:
    name = "potilaat.csv" + FILTERS[filter_name]
    got = list(iter_members(_stream(tmp_path, filter_name, [("potilaat.csv", CSV)]), name))
    assert _data(got) == {f"{name}!potilaat.csv": CSV}
    assert not _reasons(got)


def test_uuencode_names_its_file(tmp_path: Path) -> None:
    data = _stream(tmp_path, "uuencode", [("x", CSV)]).replace(b" -\n", b" lista.csv\n", 1)
    assert _data(list(iter_members(data, "liite.txt"))) == {"liite.txt!lista.csv": CSV}


@pytest.mark.parametrize("filter_name", FILTERS)
def test_a_tar_inside_is_expanded_in_the_same_layer(tmp_path: Path, filter_name: str) -> None:
    data = _stream(tmp_path, filter_name, [("potilaat.csv", CSV), ("kansio/lahete.txt", NOTE)],
                   tar=True)
    got = list(iter_members(data, "vuoto.tar" + FILTERS[filter_name]))
    loc = "vuoto.tar" + FILTERS[filter_name]
    assert _data(got) == {f"{loc}!potilaat.csv": CSV, f"{loc}!kansio/lahete.txt": NOTE}


def test_a_bomb_stops_early(tmp_path: Path) -> None:
    data = _stream(tmp_path, "lz4", [("zeros.csv", bytes(64 << 20))])
    got = list(iter_members(data, "zeros.csv.lz4"))
    assert _reasons(got) == {"zeros.csv.lz4!zeros.csv": "archive bomb: compression ratio over 100"}
    many = _stream(tmp_path, "lzip", [(f"{i}.txt", NOTE) for i in range(30)], tar=True)
    got = list(iter_members(many, "x.tar.lz", ArchiveLimits(max_members=10)))
    assert len(_data(got)) == 10
    assert _reasons(got) == {"x.tar.lz": "too many members: more than 10 in one input "
                                         "(the rest was not read)"}


def test_text_that_only_looks_uuencoded_is_read_as_text() -> None:
    text = b"begin 644 ohje.txt\nT\xc3\xa4m\xc3\xa4 ei ole uuencodea: 131052-308T\n" * 3
    got = list(iter_members(text, "ohje.txt"))
    assert _data(got) == {"ohje.txt": text}


@pytest.mark.parametrize("filter_name", FILTERS)
def test_damaged_streams_are_reported_and_never_raise(tmp_path: Path, filter_name: str) -> None:
    data = _stream(tmp_path, filter_name, [("potilaat.csv", CSV)])
    rng = random.Random(42)
    for n in range(0, len(data), max(1, len(data) // 40)):
        members = list(iter_members(data[:n], "x" + FILTERS[filter_name]))
        _no_content_in_reasons(members)
    for _ in range(200):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        _no_content_in_reasons(list(iter_members(bytes(mutated), "x" + FILTERS[filter_name])))


@pytest.mark.parametrize("on_disk", [True, False], ids=["file", "bytes"])
def test_a_bomb_after_a_large_member_is_stopped(tmp_path: Path, on_disk: bool) -> None:
    """A member's ratio is to its own share of the archive: counted from the archive's
    start, 200 MiB of zeros after 8 MiB that does not compress passed as 200 MiB of data."""
    noise = random.Random(1).randbytes(8 << 20)
    data = _stream(tmp_path, "lz4", [("kohina.bin", noise), ("nollat.csv", bytes(200 << 20))],
                   tar=True)
    path = tmp_path / "vuoto.tar.lz4"
    path.write_bytes(data)
    got = list(iter_members(str(path) if on_disk else data, "vuoto.tar.lz4"))
    assert _reasons(got) == {"vuoto.tar.lz4!nollat.csv": "archive bomb: compression ratio over 100"}
    assert list(_data(got)) == ["vuoto.tar.lz4!kohina.bin"]
