"""PostgreSQL custom-format dumps (`pg_dump -Fc`, a database's usual backup) are read:
before, their compressed table data was "binary" and every person in them unfound.

One dump here was written by pg_dump 15 itself (`tests/fixtures/pg_dump/`); the others by
`pgdump_files`, for the other archive versions, compression methods and damage.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from benchmarks.scan_throughput import build_index
from tests.unit.pgdump_files import Dump, Table
from tests.unit.test_rar import _data, _no_content_in_reasons, _reasons
from vahti.demo import synthetic
from vahti.matchers import archive_pgdump
from vahti.matchers import scanfiles as sf
from vahti.matchers.archives import ArchiveLimits, Member, iter_members
from vahti.matchers.engine import Finding, Scanned, ScanOptions, Skipped
from vahti.matchers.keys import Key

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pg_dump"
KEY = Key(bytes(range(32)))
PEOPLE = synthetic.make_people(12, seed=43)  # the people of the fixture's database
ROWS = "".join(f"{i}\t{p.full_name}\t{p.hetu}\t{p.email}\n"
               for i, p in enumerate(PEOPLE, 1)).encode()
NOTES = "".join(f"{i}\t{' '.join(p.notes)}\n" for i, p in enumerate(PEOPLE, 1)).encode()


def _tables() -> list[Table]:
    return [Table("potilaat", ["id", "nimi", "hetu", "email"], ROWS, comment="rekisteri"),
            Table("kaynnit", ["id", "muistiinpano"], NOTES)]


def _members(data: bytes, limits: ArchiveLimits | None = None) -> list[Member]:
    return list(iter_members(data, "klinikka.dump", limits or ArchiveLimits()))


def found_in(path: Path, people: list[synthetic.Person]) -> tuple[dict[str, set[str]], list[str]]:
    """The people found per location of a scan of `path` (a member by what follows
    "path!", the file itself as ""), and the locations not read."""
    index = build_index(KEY, people, True)
    found: dict[str, set[str]] = {}
    unread = []
    for e in sf.scan_files([str(path)], index, KEY, ScanOptions()):
        if isinstance(e, Finding):
            found.setdefault(e.location.removeprefix(str(path)).removeprefix("!"),
                             set()).add(e.ref)
        elif isinstance(e, Skipped) or (isinstance(e, Scanned) and e.status != "ok"):
            unread.append(e.location)
    return found, unread


def test_a_dump_written_by_pg_dump_is_read() -> None:
    """pg_dump 15's default: zlib-compressed tables and a large object."""
    found, unread = found_in(FIXTURES / "klinikka.dump", PEOPLE)
    assert not unread
    everyone = {p.ref for p in PEOPLE}
    assert found["public.potilaat"] == everyone  # codes, addresses and phones
    assert found["public.kaynnit"] == everyone  # the visit notes (fragments)
    assert found["blob:16401"] == {PEOPLE[0].ref}  # a large object naming one patient
    members = _members((FIXTURES / "klinikka.dump").read_bytes())
    assert [m.location.split("!", 1)[1] for m in members] == [
        "toc.sql", "public.kaynnit", "public.potilaat", "blob:16401"]
    rows = _data(members)["klinikka.dump!public.potilaat"]
    assert rows.startswith(b"COPY public.potilaat (id, nimi, hetu, email, puhelin, syntynyt)"
                           b" FROM stdin;\n1\t")
    assert PEOPLE[0].hetu.encode() in rows


@pytest.mark.parametrize(("version", "algorithm"), [
    (14, "none"), (14, "gzip"), (15, "gzip"), (15, "lz4"), (15, "zstd"), (16, "none"),
    (16, "gzip"), (16, "lz4"), (16, "zstd")])
def test_every_version_and_compression_is_read(version: int, algorithm: str) -> None:
    dump = Dump(_tables(), blobs={16401: b"Liite: skannattu lahete\n", 16402: ROWS[:40]},
                version=version, algorithm=algorithm)
    members = _members(dump.write())
    pot, kay = dump.tables
    assert _data(members) == {
        "klinikka.dump!toc.sql": dump.toc_sql(),
        "klinikka.dump!public.potilaat": dump.copy(pot) + ROWS,
        "klinikka.dump!public.kaynnit": dump.copy(kay) + NOTES,
        "klinikka.dump!blob:16401": b"Liite: skannattu lahete\n",
        "klinikka.dump!blob:16402": ROWS[:40]}
    assert b"COMMENT ON TABLE public.potilaat IS 'rekisteri'" in dump.toc_sql()


def test_a_directory_dump_s_toc_gives_its_sql() -> None:
    """Its data is in files of their own (read as files): the TOC has only the SQL."""
    dump = Dump(_tables(), fmt=5)
    assert _data(_members(dump.write())) == {"klinikka.dump!toc.sql": dump.toc_sql()}


@pytest.mark.parametrize("algorithm", ["none", "gzip"])
def test_a_dump_cut_short_gives_what_came_before_and_says_so(algorithm: str) -> None:
    """A download cut short: the rows up to the cut are read, and the cut is said."""
    big = "".join(f"{i}\t{p.full_name}\t{p.hetu}\n" for i, p in enumerate(PEOPLE * 900))
    dump = Dump([Table("potilaat", ["id", "nimi", "hetu", "email"], ROWS),
                 Table("kaynnit", ["id", "nimi", "hetu"], big.encode())], algorithm=algorithm)
    whole = dump.write()
    members = _members(whole[: len(whole) - len(whole) // 8])
    rows = _data(members)
    assert rows["klinikka.dump!public.potilaat"].endswith(ROWS)
    assert big.encode().startswith(rows["klinikka.dump!public.kaynnit"].split(b"\n", 1)[1])
    assert len(rows["klinikka.dump!public.kaynnit"]) > 30_000
    assert _reasons(members) == {
        "klinikka.dump!public.kaynnit":
            "corrupt archive: pgdump (cut short; what came before it was read)"}


def test_a_dump_cut_anywhere_says_so() -> None:
    whole = Dump(_tables(), blobs={7: ROWS}, algorithm="gzip").write()
    for n in range(64, len(whole), 31):  # never an exception, never silence
        members = _members(whole[:n])
        assert _reasons(members), n
        _no_content_in_reasons(members, PEOPLE)


def test_a_dump_cut_at_a_block_s_edge_says_which_data_it_lacks() -> None:
    """Nothing in the file is broken there: only its TOC tells that more was written."""
    dump = Dump(_tables(), blobs={7: ROWS})
    members = _members(dump.write(tables_written=1))
    assert "klinikka.dump!public.potilaat" in _data(members)
    lacking = "corrupt archive: pgdump (not reached: the file is cut short or damaged before it)"
    assert _reasons(members) == {"klinikka.dump!public.kaynnit": lacking,
                                 "klinikka.dump!BLOBS": lacking}


def test_a_damaged_stream_is_reported_and_the_next_table_read() -> None:
    dump = Dump(_tables(), algorithm="gzip")
    data = bytearray(dump.write())
    at = data.index(b"\x78\x9c") + 20  # inside the first table's zlib stream
    data[at:at + 8] = b"\xff" * 8
    members = _members(bytes(data))
    assert _reasons(members) == {
        "klinikka.dump!public.potilaat": "corrupt archive: pgdump (gzip data: error)"}
    assert "klinikka.dump!public.kaynnit" in _data(members)


@pytest.mark.parametrize("algorithm", ["gzip", "zstd", "lz4"])
def test_a_bomb_is_stopped_and_the_next_table_read(algorithm: str) -> None:
    bomb = Table("nollat", ["x"], bytes(200 << 20))
    dump = Dump([bomb, Table("potilaat", ["id", "nimi", "hetu", "email"], ROWS)],
                version=16, algorithm=algorithm)
    members = _members(dump.write())
    assert _reasons(members) == {
        "klinikka.dump!public.nollat": "archive bomb: compression ratio over 100"}
    assert _data(members)["klinikka.dump!public.potilaat"].endswith(ROWS)


def test_a_member_over_its_size_is_reported_and_the_next_read() -> None:
    dump = Dump([Table("iso", ["x"], random.Random(1).randbytes(3 << 20)),
                 Table("potilaat", ["id", "nimi", "hetu", "email"], ROWS)], algorithm="none")
    members = _members(dump.write(), ArchiveLimits(max_member_size=2 << 20))
    assert _reasons(members) == {
        "klinikka.dump!public.iso": "archive bomb: member over 2 MiB unpacked"}
    assert "klinikka.dump!public.potilaat" in _data(members)


def test_too_many_large_objects_are_reported() -> None:
    dump = Dump([], blobs={oid: b"x" for oid in range(1, 30)})
    members = _members(dump.write(), ArchiveLimits(max_members=10))
    assert len(_data(members)) == 10
    assert set(_reasons(members).values()) == {
        "too many members: more than 10 in one input (the rest was not read)"}


def test_lz4_without_libarchive_is_said_and_the_next_table_read(monkeypatch) -> None:
    monkeypatch.setattr(archive_pgdump, "_libarchive", lambda: None)
    dump = Dump([Table("a", ["x"], ROWS), Table("b", ["x"], ROWS)], version=16, algorithm="lz4")
    members = _members(dump.write())
    reason = ("unsupported: lz4 data, and this machine has no libarchive to read it "
              "(install libarchive13)")
    assert _reasons(members) == {"klinikka.dump!public.a": reason, "klinikka.dump!public.b": reason}
    assert set(_data(members)) == {"klinikka.dump!toc.sql"}


def test_a_newer_archive_version_is_said_not_read() -> None:
    data = bytearray(Dump(_tables(), version=16).write())
    data[6] = 17
    assert _reasons(_members(bytes(data))) == {
        "klinikka.dump": "unsupported: pg_dump archive version 1.17 (vahti reads 1.10 to 1.16)"}


def test_a_damaged_length_is_not_read_into_memory() -> None:
    data = bytearray(Dump(_tables()).write())
    at = data.index(b"klinikka") - 4  # the database name's length
    data[at:at + 4] = (1 << 30).to_bytes(4, "little")
    assert _reasons(_members(bytes(data) + bytes(100 << 20))) == {
        "klinikka.dump": "corrupt archive: pgdump (a string of more than 64 MiB)"}


def test_damaged_dumps_are_reported_and_never_raise() -> None:
    whole = Dump(_tables(), blobs={7: ROWS}, algorithm="gzip").write()
    rng = random.Random(5)
    for _ in range(400):
        data = bytearray(whole)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        _no_content_in_reasons(_members(bytes(data), ArchiveLimits(max_member_size=1 << 20)),
                               PEOPLE)
