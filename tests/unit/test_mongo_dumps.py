"""MongoDB dumps are read: mongodump's collection files (.bson, .bson.gz) and archives
(`mongodump --archive`). Before, they were "binary" and everyone in them unfound.

The documents are encoded by pymongo's own bson, as a server returns them and mongodump
writes them; `archive` lays them out as the archive format's specification does.
"""

from __future__ import annotations

import gzip
import io
import random
import zipfile
from pathlib import Path

import bson
import pytest

from tests.unit.test_pgdump import found_in
from tests.unit.test_rar import _data, _reasons
from vahti.demo import synthetic
from vahti.matchers.archives import ArchiveLimits, Member, iter_members
from vahti.matchers.documents import MONGO_ARCHIVE_MAGIC
from vahti.matchers.documents.mongo import is_bson
from vahti.matchers.keys import Key

KEY = Key(bytes(range(32)))
PEOPLE = synthetic.make_people(12, seed=44)
TERMINATOR = b"\xff\xff\xff\xff"


def _patients() -> list[dict]:
    return [{"_id": bson.ObjectId(), "nimi": p.full_name, "hetu": p.hetu, "email": p.email,
             "puhelin": p.phone, "kaynnit": [{"muistiinpano": " ".join(p.notes)}]}
            for p in PEOPLE]


def _collection(documents: list[dict]) -> bytes:
    return b"".join(bson.encode(d) for d in documents)


def archive(collections: dict[str, list[dict]], *, cut: int = 0) -> bytes:
    """A mongodump archive: magic, header, metadata, terminator; then the collections'
    documents in segments of two, interleaved, each collection ending in an EOF header."""
    out = MONGO_ARCHIVE_MAGIC + bson.encode({"concurrent_collections": 4, "version": "0.1",
                                             "server_version": "7.0.12", "tool_version": "100.9"})
    for name in collections:
        db, coll = name.split(".", 1)
        out += bson.encode({"db": db, "collection": coll, "metadata": '{"indexes":[]}'})
    out += TERMINATOR
    pending = {name: list(docs) for name, docs in collections.items()}
    while any(pending.values()):
        for name, docs in pending.items():
            if docs:
                db, coll = name.split(".", 1)
                out += bson.encode({"db": db, "collection": coll, "EOF": False, "CRC": 0})
                out += b"".join(bson.encode(d) for d in docs[:2]) + TERMINATOR
                del docs[:2]
    for name in collections:
        db, coll = name.split(".", 1)
        out += bson.encode({"db": db, "collection": coll, "EOF": True, "CRC": 0}) + TERMINATOR
    return out[:len(out) - cut]


def _members(data: bytes, name: str, limits: ArchiveLimits | None = None) -> list[Member]:
    return list(iter_members(data, name, limits or ArchiveLimits()))


def test_a_collection_file_is_read_and_everyone_in_it_found(tmp_path: Path) -> None:
    path = tmp_path / "potilaat.bson"
    path.write_bytes(_collection(_patients()))
    found, unread = found_in(path, PEOPLE)
    assert not unread
    assert found[""] == {p.ref for p in PEOPLE}
    text = _data(_members(path.read_bytes(), "potilaat.bson"))["potilaat.bson"].decode()
    lines = text.splitlines()
    assert len(lines) == len(PEOPLE)
    assert f'"nimi": "{PEOPLE[0].full_name}", "hetu": "{PEOPLE[0].hetu}"' in lines[0]


def test_a_gzipped_collection_file_is_read() -> None:
    data = gzip.compress(_collection(_patients()))
    text = _data(_members(data, "potilaat.bson.gz"))["potilaat.bson.gz!potilaat.bson"]
    assert f'"hetu": "{PEOPLE[5].hetu}"'.encode() in text  # the documents, as JSON


def test_binary_values_are_read_as_text_or_as_inputs_of_their_own() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("lahete.txt", f"{PEOPLE[1].full_name} {PEOPLE[1].hetu}\n" * 20)
    docs = [{"nimi": bson.Binary(PEOPLE[0].full_name.encode()), "liite": buf.getvalue(),
             "tiiviste": bytes(range(200, 220))}]
    got = _data(_members(_collection(docs), "x.bson"))
    line = got["x.bson"].decode()
    assert PEOPLE[0].full_name in line  # UTF-8 text in a binary value
    assert '"tiiviste": "<binary: 20 bytes>"' in line
    assert got["x.bson!doc:1:binary:1!lahete.txt"].startswith(PEOPLE[1].full_name.encode())


def test_a_file_stored_in_gridfs_is_joined_from_its_chunks_and_read() -> None:
    csv = "".join(f"{p.full_name};{p.hetu}\n" for p in PEOPLE).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("potilaat.csv", csv)
    stored, file_id = buf.getvalue(), bson.ObjectId()
    pieces = [stored[i:i + 100] for i in range(0, len(stored), 100)]
    chunks = [{"_id": bson.ObjectId(), "files_id": file_id, "n": n, "data": piece}
              for n, piece in enumerate(pieces)]
    got = _data(_members(_collection(chunks[::-1]), "fs.chunks.bson"))  # in any order
    assert got[f"fs.chunks.bson!file:{file_id}!potilaat.csv"] == csv
    assert len(got) == 2  # the chunks' documents and the file: no chunk read on its own


def test_a_document_that_does_not_decode_ends_the_file_and_is_said() -> None:
    docs = [bson.encode(d) for d in _patients()[:4]]
    broken = bytearray(docs[2])
    broken[4] = 0x42  # an element type no BSON has
    members = _members(docs[0] + docs[1] + bytes(broken) + docs[3], "x.bson")
    assert PEOPLE[1].hetu.encode() in _data(members)["x.bson"]
    assert PEOPLE[3].hetu.encode() not in _data(members)["x.bson"]
    assert _reasons(members) == {
        "x.bson": "extraction failed: bson (InvalidBSON at document 3; the rest was not read)"}


def test_an_archive_s_collections_are_read_each_a_location() -> None:
    patients = _patients()
    notes = [{"potilas": i, "teksti": " ".join(p.notes)} for i, p in enumerate(PEOPLE)]
    members = _members(archive({"klinikka.potilaat": patients, "klinikka.kaynnit": notes}),
                       "dump.archive")
    got = _data(members)
    assert not _reasons(members)
    assert set(got) == {"dump.archive!klinikka.potilaat", "dump.archive!klinikka.kaynnit"}
    assert len(got["dump.archive!klinikka.potilaat"].splitlines()) == len(PEOPLE)
    for p in PEOPLE:  # every document, whatever segment it came in
        assert p.hetu.encode() in got["dump.archive!klinikka.potilaat"]


def test_an_archive_cut_short_keeps_what_came_before_and_says_so() -> None:
    data = archive({"klinikka.potilaat": _patients()})
    for cut in (5, 60, 400, len(data) // 2):
        members = _members(data[:len(data) - cut] if cut < len(data) else data, "d.archive")
        assert _reasons(members) == {"d.archive": members[-1].skipped_reason}
        assert "the rest was not read" in (members[-1].skipped_reason or "")
    half = _members(data[: len(data) // 2], "d.archive")
    assert PEOPLE[0].hetu.encode() in _data(half)["d.archive!klinikka.potilaat"]


def test_what_is_bson_and_what_is_not() -> None:
    assert is_bson(_collection(_patients()))
    assert is_bson(bson.encode({"a": 1}))
    assert not is_bson(b"nimi;hetu\nMatti;131052-308T\n")
    assert not is_bson(b"\x10\x00\x00\x00" + bytes(12))  # a length and zeros: no element
    rng = random.Random(3)
    assert not any(is_bson(rng.randbytes(200)) for _ in range(2000))


@pytest.mark.parametrize("kind", ["bson", "archive"])
def test_damaged_dumps_are_reported_and_never_raise(kind: str) -> None:
    whole = (_collection(_patients()) if kind == "bson"
             else archive({"klinikka.potilaat": _patients()}))
    rng = random.Random(7)
    for _ in range(300):
        data = bytearray(whole)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        for m in _members(bytes(data), f"x.{kind}"):
            assert (m.data is None) == (m.skipped_reason is not None)
            for p in PEOPLE:
                assert p.hetu not in (m.skipped_reason or "")
