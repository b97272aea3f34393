import datetime as dt
import hashlib

import pytest

from tests.support.index import synthetic_index
from vahti.demo import synthetic
from vahti.matchers.contentid import ContentIds
from vahti.matchers.detectors import name as name_detector
from vahti.matchers.digest import digest
from vahti.matchers.engine import BIRTH_DATE_BONUS, NAME_BONUS, Scanned, Scanner, ScanOptions
from vahti.matchers.index import IndexBuilder, KeyMismatchError
from vahti.matchers.keys import Key
from vahti.matchers.scanfiles import scan_files

KEY = Key(bytes(range(32)))
PEOPLE = synthetic.make_people(50, seed=21)


def _index(people=PEOPLE, customer=False):
    return synthetic_index(KEY, people, customer)


INDEX = _index()


def test_offsets_point_at_the_mangled_original():
    p = PEOPLE[0]
    h = p.hetu
    mangled = h[:6] + "&#8211;" + h[7:].lower() if h[6] == "-" else h[:6] + h[6].lower() + h[7:]
    mangled = "\u200b" + mangled[:3] + "\u00ad" + mangled[3:]
    text = f"Täällä on jotain: {mangled} ja muuta"
    (f,) = Scanner(INDEX, KEY).scan_text(text, "paste/1")
    assert (f.kind, f.id_type, f.ref, f.location) == ("identifier", "hetu", p.ref, "paste/1")
    assert text[f.start:f.end] == mangled.lstrip("\u200b")


def test_fast_path_ascii_and_all_types():
    p = PEOPLE[1]
    # the last code is inside a longer number: not read (glued to letters it would be)
    text = f"{p.hetu};{p.email.upper()};{p.phone}\nnoise 123456 9{PEOPLE[2].hetu}x"
    found = Scanner(INDEX, KEY).scan_text(text, "dump.csv")
    assert [(f.id_type, text[f.start:f.end]) for f in found] == [
        ("hetu", p.hetu), ("email", p.email.upper()), ("phone", p.phone)]
    assert all(f.ref == p.ref for f in found)


def test_types_option_restricts():
    p = PEOPLE[1]
    text = f"{p.hetu} {p.email} {p.phone}"
    found = Scanner(INDEX, KEY, ScanOptions(types=frozenset({"email"}))).scan_text(text, "x")
    assert [f.id_type for f in found] == ["email"]


def test_unenrolled_and_invalid_are_not_found():
    other = synthetic.make_people(5, seed=999)
    text = " ".join(p.hetu for p in other) + " 131052-308U"
    assert Scanner(INDEX, KEY).scan_text(text, "x") == []


def test_corroboration_raises_score_and_name_alone_is_nothing():
    p, q = PEOPLE[3], PEOPLE[4]
    sc = Scanner(INDEX, KEY)
    alone = sc.scan_text(f"koodi {p.hetu}", "x")[0].score
    d = p.birth_date
    text = f"{p.last_name}, {p.first_name} {p.hetu} s. {d.day}.{d.month}.{d.year}"
    with_name = sc.scan_text(text, "x")[0].score
    other_name = sc.scan_text(f"{q.first_name} {q.last_name} {p.hetu}", "x")[0].score
    assert alone == pytest.approx(0.8)
    assert with_name == pytest.approx(min(1.0, 0.8 + NAME_BONUS + BIRTH_DATE_BONUS))
    assert other_name == pytest.approx(0.8) or q.full_name == p.full_name
    assert sc.scan_text(f"{p.full_name} s. {d.isoformat()}", "x") == []


def test_chunk_borders_find_everything_once():
    rng = synthetic.random.Random(4)
    parts, expected = [], []
    for i in range(300):
        parts.append(synthetic.noise_line(rng))
        if i % 7 == 0:
            p = PEOPLE[i % len(PEOPLE)]
            parts.append(f"id {p.hetu} end")
            expected.append(p.hetu)
    text = "\n".join(parts)
    small = Scanner(INDEX, KEY, ScanOptions(types=frozenset({"hetu"}), chunk_chars=1024))
    big = Scanner(INDEX, KEY, ScanOptions(types=frozenset({"hetu"})))
    a, b = small.scan_text(text, "x"), big.scan_text(text, "x")
    assert a == b
    assert [text[f.start:f.end] for f in a] == expected


def test_html_kind_strips_tags():
    p = PEOPLE[5]
    h = p.hetu
    text = f"<td>{h[:7]}<b>{h[7:]}</b></td>"
    (f,) = Scanner(INDEX, KEY).scan_text(text, "page", kind="html")
    assert text[f.start:f.end] == f"{h[:7]}<b>{h[7:]}</b>"[: f.end - f.start]
    assert text[f.start:].startswith(h[:7])


def test_customer_id_needs_pattern():
    idx = _index(customer=True)
    text = "asiakas-000007 ja ASIAKAS-000008"
    assert Scanner(idx, KEY).scan_text(text, "x") == []
    opts = ScanOptions(customer_id_pattern=r"ASIAKAS-\d{6}")
    found = Scanner(idx, KEY, opts).scan_text(text, "x")
    assert [f.ref for f in found] == [PEOPLE[7].ref, PEOPLE[8].ref]


def test_wrong_key_refused():
    with pytest.raises(KeyMismatchError):
        Scanner(INDEX, Key(bytes(32)))


def test_scan_files_deterministic_and_offsets(tmp_path, monkeypatch):
    import vahti.matchers.scanfiles as sf

    monkeypatch.setattr(sf, "TASK_BYTES", 4096)  # force range splitting on a small file
    rng = synthetic.random.Random(8)
    lines, planted = [], []
    for i in range(800):
        lines.append(synthetic.noise_line(rng) + " Äö")
        if i % 40 == 0:
            p = PEOPLE[i % len(PEOPLE)]
            lines.append(f"{p.full_name};{p.hetu}")
            planted.append(p.hetu)
    text = "\n".join(lines)
    path = tmp_path / "dump.txt"
    path.write_text(text, encoding="utf-8")
    opts = ScanOptions(types=frozenset({"hetu"}))
    done = []
    one = list(scan_files([str(path)], INDEX, KEY, opts, jobs=1, progress=done.append))
    two = list(scan_files([str(path)], INDEX, KEY, opts, jobs=2))
    assert one == two
    raw = path.read_bytes()
    assert sum(done) == len(raw)
    # a split file's hash comes from the parent's thread, keyed there
    assert one[-1] == Scanned(str(path), len(raw), ContentIds(KEY).of_bytes(raw),
                              "text", "utf-8", "ok")
    assert one[-1].shareable_sha256 == ""  # under 1 MiB: withheld
    found = one[:-1]
    assert [text[f.start:f.end] for f in found] == planted
    assert found == Scanner(INDEX, KEY, opts).scan_text(text, str(path))


def test_birth_date_in_text_is_not_an_identifier():
    d = dt.date(1980, 2, 1)
    assert Scanner(INDEX, KEY).scan_text(f"s. {d.day}.{d.month}.{d.year}", "x") == []


def _mixed_text(seed=6):
    """Leak-like lines with clean, accented, entity-encoded and odd-dash chunks."""
    rng = synthetic.random.Random(seed)
    lines = []
    for i in range(600):
        line = synthetic.noise_line(rng)
        if i % 9 == 0:
            p = PEOPLE[i % len(PEOPLE)]
            form = synthetic.fi_phone_forms(p.phone)[i % 6]
            lines.append(f"{p.full_name};{p.hetu};{p.email};{form}")
        if i % 97 == 0:
            line += " &amp; \u00a0\u2013 Ω"  # needs normalising (only in a few chunks)
        lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("types", [frozenset({"hetu"}), frozenset({"hetu", "phone"}), None])
@pytest.mark.parametrize("codec", ["utf-8", "cp1252"])
def test_scan_bytes_equals_scan_text(types, codec):
    text = _mixed_text()
    if codec == "cp1252":
        text = text.replace("Ω", "o")
    data = text.encode(codec)
    opts = ScanOptions(types=types, chunk_chars=4096)
    sc = Scanner(INDEX, KEY, opts)
    expected = sc.scan_text(text, "x")
    assert sum(f.id_type == "hetu" for f in expected) >= 60
    found, n_chars = sc.scan_bytes(data, 0, len(data), codec, "x")
    assert n_chars == len(text)
    assert found == expected
    # A range in the middle: offsets count from its first character.
    lo = text.index("\n", len(text) // 3) + 1
    hi = text.index("\n", 2 * len(text) // 3) + 1
    blo, bhi = len(text[:lo].encode(codec)), len(text[:hi].encode(codec))
    part, n_part = sc.scan_bytes(data, blo, bhi, codec, "x")
    assert n_part == hi - lo
    assert [(f.start + lo, f.end + lo) for f in part] == [
        (f.start, f.end) for f in expected if lo <= f.start < hi]


def test_phone_forms_found_without_phonenumbers_at_scan_time():
    p = PEOPLE[9]
    sc = Scanner(INDEX, KEY, ScanOptions(types=frozenset({"phone"})))
    for form in synthetic.fi_phone_forms(p.phone):
        text = f"soita {form}, kiitos"
        (f,) = sc.scan_text(text, "x")
        assert (f.ref, text[f.start:f.end]) == (p.ref, form)
    other = synthetic.make_people(3, seed=77)
    assert sc.scan_text(" ".join(q.phone for q in other), "x") == []
    # Two numbers in a row, the second enrolled.
    q = PEOPLE[10]
    found = sc.scan_text(f"040 000 0000 {q.phone}", "x")
    assert [f.ref for f in found] == [q.ref]


def test_scanned_events_for_members_binary_and_empty(tmp_path):
    (tmp_path / "a.txt").write_text(f"koodi {PEOPLE[0].hetu}\n", encoding="utf-8")
    (tmp_path / "b.bin").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    (tmp_path / "c.txt").write_bytes(b"")
    events = list(scan_files([str(tmp_path), str(tmp_path / "missing")], INDEX, KEY))
    kinds = [(type(e).__name__, getattr(e, "status", None)) for e in events]
    assert kinds == [("Finding", None), ("Scanned", "ok"), ("Scanned", "binary"),
                     ("Scanned", "empty"), ("Skipped", None)]
    raw = (tmp_path / "a.txt").read_bytes()
    assert events[1].content_id == ContentIds(KEY).of_bytes(raw)
    assert hashlib.sha256(raw).hexdigest() not in repr(events[1])
    assert events[1].size == len(raw)


def test_documents_are_scanned_as_text_and_every_unread_input_has_a_reason(tmp_path):
    """A SQLite table, a NUL-padded export and a PNG: the first two are found where
    they are (`x.db!table:NAME`), the PNG is reported with why, in both job modes."""
    import sqlite3

    from vahti.matchers.skips import skip_reason

    p, q = PEOPLE[0], PEOPLE[1]
    conn = sqlite3.connect(tmp_path / "a.db")
    conn.execute("CREATE TABLE visits (name TEXT, hetu TEXT)")
    conn.execute("INSERT INTO visits VALUES (?, ?)", (p.full_name, p.hetu))
    conn.commit()
    conn.close()
    (tmp_path / "b.dat").write_bytes((q.hetu.encode() + b"\0" * 21) * 50)
    (tmp_path / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    for jobs in (1, 2):
        events = list(scan_files([str(tmp_path)], INDEX, KEY, jobs=jobs))
        found = {(e.location, e.ref) for e in events if type(e).__name__ == "Finding"}
        assert found == {(f"{tmp_path}/a.db!table:visits", p.ref),
                         (f"{tmp_path}/b.dat", q.ref)}
        scanned = {e.location: e.encoding for e in events if isinstance(e, Scanned)}
        assert scanned[f"{tmp_path}/a.db!table:visits"] == "sqlite"
        assert scanned[f"{tmp_path}/b.dat"] == "utf-8+nul"
        reasons = {e.location: skip_reason(e) for e in events if skip_reason(e)}
        assert reasons == {f"{tmp_path}/c.png": "binary: PNG image"}


def phone_delimiter_text() -> tuple[str, list[str]]:
    """Lines with +358401234567 between every delimiter (tests/unit/test_detectors.py), in
    data formats, and glued where it is no phone; returns the text and what is found."""
    from tests.unit.test_detectors import (
        PHONE_DELIMITERS,
        PHONE_FORMS,
        PHONE_IN_FORMATS,
        PHONE_LEADS,
        PHONE_NOT_FOUND,
    )

    lines, expected = [], []
    for i, before in enumerate(PHONE_DELIMITERS + PHONE_LEADS):
        for j, after in enumerate(PHONE_DELIMITERS):
            form = PHONE_FORMS[(i + j) % len(PHONE_FORMS)]
            if before.endswith("+"):  # "tel:+" and an international form
                before, form = before[:-1], form if form[0] == "+" else "+358" + form[1:]
            lines.append(f"soita {before}{form}{after} kiitos")
            expected.append(form)
    for text, written in PHONE_IN_FORMATS:
        lines.append(text)
        expected += [written] * text.count(written)
    lines += PHONE_NOT_FOUND
    return "\n".join(lines) + "\n", expected


PHONE_INDEX = IndexBuilder(KEY)
PHONE_INDEX.add("P", {"phone": [digest(KEY, "phone", "+358401234567")]})
PHONE_INDEX = PHONE_INDEX.build()


@pytest.mark.parametrize("codec", ["utf-8", "cp1252"])
def test_phones_between_delimiters_are_found_by_the_scanner(codec):
    text, expected = phone_delimiter_text()
    sc = Scanner(PHONE_INDEX, KEY, ScanOptions(types=frozenset({"phone"}), chunk_chars=4096))
    found = sc.scan_text(text, "x")
    assert [text[f.start:f.end] for f in found] == expected
    data = text.encode(codec)
    assert sc.scan_bytes(data, 0, len(data), codec, "x") == (found, len(text))


def test_a_name_written_without_accents_corroborates():
    p = next(q for q in PEOPLE if not q.full_name.isascii())
    sc = Scanner(INDEX, KEY)
    folded = name_detector.location_form(p.full_name).title()
    assert folded != p.full_name
    (f,) = sc.scan_text(f"{folded} {p.hetu}", "x")
    assert f.score == pytest.approx(0.8 + NAME_BONUS)


@pytest.mark.parametrize("with_native", [True, False])
def test_findings_merge_in_their_order(monkeypatch, with_native):
    """`FindingColumns.merged` places fragment findings among identifier findings exactly
    as sorting the two lists together did, ties included; the columns give back the
    findings they were made of, at any base offset."""
    import random

    from vahti.matchers import native
    from vahti.matchers.engine import FINDING_ORDER, Finding, FindingColumns

    if not with_native:
        monkeypatch.setattr(native, "lib", None)
    rng = random.Random(5)
    for _ in range(300):
        def one(kind: str) -> Finding:
            id_type = "fragment" if kind == "fragment" else rng.choice(["hetu", "email"])
            return Finding(kind, id_type, rng.choice("ABC"), "x", rng.randint(0, 9),
                           rng.randint(9, 12), rng.choice([0.8, 0.95]))
        ident = sorted((one("identifier") for _ in range(rng.randint(0, 12))), key=FINDING_ORDER)
        frags = sorted((one("fragment") for _ in range(rng.randint(0, 4))), key=FINDING_ORDER)
        merged = FindingColumns.of(ident, "x").merged(FindingColumns.of(frags, "x"))
        assert merged.findings() == sorted(ident + frags, key=FINDING_ORDER)
        base = rng.randint(0, 1 << 40)
        assert FindingColumns.of(ident, "x").findings(base) == [
            Finding(f.kind, f.id_type, f.ref, f.location, f.start + base, f.end + base, f.score)
            for f in ident]


@pytest.mark.parametrize("with_native", [True, False])
def test_findings_in_blocks_are_the_findings_in_one_list(monkeypatch, with_native):
    """`FindingColumns.blocks` (what a scan hands on one by one) gives the findings of
    `findings`, in order, in lists of at most FINDING_BLOCK, for every size around the
    block's edges; `make_findings` makes any rows lo to hi and refuses rows out of range."""
    import numpy as np

    from vahti.matchers import engine, native
    from vahti.matchers.engine import Finding, FindingColumns

    if not with_native:
        monkeypatch.setattr(native, "lib", None)
    monkeypatch.setattr(engine, "FINDING_BLOCK", 4)
    for n in range(0, 14):
        cols = FindingColumns.of([Finding("identifier", "hetu", f"P{i}", "x", i, i + 11,
                                          0.8 + i / 100) for i in range(n)], "x")
        blocks = list(cols.blocks(7))
        assert [len(b) for b in blocks] == [min(4, n - lo) for lo in range(0, n, 4)]
        assert [f for b in blocks for f in b] == cols.findings(7)
    if with_native:
        cols = FindingColumns.of([Finding("identifier", "hetu", "P", "x", 1, 2, 0.8)] * 3, "x")
        args = (Finding, cols.kinds, cols.id_types, cols.refs, "x", cols.starts, cols.ends,
                cols.scores, 0)
        assert native.lib.make_findings(*args, 1, 3) == cols.findings()[1:3]
        assert native.lib.make_findings(*args, 3, 3) == []
        for lo, hi in ((-1, 2), (2, 1), (0, 4)):
            with pytest.raises(IndexError, match="out of range"):
                native.lib.make_findings(*args, lo, hi)
        assert np.array_equal(cols.starts, [1, 1, 1])  # (not shifted in place)


def test_a_finding_made_the_fast_way_is_the_same_finding():
    import pickle
    from dataclasses import asdict, replace

    from vahti.matchers.engine import Finding, new_finding

    args = ("identifier", "hetu", "P1", "/x", 3, 14, 0.95)
    fast, slow = new_finding(*args), Finding(*args)
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert asdict(fast) == asdict(slow)
    assert pickle.loads(pickle.dumps(fast)) == slow
    assert replace(fast, start=4) == Finding(*args[:4], 4, *args[5:])
    with pytest.raises(AttributeError):
        fast.start = 5  # type: ignore[misc]


def test_a_finding_made_in_c_is_the_same_finding():
    """The C builder of `FindingColumns.findings` makes what `new_finding` makes."""
    import pickle
    from dataclasses import asdict, replace

    import numpy as np

    from vahti.matchers import native
    from vahti.matchers.engine import Finding

    assert native.lib is not None, "the C extension must be built for the tests"
    args = ("identifier", "hetu", "P1", "/x", 3, 14, 0.95)
    (fast,) = native.lib.make_findings(Finding, ["identifier"], ["hetu"], ["P1"], "/x",
                                       np.array([1], np.int64), np.array([12], np.int64),
                                       np.array([0.95]), 2)
    slow = Finding(*args)
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert type(fast) is Finding and asdict(fast) == asdict(slow)
    assert not hasattr(fast, "__dict__")  # its fields are slots
    import gc

    assert not gc.is_tracked(fast)  # strings and numbers only: no cycle to collect
    assert asdict(fast) == asdict(slow)
    assert pickle.loads(pickle.dumps(fast)) == slow
    assert replace(fast, start=4) == Finding(*args[:4], 4, *args[5:])
    with pytest.raises(AttributeError):
        fast.start = 5  # type: ignore[misc]
    with pytest.raises(ValueError, match="different lengths"):
        native.lib.make_findings(Finding, ["identifier"], ["hetu"], [], "/x",
                                 np.array([1], np.int64), np.array([12], np.int64),
                                 np.array([0.95]), 0)


def test_findings_made_in_c_of_a_class_with_more_slots():
    """The C builder allocates a slotted class's objects itself (untracked, only their
    slots zeroed): slots beyond the seven fields stay unset, a weak reference works, and
    the class's references are given back when the findings go."""
    import gc
    import sys
    import weakref
    from dataclasses import dataclass

    import numpy as np

    from vahti.matchers import native
    from vahti.matchers.engine import Finding

    assert native.lib is not None, "the C extension must be built for the tests"

    @dataclass(frozen=True, slots=True, weakref_slot=True)
    class Noted(Finding):
        note: str = ""

    def make(n: int) -> list:
        return native.lib.make_findings(
            Noted, ["identifier"] * n, ["hetu"] * n, [f"P{i}" for i in range(n)], "/x",
            np.arange(n, dtype=np.int64), np.arange(n, dtype=np.int64) + 11,
            np.full(n, 0.95), 5)

    assert make(0) == []  # (the builder keeps the last class it was given)
    n = 1000
    held = sys.getrefcount(Noted)
    made = make(n)
    assert sys.getrefcount(Noted) == held + n  # each object holds its class
    assert [(f.ref, f.start, f.end) for f in made[:2]] == [("P0", 5, 16), ("P1", 6, 17)]
    assert all(type(f) is Noted and not gc.is_tracked(f) for f in made)
    with pytest.raises(AttributeError):
        made[0].note  # noqa: B018
    ref = weakref.ref(made[0])
    assert ref() is made[0]
    del made
    gc.collect()
    assert ref() is None and sys.getrefcount(Noted) == held


def test_the_c_builder_keeps_every_score_as_it_is():
    """`make_findings` makes one float object for each run of equal scores (a batch's
    scores take a few values): every finding still has its own score, including a zero
    after a negative zero, a NaN after a NaN, and values that differ in the last bit."""
    import math

    import numpy as np

    from vahti.matchers import native
    from vahti.matchers.engine import Finding

    assert native.lib is not None, "the C extension must be built for the tests"
    scores = [0.5, 0.5, 0.65, 0.5, -0.0, 0.0, 0.0, -0.0, math.nan, math.nan, 1.0,
              math.nextafter(1.0, 0.0), 1.0, 0.7, 0.7]
    n = len(scores)
    made = native.lib.make_findings(
        Finding, ["identifier"] * n, ["hetu"] * n, [f"P{i}" for i in range(n)], "/x",
        np.arange(n, dtype=np.int64), np.arange(n, dtype=np.int64) + 11,
        np.array(scores), 0)
    for f, want in zip(made, scores, strict=True):
        assert type(f.score) is float
        if math.isnan(want):
            assert math.isnan(f.score)
        else:
            assert f.score == want and math.copysign(1.0, f.score) == math.copysign(1.0, want)
    assert made[0].score is made[1].score  # a run shares its object
    assert made[0].score is not made[3].score


def test_the_c_builder_fills_any_class_of_the_seven_fields():
    """`make_findings` fills the slots of a class with __slots__ directly and sets the
    fields of one with a __dict__ the generic way; switching between classes (it keeps
    the slot offsets of the last one) gives each its own."""
    from dataclasses import astuple, fields, make_dataclass

    import numpy as np

    from vahti.matchers import native
    from vahti.matchers.engine import Finding

    assert native.lib is not None, "the C extension must be built for the tests"
    spec = [(f.name, f.type) for f in fields(Finding)]
    WithDict = make_dataclass("WithDict", spec, frozen=True)
    # the same fields in another order: other slot offsets
    Reordered = make_dataclass("Reordered", spec[::-1], frozen=True, slots=True)
    cols = (["identifier", "fragment"], ["hetu", "fragment"], ["P1", "P2"], "/x",
            np.array([1, 5], np.int64), np.array([12, 9], np.int64), np.array([0.95, 0.5]))
    want = [("identifier", "hetu", "P1", "/x", 3, 14, 0.95),
            ("fragment", "fragment", "P2", "/x", 7, 11, 0.5)]
    for cls in (Finding, WithDict, Reordered, Finding, WithDict):
        made = native.lib.make_findings(cls, *cols, 2)
        assert all(type(f) is cls for f in made)
        got = [astuple(f) if cls is not Reordered else astuple(f)[::-1] for f in made]
        assert got == want
    assert native.lib.make_findings(Finding, *cols, 2) == [Finding(*w) for w in want]


def test_first_of_each_hit_is_the_first_of_its_duplicates():
    """`_first_of_each` keeps the first of each (type, start, end, person), in hit order:
    what np.unique over the rows gives."""
    import numpy as np

    from vahti.matchers.engine import _first_of_each

    rng = np.random.default_rng(3)
    for n in [1, 2, 5, 50, 400]:
        types = list(rng.choice(["hetu", "email", "phone"], n))
        starts = rng.integers(0, 6, n)
        ends = starts + rng.integers(1, 3, n)
        people = rng.integers(0, 3, n)
        code = {t: i for i, t in enumerate(dict.fromkeys(types))}
        rows = np.stack([[code[t] for t in types], starts, ends, people], axis=1)
        expected = np.sort(np.unique(rows, axis=0, return_index=True)[1])
        codes = np.array([code[t] for t in types], dtype=np.int64)
        assert _first_of_each(codes, starts, ends, people).tolist() == expected.tolist()


def test_first_of_each_is_the_same_packed_in_one_key_or_sorted_by_four():
    """Hits whose columns fit in one int64 are deduplicated on that key (and seen in
    order and distinct in one pass); wider ones by the four-column sort: the same
    indices, for sorted and unsorted hits, with and without duplicates, at the edge of
    63 bits and past it."""
    import numpy as np

    from vahti.matchers.engine import _first_of_each

    def four_column_sort(codes, starts, ends, people):  # noqa: ANN001, ANN202
        order = np.lexsort((people, ends, starts, codes))
        cols = [c[order] for c in (codes, starts, ends, people)]
        first = np.ones(len(order), dtype=bool)
        first[1:] = np.logical_or.reduce([c[1:] != c[:-1] for c in cols])
        return np.sort(order[first])

    rng = np.random.default_rng(15)
    packed = wide = 0
    for trial in range(2000):
        n = int(rng.integers(0, 60))
        codes = rng.integers(0, 4, n).astype(np.int64)
        starts = rng.integers(0, int(rng.choice([4, 10**6, 2**40])), n).astype(np.int64)
        ends = starts + rng.integers(0, int(rng.choice([2, 400])), n)
        people = rng.integers(0, int(rng.choice([3, 40_000, 2**30])), n).astype(np.int64)
        if trial % 5 == 4:  # one type's hits in order, one at a start, or some at one
            codes[:] = codes[0] if n else 0
            starts = np.sort(rng.choice(max(2 * n, 1), n, replace=bool(trial % 2)))
            ends = starts + rng.integers(1, 13, n)
        if trial % 3 == 0:  # in order, as one detector's hits come
            order = np.lexsort((people, ends, starts, codes))
            codes, starts, ends, people = codes[order], starts[order], ends[order], people[order]
        elif trial % 3 == 1:  # each type's hits in order, the types one after another in
            # any order (as a scanner's detectors add them); sometimes a type in two runs
            order = np.lexsort((people, ends, starts, codes))
            codes, starts, ends, people = codes[order], starts[order], ends[order], people[order]
            runs = np.split(np.arange(n), np.flatnonzero(codes[1:] != codes[:-1]) + 1)
            if trial % 2 and runs and len(runs[0]) > 1:
                runs = [runs[0][1:], *runs[1:], runs[0][:1]]  # one type's first hit last
            rng.shuffle(runs)
            order = np.concatenate(runs) if n else np.zeros(0, np.int64)
            codes, starts, ends, people = codes[order], starts[order], ends[order], people[order]
        if n:
            bits = sum(int(c.max()).bit_length() for c in (codes, starts, ends - starts, people))
            packed += bits <= 63
            wide += bits > 63
        got = _first_of_each(codes, starts, ends, people)
        assert got.tolist() == four_column_sort(codes, starts, ends, people).tolist()
    assert packed > 500 and wide > 100  # both ways were taken
    # The types out of code order, each in order: all kept. A type in two runs whose
    # second repeats a hit of its first: the repeat is not (one run a type is not enough).
    c, s, e, p = ([2, 2, 0, 0, 1], [5, 9, 1, 7, 3], [6, 10, 2, 8, 4], [0, 0, 1, 1, 0])
    cols = [np.array(x, dtype=np.int64) for x in (c, s, e, p)]
    assert _first_of_each(*cols).tolist() == [0, 1, 2, 3, 4]
    cols = [np.array(x + [x[0]], dtype=np.int64) for x in (c, s, e, p)]
    assert _first_of_each(*cols).tolist() == [0, 1, 2, 3, 4]


def test_distinct_people_by_table_or_by_sort_is_np_unique():
    """`_distinct_people` is np.unique(people, return_inverse=True), whichever way it
    takes: the table over the indices (its slots are not zeroed: only hits' persons are
    read) or the sort of a few hits of a big watchlist."""
    import numpy as np

    from vahti.matchers.engine import _distinct_people

    rng = np.random.default_rng(21)
    ways = set()
    for trial in range(600):
        n = int(rng.integers(0, 3000))
        top = int(rng.choice([1, 50, 40_000, 400_000, 2**21 + 1, 2**31]))
        people = rng.integers(0, top, n).astype(np.int64)
        if trial % 4 == 0:
            people = np.sort(people)
        persons, at = _distinct_people(people)
        want, want_at = np.unique(people, return_inverse=True)
        assert persons.tolist() == want.tolist()
        assert at.tolist() == want_at.reshape(-1).tolist()
        if n:
            ways.add(int(people.max()) + 1 > min(100 * n + 65536, 2**21))
    assert ways == {True, False}  # both ways were taken


def test_finding_order_ranks_refs_only_where_spans_tie():
    """`_finding_order` is the lexsort by (start, end, type, ref) with ties in hit order,
    also where one span is enrolled for several people and where two people share a ref;
    `fragments.dedupe_sorted` of the sorted people is np.unique of them."""
    import numpy as np

    from vahti.matchers.engine import _finding_order
    from vahti.matchers.fragments import dedupe_sorted

    rng = np.random.default_rng(11)
    # (hits, starts below, sorted): ties; starts in order, with ties and without (one
    # type); starts too wide for one packed key
    cases = [(n, 8, False) for n in [0, 1, 2, 7, 60, 500]]
    cases += [(n, 50, True) for n in [2, 60, 500]] + [(n, 1 << 40, True) for n in [2, 60, 500]]
    cases += [(n, 1 << 62, False) for n in [2, 60]]
    for n, top, in_order in cases:
        starts = rng.integers(0, top, n)
        starts = np.sort(starts) if in_order else starts
        ends = starts + rng.integers(1, 40, n)
        type_of = rng.integers(0, 3, n)
        people = rng.integers(0, 9, n)
        persons = dedupe_sorted(np.sort(people))
        assert persons.tolist() == np.unique(people).tolist()
        names = [f"ref-{rng.integers(0, 5)}" for _ in range(len(persons))]  # shared refs too
        refs = np.array(names, dtype=object)
        person_at = np.searchsorted(persons, people)
        ref_rank = np.unique(refs, return_inverse=True)[1] if n else np.zeros(0, np.int64)
        expected = np.lexsort((ref_rank[person_at], type_of, ends, starts))
        got = _finding_order(starts, ends, type_of, refs, person_at)
        assert got.tolist() == expected.tolist()


def test_char_start_moves_only_out_of_a_valid_utf8_sequence():
    from vahti.matchers.engine import char_start

    data = "aä€😀".encode() + b"\xb0\xb0\xb0\xb0z" + "ä".encode()[:1]
    # inside ä (2 bytes), € (3), 😀 (4): to the character's end
    assert [char_start(data, i, True) for i in range(10)] == [0, 1, 3, 3, 6, 6, 6, 10, 10, 10]
    # stray continuation bytes are characters of their own (read as cp1252), however
    # long their run
    assert [char_start(data, i, True) for i in range(10, 15)] == [10, 11, 12, 13, 14]
    assert char_start(data, 16, True) == 16  # the end
    assert char_start("€".encode()[:2], 1, True) == 1  # a sequence cut off by the end
    assert char_start(data, 12, False) == 12  # cp1252: every byte
