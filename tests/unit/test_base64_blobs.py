"""A dump pasted as base64 is decoded and read: its characters hold no identifier, so a
paste of a base64'd patient list (or of a zip of one) was "Scanned ok" with nothing
found."""

from __future__ import annotations

import base64
import gzip
import io
import json
import zipfile

import pytest

from benchmarks.scan_throughput import build_index
from vahti.demo import synthetic
from vahti.matchers import base64_blobs
from vahti.matchers import scanfiles as sf
from vahti.matchers.archives import ArchiveLimits, iter_members
from vahti.matchers.engine import Finding, Scanned, Scanner, ScanOptions, Skipped
from vahti.matchers.keys import Key

KEY = Key(bytes(range(32)))
PEOPLE = synthetic.make_people(30, seed=43)
INDEX = build_index(KEY, PEOPLE, True)
CSV = "".join(f"{i};{p.full_name};{p.hetu};{p.email}\n" for i, p in enumerate(PEOPLE)).encode()
INTRO = b"Uusi vuoto, lista alla (base64):\n\n"


def _zip(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    return buf.getvalue()


def _scan(tmp_path, data: bytes, name: str = "paste.txt", jobs: int = 1) -> list:
    path = tmp_path / name
    path.write_bytes(data)
    return list(sf.scan_files([str(path)], INDEX, KEY, ScanOptions(), jobs=jobs))


def _found_in(events: list, location: str) -> list[tuple[str, str, int, int]]:
    return [(f.id_type, f.ref, f.start, f.end) for f in events
            if isinstance(f, Finding) and f.location == location and f.kind == "identifier"]


def _expected(text: bytes) -> list[tuple[str, str, int, int]]:
    return [(f.id_type, f.ref, f.start, f.end)
            for f in Scanner(INDEX, KEY).scan_text(text.decode(), "x") if f.kind == "identifier"]


@pytest.mark.parametrize("encode", [
    base64.encodebytes,  # wrapped at 76, as `base64` writes it
    base64.b64encode,  # one line
    lambda d: b"\n".join(base64.b64encode(d)[i:i + 64] for i in range(0, 4000, 64)),  # openssl
    base64.urlsafe_b64encode,
])
def test_a_base64_dump_in_a_paste_is_read(tmp_path, encode):
    blob = encode(CSV)
    events = _scan(tmp_path, INTRO + blob + b"\n-- \nterveisin\n")
    where = f"{tmp_path / 'paste.txt'}!base64:{len(INTRO)}"
    assert _found_in(events, where) == _expected(CSV)
    assert len(_found_in(events, where)) == 2 * len(PEOPLE)
    read = [e for e in events if isinstance(e, Scanned)]
    assert [e.location for e in read] == [str(tmp_path / "paste.txt"), where]
    assert all(e.status == "ok" for e in read)


def test_an_archive_or_a_json_token_in_base64_is_read(tmp_path):
    gz = base64.encodebytes(gzip.compress(CSV))
    zipped = base64.b64encode(_zip("potilaat.csv", CSV))
    p = PEOPLE[3]
    token = (base64.urlsafe_b64encode(b'{"alg":"HS256"}').rstrip(b"=") + b"."
             + base64.urlsafe_b64encode(json.dumps({"sub": p.ref, "email": p.email,
                                                    "name": p.full_name}).encode()).rstrip(b"="))
    data = b"gz:\n" + gz + b"\nzip: " + zipped + b"\nAuthorization: Bearer " + token + b"\n"
    events = _scan(tmp_path, data)
    path = str(tmp_path / "paste.txt")
    gz_at, zip_at = data.index(gz), data.index(zipped)
    by_place = {f.location for f in events if isinstance(f, Finding)}
    assert f"{path}!base64:{zip_at}!potilaat.csv" in by_place
    assert len(_found_in(events, f"{path}!base64:{zip_at}!potilaat.csv")) == 2 * len(PEOPLE)
    gz_member = [loc for loc in by_place if loc.startswith(f"{path}!base64:{gz_at}")]
    assert len(gz_member) == 1 and len(_found_in(events, gz_member[0])) == 2 * len(PEOPLE)
    token_at = data.index(token) + token.index(b".") + 1
    assert [(t, r) for t, r, _, _ in _found_in(events, f"{path}!base64:{token_at}")] == [
        ("email", p.ref)]


def test_what_is_not_a_readable_blob_is_left_quietly(tmp_path):
    rng = synthetic.random.Random(3)
    image = bytes(rng.getrandbits(8) for _ in range(3000))
    hashes = "\n".join(f"{rng.getrandbits(256):064x}" for _ in range(50)).encode()
    words = b"\n".join(b"Tervetuloa" * 8 for _ in range(20))
    data = (b"kuva: " + base64.b64encode(image) + b"\n" + hashes + b"\n" + words + b"\n"
            + CSV)
    events = _scan(tmp_path, data)
    assert [e.location for e in events if isinstance(e, Scanned | Skipped)] == [
        str(tmp_path / "paste.txt")]
    assert len(_found_in(events, str(tmp_path / "paste.txt"))) == 2 * len(PEOPLE)


def test_a_word_before_the_blob_does_not_shift_it():
    blob = base64.encodebytes(CSV)
    for before in (b"dump\n", b"patients\n", b"x\n", b"AAAAAAAAA\n"):
        (found,) = list(base64_blobs.blobs(before + blob, 1 << 20))
        assert found.data == CSV and found.start == len(before)


def test_limits_hold_for_blobs():
    blob = base64.encodebytes(CSV)
    small = list(iter_members(INTRO + blob, "p", ArchiveLimits(max_member_size=len(CSV) - 1)))
    assert [(m.location, m.skipped_reason is not None) for m in small] == [
        ("p", False), (f"p!base64:{len(INTRO)}", True)]
    assert "too large" in (small[1].skipped_reason or "")
    nested = CSV
    for _ in range(7):
        nested = b"x:\n" + base64.encodebytes(nested)
    got = list(iter_members(nested, "p", ArchiveLimits(max_depth=3)))
    assert got[-1].skipped_reason is not None and "nested deeper" in got[-1].skipped_reason
    assert len(got) == 5  # the input, three layers read, the fourth reported


@pytest.mark.parametrize("block", [7, 64, 100, 1000, 1 << 20])
def test_blobs_read_a_block_at_a_time_are_the_same(block):
    parts = [INTRO, base64.encodebytes(CSV), b"x " * 50, base64.b64encode(CSV[:900]), b"\n",
             base64.encodebytes(gzip.compress(CSV)), b"loppu"]
    data = b"".join(parts)
    blocks = [data[i:i + block] for i in range(0, len(data), block)]
    whole = list(base64_blobs.blobs(data, 1 << 20))
    assert len(whole) == 3
    assert list(base64_blobs.blobs_in_blocks(blocks, 1 << 20)) == whole
    # a blob over the size limit: given once as too large, skipped to its run's end, and
    # the next one still found
    parts = [INTRO, base64.encodebytes(CSV), b" x ", base64.b64encode(CSV[:900]), b"\n"]
    data = b"".join(parts)
    blocks = [data[i:i + block] for i in range(0, len(data), block)]
    whole = list(base64_blobs.blobs(data, 1000))
    assert [b.data is None for b in whole] == [True, False]
    assert list(base64_blobs.blobs_in_blocks(blocks, 1000)) == whole


@pytest.mark.parametrize("block", [7, 64, 100, 1000, 1 << 20])
def test_the_regions_a_reader_of_blocks_finds_hold_every_blob(block):
    """The hashing thread feeds a big file's blocks to `Regions`; the blobs are then read
    from those regions only. They must be the blobs of the whole file."""
    parts = [INTRO, base64.encodebytes(CSV), b"x " * 50, base64.b64encode(CSV[:900]), b"\n",
             base64.encodebytes(gzip.compress(CSV)), b"loppu\n", b"sana\n" * 40,
             base64.urlsafe_b64encode(CSV[:300]), b"\n"]
    data = b"".join(parts)
    regions = base64_blobs.Regions()
    for i in range(0, len(data), block):
        regions.feed(data[i:i + block])
    found = [base64_blobs.Blob(b.start + a, b.data) for a, e in regions.close()
             for b in base64_blobs.blobs(data[a:e], 1 << 20)]
    assert found == list(base64_blobs.blobs(data, 1 << 20))
    assert len(found) == 4


def test_the_c_runs_are_the_python_runs(monkeypatch):
    rng = synthetic.random.Random(9)
    alphabet = b"AZaz09+/=-_\r\n .;:\xc3\xa4"
    for _ in range(2000):
        n = rng.randrange(0, 300)
        data = bytes(rng.choice(alphabet) if rng.random() < 0.2 else rng.choice(b"Qw7\n")
                     for _ in range(n))
        c = base64_blobs._runs(data)
        monkeypatch.setattr(base64_blobs.native, "lib", None)
        py = base64_blobs._runs(data)
        monkeypatch.undo()
        assert c == py, data
    # long texts: words, and runs of every length around a line's 40 and the 64 bytes the
    # C search looks at a time, anywhere
    for _ in range(300):
        parts = []
        for _ in range(rng.randrange(1, 40)):
            r = rng.random()
            if r < 0.5:
                parts.append(rng.choice([b"sana ", b"x; ", b"\n", b"\xc3\xa4 ", b"12.3 "]))
            else:
                n = rng.choice([rng.randrange(1, 200), rng.randrange(36, 44),
                                rng.randrange(60, 70), rng.randrange(120, 135)])
                parts.append(bytes(rng.choice(b"Ab9+/=_-\n" if r < 0.6 else b"QwE7")
                                   for _ in range(n)))
        data = b"".join(parts)
        c = base64_blobs._runs(data)
        monkeypatch.setattr(base64_blobs.native, "lib", None)
        py = base64_blobs._runs(data)
        monkeypatch.undo()
        assert c == py, data


def test_a_big_paste_is_read_in_ranges_and_its_blobs_too(tmp_path, monkeypatch):
    monkeypatch.setattr(sf, "TASK_BYTES", 48 << 10)
    monkeypatch.setattr(sf, "RANGE_BYTES", 4 << 10)
    filler = b"".join(f"rivi {i} ilman mitaan\n".encode() for i in range(4000))
    blob = base64.encodebytes(CSV)
    data = filler + INTRO + blob + filler
    assert len(data) > 48 << 10
    where = f"{tmp_path / 'paste.txt'}!base64:{len(filler) + len(INTRO)}"
    for jobs in (1, 2):
        events = _scan(tmp_path, data, jobs=jobs)
        assert _found_in(events, where) == _expected(CSV)
    # one job: the blobs are read from where the hashing thread saw them, not from a
    # second read of the whole file
    read_again = []
    monkeypatch.setattr(base64_blobs, "blobs_in_blocks",
                        lambda *args: read_again.append(args) or iter(()))
    assert _found_in(_scan(tmp_path, data), where) == _expected(CSV)
    assert read_again == []


# -- SQL's hex literals ----------------------------------------------------------------------

NOTE = "\n".join(f"{p.full_name} {p.hetu} {p.email}" for p in PEOPLE[:10]).encode()


def _sql_dump(note: bytes) -> tuple[bytes, list[int]]:
    """A dump with a BLOB column as MySQL (mysqldump --hex-blob, after "=" in an UPDATE),
    PostgreSQL (COPY's bytea) and SQLite (.dump's X'...') write it; and where each note's
    hex digits start."""
    h = note.hex().encode()
    parts = [b"INSERT INTO `muistiinpanot` VALUES (1,'2026-01-02',0x", h.upper(), b"),(2,NULL,0x",
             h, b");\nUPDATE muistiinpanot SET teksti=0x", h, b" WHERE id=3;\n"
             b"COPY notes (id, body) FROM stdin;\n4\t\\\\x", h, b"\n\\.\n"
             b"INSERT INTO notes VALUES(5,X'", h, b"');\n"]
    data, starts = b"", []
    for part in parts:
        if part in (h, h.upper()):
            starts.append(len(data))
        data += part
    return data, starts


def test_sql_hex_literals_are_read(tmp_path):
    """A note stored as a BLOB is hex in a dump: it was never read as text (0 of 5)."""
    data, starts = _sql_dump(NOTE)
    events = _scan(tmp_path, data, "dump.sql")
    for start in starts:
        assert _found_in(events, f"{tmp_path / 'dump.sql'}!hex:{start}") == _expected(NOTE)
    # hex digits alone (a list of hashes) and short literals are not blobs
    hashes = b"\n".join(bytes(range(i, i + 32)).hex().encode() for i in range(20)) + b"\n"
    assert list(base64_blobs.blobs(hashes, 1 << 20)) == []
    assert list(base64_blobs.blobs(b"(0x" + NOTE[:18].hex().encode() + b")", 1 << 20)) == []
    (short,) = base64_blobs.blobs(b"(0x" + NOTE[:19].hex().encode() + b")", 1 << 20)
    assert short.data == NOTE[:19]  # 19 bytes: a name and a code


@pytest.mark.parametrize("block", [7, 64, 100, 1000, 1 << 20])
def test_sql_hex_literals_read_in_blocks_or_regions_are_the_same(block):
    data, starts = _sql_dump(NOTE)
    data = b"sana " * 300 + data + base64.encodebytes(CSV) + data
    whole = list(base64_blobs.blobs(data, 1 << 20))
    assert [b.encoding for b in whole] == ["hex"] * 5 + ["base64"] + ["hex"] * 5
    blocks = [data[i:i + block] for i in range(0, len(data), block)]
    assert list(base64_blobs.blobs_in_blocks(blocks, 1 << 20)) == whole
    regions = base64_blobs.Regions()
    for b in blocks:
        regions.feed(b)
    got = base64_blobs.blobs_in_regions(lambda at, n: data[at:at + n], regions.close(), 1 << 20)
    assert list(got) == whole


def test_a_big_dump_s_hex_literals_are_read_in_ranges(tmp_path, monkeypatch):
    monkeypatch.setattr(sf, "TASK_BYTES", 48 << 10)
    monkeypatch.setattr(sf, "RANGE_BYTES", 4 << 10)
    filler = b"".join(f"INSERT INTO t VALUES ({i},'ei mitaan');\n".encode() for i in range(3000))
    dump, starts = _sql_dump(NOTE)
    data = filler + dump + filler
    for jobs in (1, 2):
        events = _scan(tmp_path, data, "dump.sql", jobs=jobs)
        for start in starts:
            where = f"{tmp_path / 'dump.sql'}!hex:{len(filler) + start}"
            assert _found_in(events, where) == _expected(NOTE), (jobs, start)
