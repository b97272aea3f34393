"""The parallel scan gives exactly the events of `jobs=1`, and of scanning each input
whole, on a mixed corpus: files cut in ranges (judged on their head or on their whole
bytes), small files, UTF-8 and cp1252, an archive, a binary file, a missing path."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace

import pytest

from benchmarks.scan_throughput import build_index
from tests.support.index import synthetic_index
from vahti.demo import synthetic
from vahti.matchers import archives, decode
from vahti.matchers import scanfiles as sf
from vahti.matchers.contentid import ContentIds
from vahti.matchers.engine import (
    Finding,
    FindingColumns,
    Scanned,
    Scanner,
    ScanOptions,
    Skipped,
)
from vahti.matchers.keys import Key
from vahti.matchers.skips import skip_reason

KEY = Key(bytes(range(32)))
PEOPLE = synthetic.make_people(40, seed=31)
INDEX = synthetic_index(KEY, PEOPLE)


def _text(seed: int, lines: int, notes: bool = False) -> str:
    """Leak-like lines, accented, with people's identifiers (and notes) planted."""
    rng = synthetic.random.Random(seed)
    out = []
    for i in range(lines):
        out.append(synthetic.noise_line(rng) + " Äö")
        if i % 7 == 0:
            p = PEOPLE[rng.randrange(len(PEOPLE))]
            out.append(f"{p.full_name};{p.hetu};{p.email};{p.phone}")
        if notes and i % 50 == 0:
            words = PEOPLE[rng.randrange(len(PEOPLE))].notes[0].split()
            out.append(" ".join(words[10:70]))
    return "\n".join(out) + "\n"


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    monkeypatch.setattr(sf, "TASK_BYTES", 48 << 10)  # head-judged ranges above this
    monkeypatch.setattr(sf, "RANGE_BYTES", 4 << 10)
    (tmp_path / "a_dump.csv").write_text(_text(1, 400), encoding="utf-8")  # judged whole
    (tmp_path / "b_big.txt").write_text(_text(2, 900, notes=True), encoding="utf-8")
    (tmp_path / "c_small.txt").write_text(_text(3, 10), encoding="utf-8")
    (tmp_path / "d_latin.txt").write_bytes(_text(4, 300).encode("cp1252"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("inner.csv", _text(5, 300))
    (tmp_path / "e.zip").write_bytes(buf.getvalue())
    (tmp_path / "f.bin").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    (tmp_path / "g_notes.txt").write_text(_text(6, 400, notes=True), encoding="utf-8")
    paths = sorted(str(p) for p in tmp_path.iterdir()) + [str(tmp_path / "missing")]
    sizes = {str(p): p.stat().st_size for p in tmp_path.iterdir()}
    assert sizes[paths[1]] > sf.TASK_BYTES and sf.RANGE_BYTES < sizes[paths[0]] < sf.TASK_BYTES
    return paths


@pytest.fixture(autouse=True, params=["workers", "in process"])
def gate(request, monkeypatch):
    """Each test twice: a scan with jobs > 1 starting its workers, and one that the gate
    keeps in process after its first range (`scanfiles._gate`; the rest cut as one job
    cuts it)."""
    if request.param == "workers":
        monkeypatch.setattr(sf, "_gate", lambda tasks, jobs, total: ([], tasks, True))
    else:
        monkeypatch.setattr(sf, "_break_even", lambda left, jobs: float("inf"))
    return request.param


@pytest.fixture
def plans(monkeypatch):
    """The plan (`scanfiles._plan`) of every scan_files call."""
    seen: list[str] = []
    tasks = sf._tasks
    monkeypatch.setattr(sf, "_tasks", lambda *args: seen.append(args[-1]()) or tasks(*args))
    return seen


def _run(paths, index, opts, jobs):
    done: list[int] = []
    events = list(sf.scan_files(paths, index, KEY, opts, jobs=jobs, progress=done.append))
    return events, sum(done)


@pytest.mark.parametrize("types", [frozenset({"hetu"}), None])
def test_parallel_scan_equals_one_job_and_whole_files(corpus, plans, types):
    opts = ScanOptions(types=types)
    one, done_one = _run(corpus, INDEX, opts, 1)
    two, done_two = _run(corpus, INDEX, opts, 2)
    assert plans == ["kept", "ranges"]  # jobs=1 cuts nothing more; no fragments enrolled
    assert two == one
    assert [type(e) for e in two] == [type(e) for e in one]
    assert done_one == done_two
    # Each plain file's events are those of scanning it whole, as one input.
    sc = Scanner(INDEX, KEY, opts)
    for path in corpus:
        if not path.endswith((".csv", ".txt")):
            continue
        data = open(path, "rb").read()
        dec = decode.decode_bytes(data, path)
        mine = [e for e in one if e.location == path]
        assert mine[:-1] == sc.scan_text(dec.text, path, dec.kind)
        assert len(mine) >= 2
        if len(data) <= sf.TASK_BYTES:  # judged on the whole bytes, as a member is
            assert mine[-1] == Scanned(path, len(data), ContentIds(KEY).of_bytes(data),
                                       dec.kind, dec.encoding, "ok")
    assert isinstance(one[-1], Skipped)
    assert any(isinstance(e, Finding) and "!inner.csv" in e.location for e in one)
    # the binary file: reported (its strings read, random bytes make a few)
    assert any(isinstance(e, Scanned) and e.status == "strings" and skip_reason(e) for e in one)


@pytest.mark.parametrize("retain", [False, True])
def test_parallel_scan_with_fragments_equals_the_uncut_scan(corpus, plans, retain):
    """Fragment findings are the best region per record and chunk: they are scanned over
    the text each file was always scanned as (whole, or in TASK_BYTES ranges), apart from
    the identifiers' ranges, and merged back in order: the events are those of the scan
    that cuts nothing more (jobs=1, plan "kept")."""
    index = build_index(KEY, PEOPLE, True)
    opts = ScanOptions(retain=retain)
    uncut, done_uncut = _run(corpus, index, opts, 1)
    two, done_two = _run(corpus, index, opts, 2)
    assert plans == ["kept", "kept" if retain else "apart"]
    assert two == uncut
    assert done_two == done_uncut
    assert sum(isinstance(e, Finding) and e.kind == "fragment" for e in uncut) >= 5
    assert sum(isinstance(e, Finding) and e.kind == "fragment"
               and e.location == corpus[1] for e in uncut) >= 2  # the big file's, in ranges
    kept = [e.retained for e in two if isinstance(e, Scanned)]
    kept_uncut = [e.retained for e in uncut if isinstance(e, Scanned)]
    assert [sorted(k or {}) for k in kept] == [sorted(k or {}) for k in kept_uncut]
    for a, b in zip(kept, kept_uncut, strict=True):
        assert all((a[t] == b[t]).all() for t in a or {})


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("fragments", [False, True])
def test_findings_as_columns_are_the_same_events(corpus, jobs, fragments):
    """`scan_files(columns=True)` (what `vahti scan --json` reads) gives the findings of a
    task as one batch with their final offsets (fragment findings scanned apart merged
    in): expanded, exactly the events of a scan that yields objects, in the same order."""
    index = build_index(KEY, PEOPLE, True) if fragments else INDEX
    objects = list(sf.scan_files(corpus, index, KEY, ScanOptions(), jobs=jobs))
    mixed = list(sf.scan_files(corpus, index, KEY, ScanOptions(), jobs=jobs, columns=True))
    expanded = [x for e in mixed
                for x in (e.findings() if isinstance(e, FindingColumns) else [e])]
    assert expanded == objects
    batches = [e for e in mixed if isinstance(e, FindingColumns)]
    assert sum(map(len, batches)) == sum(isinstance(e, Finding) for e in objects)
    assert not any(isinstance(e, Finding) for e in mixed)
    assert all(len(b) and len({b.location}) == 1 for b in batches)


@pytest.mark.parametrize("codec", ["utf-8", "cp1252"])
def test_identifiers_padded_past_a_ranges_context_are_found(tmp_path, monkeypatch, codec):
    """A range read from its file takes a fixed context after its end. An identifier
    padded (characters that normalise to nothing) across that end needs more of it: the
    range is read again with more, and finds what a scan of the whole text finds."""
    monkeypatch.setattr(sf, "TASK_BYTES", 48 << 10)
    monkeypatch.setattr(sf, "RANGE_BYTES", 4 << 10)
    p = PEOPLE[3]
    pad = "\u00ad" * 250  # soft hyphens: two bytes in UTF-8, one in cp1252
    rng = synthetic.random.Random(9)
    lines = []
    for i in range(1200):
        lines.append(synthetic.noise_line(rng))
        if i % 40 == 0:
            lines.append(f"{p.full_name} {pad.join(p.hetu)} {pad.join(p.email)}")
    text = "\n".join(lines) + "\n"
    path = tmp_path / "padded.txt"
    path.write_bytes(text.encode(codec))
    assert path.stat().st_size > sf.TASK_BYTES  # its ranges are read from the file
    opts = ScanOptions(fragments=False)
    assert len(pad.join(p.email)) * 2 > Scanner(INDEX, KEY, opts).context_after_bytes
    dec = decode.decode_bytes(path.read_bytes(), str(path))
    expected = Scanner(INDEX, KEY, opts).scan_text(dec.text, str(path), dec.kind)
    assert sum(f.id_type == "email" for f in expected) == 30
    assert sum(f.id_type == "hetu" and f.score > 0.9 for f in expected) == 30
    for jobs in (1, 2):
        events = list(sf.scan_files([str(path)], INDEX, KEY, opts, jobs=jobs))
        assert events[:-1] == expected
        assert isinstance(events[-1], Scanned) and events[-1].status == "ok"


def test_ranges_cut_utf8_with_long_runs_of_stray_bytes_where_their_neighbours_do(
        tmp_path, monkeypatch):
    """UTF-8 with broken bytes (read with cp1252 for them) can hold a run of bytes
    0x80-0xBF longer than a range's context. A cut that skipped such bytes to the end of
    their run stopped where the range's bytes ended, and the next range cut the file
    further on: the characters between were counted by neither, and every offset after
    them was off. Cuts now depend on a few bytes around them (`engine.char_start`)."""
    monkeypatch.setattr(sf, "TASK_BYTES", 48 << 10)
    monkeypatch.setattr(sf, "RANGE_BYTES", 4 << 10)
    p = PEOPLE[3]
    line = f"Käyttäjä {p.full_name} {p.hetu} {p.email} {'ä' * 600}\n".encode()
    # runs away from the head and the middle that judge the file
    data = b"".join(line + (b"\xb0" * 12000 + b"\n" if i in (30, 70, 130, 170) else b"")
                    for i in range(200))
    path = tmp_path / "mixed.txt"
    path.write_bytes(data)
    dec = decode.decode_bytes(data, str(path))
    assert dec.encoding == "utf-8+cp1252"
    opts = ScanOptions(fragments=False)
    assert 12000 > Scanner(INDEX, KEY, opts).context_after_bytes
    expected = Scanner(INDEX, KEY, opts).scan_text(dec.text, str(path), dec.kind)
    assert len(expected) == 400
    for jobs in (1, 2):
        events = list(sf.scan_files([str(path)], INDEX, KEY, opts, jobs=jobs))
        assert events[:-1] == expected
        assert isinstance(events[-1], Scanned) and events[-1].status == "ok"


@pytest.mark.parametrize("codec", ["utf-8", "cp1252"])
def test_note_excerpts_across_range_borders_are_found_as_in_the_whole_text(
        tmp_path, monkeypatch, codec):
    """A file over TASK_BYTES has its fragments scanned in TASK_BYTES ranges read from the
    file. An excerpt of a note across a range's start must be found as in the whole text:
    the range reads the text before its start too (`Scanner.context_before_bytes`), so
    that the fingerprints just after the border are those of the whole text."""
    monkeypatch.setattr(sf, "TASK_BYTES", 16 << 10)
    monkeypatch.setattr(sf, "RANGE_BYTES", 4 << 10)
    rng = synthetic.random.Random(5)
    words = "ja on ei että hän oli tietokanta vuoto salasana käyttäjä".split()
    out = b""
    for k, p in enumerate(PEOPLE):  # one excerpt of each person's note across border k + 1
        note = p.notes[0].split()
        excerpt = " ".join(note[5 : 5 + (16, 20, 24)[k % 3]]).encode(codec)
        at = (k + 1) * sf.TASK_BYTES - (k * 13) % (len(excerpt) + 20)
        while len(out) < at - 12:
            out += (" " + rng.choice(words)).encode(codec)
        out += b" " * (at - len(out)) + excerpt
    out += b" loppu\n"
    path = tmp_path / "notes.txt"
    path.write_bytes(out)
    index = build_index(KEY, PEOPLE, True)
    opts = ScanOptions()
    dec = decode.decode_bytes(out, str(path))
    expected = [f for f in Scanner(index, KEY, opts).scan_text(dec.text, str(path), dec.kind)
                if f.kind == "fragment"]
    assert len(expected) >= 30  # most excerpts are hits in the whole text
    for jobs in (1, 2):
        events = list(sf.scan_files([str(path)], index, KEY, opts, jobs=jobs))
        assert [e for e in events if isinstance(e, Finding) and e.kind == "fragment"] == expected
        assert isinstance(events[-1], Scanned) and events[-1].status == "ok"


@pytest.mark.parametrize("head,task_bytes", [
    (8 << 10, 8 << 20),  # random bytes; a file judged on its whole bytes
    (8 << 10, 48 << 10),  # cut in ranges: its 64 KiB head reads as text
    (100 << 10, 48 << 10),  # its 64 KiB head is all junk: all of it is counted
    (b"\x89PNG\r\n\x1a\n", 8 << 20),  # an image's magic bytes
    (b"PK\x03\x04", 48 << 10),  # an archive's: the archive cannot be opened
    (b"\x1f\x8b", 8 << 20),
])
def test_a_dump_behind_a_binary_head_is_scanned(tmp_path, monkeypatch, head, task_bytes):
    """Random bytes, or a format's magic bytes, put before a CSV dump made the whole file
    "binary" or a "corrupt archive", and none of its identifiers was found. The text
    that makes up nearly all of the file is scanned."""
    monkeypatch.setattr(sf, "TASK_BYTES", task_bytes)
    monkeypatch.setattr(sf, "RANGE_BYTES", 4 << 10)
    rng = synthetic.random.Random(13)
    junk = head if isinstance(head, bytes) else bytes(rng.getrandbits(8) for _ in range(head))
    rows = "".join(f"{i};{p.full_name};{p.hetu};{p.email}\n" for i, p in enumerate(PEOPLE))
    path = tmp_path / "dump.csv"
    path.write_bytes(junk + rows.encode() * 400)  # about 1 MB
    if len(junk) > 100:
        assert decode.decode_bytes(junk + junk).kind == "binary"  # the junk alone is binary
    if head != b"PK\x03\x04":  # (an archive, read as a member once it cannot be opened)
        # a big file is cut in ranges, not read whole as one member (memory, workers)
        assert (path.stat().st_size <= sf.TASK_BYTES
                or sf._plain_file_tasks(str(path), 0, "kept") is not None)
    dec = decode.decode_bytes(path.read_bytes(), str(path))
    opts = ScanOptions(types=frozenset({"hetu", "email"}))
    expected = Scanner(INDEX, KEY, opts).scan_text(dec.text, str(path), dec.kind)
    assert sum(f.id_type == "hetu" for f in expected) == 400 * len(PEOPLE)
    for jobs in (1, 2):
        events = list(sf.scan_files([str(path)], INDEX, KEY, opts, jobs=jobs))
        assert events[:-1] == expected
        assert isinstance(events[-1], Scanned) and events[-1].status == "ok"


@pytest.mark.parametrize("junk_bytes,task_bytes", [
    (8 << 10, 8 << 20),  # random bytes; a file judged on its whole bytes
    (8 << 10, 48 << 10),  # cut in ranges: its 64 KiB head reads as text
    (100 << 10, 48 << 10),  # its 64 KiB head is all junk: places spread over it decide
    (-100 << 10, 48 << 10),  # junk of bytes over 0x7F: a head that reads as cp1252 text
])
def test_a_utf8_dump_behind_junk_is_read_as_utf8(tmp_path, monkeypatch, junk_bytes, task_bytes):
    """Junk before a UTF-8 dump made it cp1252 (every junk byte over 0x7F is a broken UTF-8
    sequence): "Mäkelä" read "MÃ¤kelÃ¤", names corroborated nothing, and note excerpts
    with such letters were missed without a word. The findings must be those of the
    same dump behind as many bytes of ASCII, but for the characters the junk decodes to."""
    monkeypatch.setattr(sf, "TASK_BYTES", task_bytes)
    monkeypatch.setattr(sf, "RANGE_BYTES", 4 << 10)
    rng = synthetic.random.Random(15)
    low = 0x80 if junk_bytes < 0 else 0
    junk = bytes(rng.randrange(low, 256) for _ in range(abs(junk_bytes))) + b"\n"
    rows = "".join(f"{i};{p.full_name};{p.hetu};{p.email};{' '.join(p.notes[0].split()[3:25])}\n"
                   for i, p in enumerate(PEOPLE))
    body = rows.encode() * 50  # about 450 KB
    assert sum(b >= 0x80 for b in body) > 3000  # names and notes with ä, ö
    shift = len(junk) - len(junk.decode("utf-8", errors="vahti-cp1252"))
    index = build_index(KEY, PEOPLE, True)
    opts = ScanOptions()

    def scan(data: bytes, jobs: int) -> list:
        path = tmp_path / "dump.csv"
        path.write_bytes(data)
        return list(sf.scan_files([str(path)], index, KEY, opts, jobs=jobs))

    padded = scan(b"." * (len(junk) - 1) + b"\n" + body, 1)
    expected = [replace(f, start=f.start - shift, end=f.end - shift) for f in padded[:-1]]
    assert {f.ref for f in expected if f.kind == "fragment"} == {p.ref for p in PEOPLE}
    for jobs in (1, 2):
        events = scan(junk + body, jobs)
        assert events[:-1] == expected
        assert isinstance(events[-1], Scanned) and events[-1].encoding == "utf-8+cp1252"
    # a big file is cut in ranges, judged on its head and the places spread over it
    assert (len(junk + body) <= sf.TASK_BYTES
            or sf._plain_file_tasks(str(tmp_path / "dump.csv"), 0, "kept") is not None)


def test_a_zstandard_dump_is_scanned(tmp_path):
    """A dump packed with Zstandard was "binary: N% control bytes in sample", and none of
    its identifiers was found."""
    rows = "".join(f"{i};{p.full_name};{p.hetu};{p.email}\n" for i, p in enumerate(PEOPLE))
    path = tmp_path / "dump.csv.zst"
    path.write_bytes(archives.zstd.compress(rows.encode() * 10))
    opts = ScanOptions(types=frozenset({"hetu", "email"}))
    expected = Scanner(INDEX, KEY, opts).scan_text(rows * 10, f"{path}!dump.csv", "csv")
    assert sum(f.id_type == "hetu" for f in expected) == 10 * len(PEOPLE)
    for jobs in (1, 2):
        events = list(sf.scan_files([str(path)], INDEX, KEY, opts, jobs=jobs))
        assert events[:-1] == expected
        assert events[-1].location == f"{path}!dump.csv" and events[-1].status == "ok"


@pytest.mark.parametrize("task_bytes", [8 << 20, 8 << 10])
def test_an_rtf_document_is_read_as_its_text(tmp_path, monkeypatch, task_bytes):
    """Clinical notes exported as RTF: "Mäkelä" is "M\\'e4kel\\'e4" in it, so read as
    plain text its names corroborated nothing and excerpts of notes with such letters were
    missed. Its text is scanned, a big one too (not cut in ranges of its raw bytes)."""
    from tests.unit.test_documents import _rtf

    monkeypatch.setattr(sf, "TASK_BYTES", task_bytes)
    monkeypatch.setattr(sf, "RANGE_BYTES", 4 << 10)
    body = "".join(f"{p.full_name} {p.hetu}\n{' '.join(p.notes[0].split()[2:30])}\n"
                   for p in PEOPLE)
    path = tmp_path / "notes.rtf"
    path.write_bytes(_rtf(body))
    assert path.stat().st_size > 8 << 10
    index = build_index(KEY, PEOPLE, True)
    opts = ScanOptions()
    expected = Scanner(index, KEY, opts).scan_text(body, str(path), "text")
    assert {f.ref for f in expected if f.kind == "fragment"} == {p.ref for p in PEOPLE}
    for jobs in (1, 2):
        events = list(sf.scan_files([str(path)], index, KEY, opts, jobs=jobs))
        assert events[:-1] == expected
        assert events[-1].encoding == "rtf" and events[-1].status == "ok"


def test_a_big_binary_file_is_not_counted_whole(tmp_path, monkeypatch):
    """A big file whose head says binary is counted whole only when most of 32 places
    spread over it read as text: a disk image is not read half through to say so."""
    monkeypatch.setattr(sf, "TASK_BYTES", 48 << 10)
    counted: list[int] = []
    whole = decode.file_text_all_over
    monkeypatch.setattr(decode, "file_text_all_over",
                        lambda fh, size: counted.append(size) or whole(fh, size))
    rng = synthetic.random.Random(14)
    binary = tmp_path / "disk.img"
    binary.write_bytes(bytes(rng.getrandbits(8) for _ in range(400_000)))
    assert sf._plain_file_tasks(str(binary), 0, "kept") is None and counted == []
    junk_head = tmp_path / "dump.csv"
    junk_head.write_bytes(binary.read_bytes()[:70_000] + b"1;Matti;131052-308T\n" * 20_000)
    assert sf._plain_file_tasks(str(junk_head), 1, "kept") is not None
    assert counted == [junk_head.stat().st_size]
