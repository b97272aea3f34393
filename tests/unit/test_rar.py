"""RAR archives are read (libarchive), or say what was not read: before, a .rar, the
format leak forums post dumps in most, was "binary: rar archive" with every person in it
unfound.

No free program writes RAR, so the archives here are written by `rar_files` (stored
members, with the headers and CRCs the format specifies); libarchive's decompressors
are libarchive's to test.
"""

from __future__ import annotations

import io
import random
import zipfile
import zlib
from pathlib import Path

import pytest

from benchmarks.scan_throughput import build_index
from tests.unit.rar_files import rar4, rar5
from vahti.demo import synthetic
from vahti.matchers import scanfiles as sf
from vahti.matchers.archives import ArchiveLimits, Member, _size, iter_members
from vahti.matchers.engine import Finding, ScanOptions
from vahti.matchers.keys import Key

KEY = Key(bytes(range(32)))
PEOPLE = synthetic.make_people(12, seed=42)
CSV = "".join(f"{p.full_name};{p.hetu};{p.email}\n" for p in PEOPLE).encode()
NOTE = f"Potilas {PEOPLE[0].full_name} ({PEOPLE[0].hetu}) kävi vastaanotolla.\n".encode()


def _members(data: bytes, limits: ArchiveLimits | None = None) -> list[Member]:
    return list(iter_members(data, "vuoto.rar", limits or ArchiveLimits()))


def _data(members: list[Member]) -> dict[str, bytes]:
    return {m.location: m.data for m in members if m.data is not None}


def _reasons(members: list[Member]) -> dict[str, str]:
    return {m.location: m.skipped_reason for m in members if m.skipped_reason}


def _no_content_in_reasons(members: list[Member],
                           people: list[synthetic.Person] = PEOPLE) -> None:
    for m in members:
        assert (m.data is None) == (m.skipped_reason is not None)
        for p in people:
            assert p.hetu not in (m.skipped_reason or "")
            assert p.full_name.split()[0] not in (m.skipped_reason or "")


@pytest.mark.parametrize("write", [rar5, rar4], ids=["rar5", "rar4"])
def test_a_rar_s_members_are_read(write) -> None:  # noqa: ANN001
    members = _members(write([("potilaat.csv", CSV), ("kansio/lahete.txt", NOTE)]))
    assert _data(members) == {"vuoto.rar!potilaat.csv": CSV,
                              "vuoto.rar!kansio/lahete.txt": NOTE}
    assert not _reasons(members)


def test_an_old_rar_s_dos_file_name_is_read_as_a_name() -> None:
    """RAR 4 kept a name without its Unicode form in the DOS code page: it was shown as
    Python's repr of bytes (`vuoto.rar!b'\\x84iti.txt'`)."""
    data = rar4([("Xiti.txt", NOTE)]).replace(b"Xiti.txt", b"\x84iti.txt")
    fixed = bytearray(data)
    at = data.index(b"\x84iti.txt") - 32  # the file header's start: its CRC covers it
    body = bytes(fixed[at + 2:at + 32 + 8])
    fixed[at:at + 2] = (zlib.crc32(body) & 0xFFFF).to_bytes(2, "little")
    assert _data(_members(bytes(fixed))) == {"vuoto.rar!äiti.txt": NOTE}


def test_archives_inside_a_rar_and_a_rar_inside_a_zip_are_read() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("potilaat.csv", CSV)
    inner = rar4([("lahete.txt", NOTE)])
    data = rar5([("taulut.zip", buf.getvalue()), ("vanha.rar", inner)])
    assert _data(_members(data)) == {"vuoto.rar!taulut.zip!potilaat.csv": CSV,
                                     "vuoto.rar!vanha.rar!lahete.txt": NOTE}
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as zf:
        zf.writestr("osa1.rar", data)
    got = list(iter_members(outer.getvalue(), "paketti.zip"))
    assert _data(got)["paketti.zip!osa1.rar!vanha.rar!lahete.txt"] == NOTE


def test_an_encrypted_rar5_member_is_reported_not_read_as_its_ciphertext() -> None:
    """libarchive 3.6 skips a RAR 5 member's encryption record and hands out its stored
    bytes as if they were the file: ciphertext, read as "nothing found"."""
    members = _members(rar5([("salainen.csv", CSV), ("auki.txt", NOTE)],
                            encrypted=frozenset({"salainen.csv"})))
    assert _reasons(members) == {"vuoto.rar!salainen.csv": (
        "encrypted: password-protected RAR member (vahti cannot decrypt RAR)")}
    assert _data(members) == {"vuoto.rar!auki.txt": NOTE}


def test_an_encrypted_rar4_member_is_reported() -> None:
    members = _members(rar4([("salainen.csv", CSV), ("auki.txt", NOTE)],
                            encrypted=frozenset({"salainen.csv"})))
    assert _reasons(members)["vuoto.rar!salainen.csv"].startswith("encrypted:")
    assert "vuoto.rar!salainen.csv" not in _data(members)
    _no_content_in_reasons(members)


@pytest.mark.parametrize("write", [rar5, rar4], ids=["rar5", "rar4"])
def test_a_rar_with_encrypted_file_names_is_reported(write) -> None:  # noqa: ANN001
    members = _members(write([("potilaat.csv", CSV)], encrypted_headers=True))
    assert [(m.location, m.skipped_reason) for m in members] == [
        ("vuoto.rar", "encrypted: RAR archive with encrypted file names "
                      "(vahti cannot decrypt RAR)")]


def test_a_member_that_continues_in_the_next_volume_says_so() -> None:
    """One volume of `vuoto.part1.rar`, `vuoto.part2.rar`: its whole members are read,
    the one cut at its end is reported, not dropped."""
    data = rar5([("potilaat.csv", CSV), ("iso.sql", NOTE * 50)], volume=True,
                split=frozenset({"iso.sql"}))
    cut = data[:data.rindex(NOTE) + 10]  # the volume ends inside the split member
    members = _members(cut)
    assert _data(members) == {"vuoto.rar!potilaat.csv": CSV}
    assert _reasons(members) == {"vuoto.rar!iso.sql": (
        "incomplete: continues in another volume of a multi-volume RAR "
        "(each volume is read on its own)")}


def test_a_member_begun_in_the_previous_volume_says_so() -> None:
    """The second volume begins with the rest of a member of the first: libarchive skips
    it without a word, and the members after it are read."""
    data = rar5([("iso.sql", NOTE * 5), ("potilaat.csv", CSV)], volume=True,
                continued=frozenset({"iso.sql"}))
    members = _members(data)
    assert _data(members) == {"vuoto.rar!potilaat.csv": CSV}
    assert _reasons(members) == {"vuoto.rar!iso.sql": (
        "incomplete: the rest of a member begun in another volume of a multi-volume RAR, "
        "not read (each volume is read on its own)")}


def test_rar_members_keep_to_the_limits() -> None:
    big = ("iso.csv", CSV * 100)
    members = _members(rar5([big, ("pieni.txt", NOTE)]),
                       ArchiveLimits(max_member_size=len(CSV) * 10))
    assert _reasons(members) == {"vuoto.rar!iso.csv": "archive bomb: member over "
                                                      f"{_size(len(CSV) * 10)} unpacked"}
    assert _data(members) == {"vuoto.rar!pieni.txt": NOTE}
    many = rar5([(f"{i}.txt", NOTE) for i in range(30)])
    got = _members(many, ArchiveLimits(max_members=10))
    assert len(_data(got)) == 10
    assert _reasons(got) == {"vuoto.rar": "too many members: more than 10 in one input "
                                          "(the rest was not read)"}
    total = _members(rar4([(f"{i}.csv", CSV) for i in range(10)]),
                     ArchiveLimits(max_total_unpacked=len(CSV) * 3 + 1))
    assert len(_data(total)) == 3
    assert list(_reasons(total).values())[0].startswith("archive bomb: more than")


def test_damaged_rars_are_reported_and_never_raise() -> None:
    """Cut at every length and mutated in a few bytes: members, or reasons naming the
    format and an error class, never an exception and never content."""
    for write in (rar5, rar4):
        data = write([("potilaat.csv", CSV), ("lahete.txt", NOTE)])
        for n in range(0, len(data), 7):
            members = _members(data[:n])
            assert members, n
            _no_content_in_reasons(members)
        rng = random.Random(42)
        for _ in range(300):
            mutated = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            members = _members(bytes(mutated))
            assert members
            _no_content_in_reasons(members)


def test_the_people_in_a_rar_are_found(tmp_path: Path) -> None:
    path = tmp_path / "vuoto.rar"
    path.write_bytes(rar5([("potilaat.csv", CSV)]))
    index = build_index(KEY, PEOPLE, True)
    events = list(sf.scan_files([str(path)], index, KEY, ScanOptions()))
    found = {f.ref for f in events if isinstance(f, Finding) and f.kind == "identifier"
             and f.location == f"{path}!potilaat.csv"}
    assert found == {p.ref for p in PEOPLE}


def test_without_libarchive_a_rar_says_what_is_missing(monkeypatch) -> None:  # noqa: ANN001
    """`pip install .` on a machine without libarchive.so.13: reported, never a crash."""
    from vahti.matchers import archives

    monkeypatch.setattr(archives, "_libarchive", lambda: None)
    members = _members(rar5([("potilaat.csv", CSV)]))
    assert _reasons(members) == {"vuoto.rar": "unsupported: rar data, and this machine has no "
                                              "libarchive to read it (install libarchive13)"}
