"""The C reader of names and birth dates (`matchers/_native_corr.c`) reads a span
exactly as the Python detectors do (`name.candidate_values`, `birth_date.find`).

Seeded fuzz over the pieces that decide a match: letters of every width (Latin-1,
Greek, astral), word joiners, the gaps between words, digits of other scripts,
full-width digits, every spacing of a date, impossible dates, and lookarounds.
The texts are read in random spans, so words and dates are also cut at the ends.
"""

from __future__ import annotations

import random
from itertools import pairwise

import numpy as np
import pytest

from tests.support.index import synthetic_index
from vahti.demo import synthetic
from vahti.matchers import engine, native
from vahti.matchers.detectors import birth_date
from vahti.matchers.detectors import name as name_detector
from vahti.matchers.keys import Key

WORDS = ["Anna", "Virtanen", "anna", "ÄÄLI", "Mäkelä", "O'Brien", "Anna-Liisa", "Jean’Luc",
         "Straße", "İlkay", "ǅemal", "ﬁnn", "Ωmega", "𝔄lma", "José", "e\u0301mile", "x", "Q",
         "Ne-", "Lee'", "Søren", "ß", "Ⅻ", "ª", "abc_def"]
GAPS = [" ", ",", "\t", "  ", ", ", " ,\t", "\n", ";", "-", "'", "’", "_", ".", " - ", "\u00a0",
        "3", "٣", "/", "\\", "&"]
DATES = ["1.2.1980", "01.02.1980", "1 . 2 . 1980", "1. 2. 1980", "31/12/1999", "1980-02-29",
         "2000-02-29", "1900-02-29", "1981-02-29", "32.1.1980", "12.13.1980", "0.1.1980",
         "1.2.19801", "x1.2.1980", "1.2.1980.5", "1.2.1980.", "1.2.1980-", "1.2.1980/",
         "٣.٤.1980", "1.2.19٨٠", "１.２.1980", "1.2.１９80", "29.2.2000", "29.2.1900",
         "1999-1-01", "1999-01-1", "2099-12-31", "1799-12-31", "3.4.2100", "12.3.1880",
         "1.1.1900", "001.1.1980", "1.001.1980", "1\u2003.\u20032.\u20031980", "1 / 2 / 2000",
         "31.04.1990", "1.2.1980x", "1.2.1980_", "1.2.19803", ".1.2.1980", "-1.2.1980",
         "1..2.1980", "1.2..1980", "2.3.4.1980", "1980-02-28-", "10.10.2010.10.2010"]


# One-byte text (every character below 256) has a reader of its own (16 characters at a
# time): the same pieces in Latin-1 only, with the Latin-1 letters that NFKC or case
# folding change (ª²³µ¹º¼½¾ß, À-Þ).
LATIN1 = {
    "words": [w for w in WORDS if max(w) < "\u0100"] + [
        "ÅBERG", "Öljy", "ßtraße", "ªbc", "x²", "µm", "½x", "Þór", "ÿÿ", "Ð-ð", "É'é", "ÆØÅ"],
    "gaps": [g for g in GAPS if max(g) < "\u0100"] + ["×", "÷", "\u00ad", "¿"],
    "dates": [d for d in DATES if max(d) < "\u0100"],
}
PIECES = {"words": WORDS, "gaps": GAPS, "dates": DATES}


def _text(rng: random.Random, pieces: dict[str, list[str]] = PIECES) -> str:
    words, gaps, dates = pieces["words"], pieces["gaps"], pieces["dates"]
    parts = []
    for _ in range(rng.randint(1, 14)):
        r = rng.random()
        parts.append(rng.choice(words) if r < 0.5 else rng.choice(dates) if r < 0.7
                     else rng.choice(gaps))
        if rng.random() < 0.6:
            parts.append(rng.choice(GAPS[:6]))
    return "".join(parts)


def _native_read(texts: list[str], spans: list[tuple[int, int, int, int]],
                 text_of: list[int] | None = None) -> list[list[set[str]]]:
    """Per hit, its names and its dates as the C reader gives them; also checks that
    each value is returned once, and only when a hit has it (each one is digested)."""
    lib = native.lib
    assert lib is not None, "the C extension must be built for this test"
    names, dates = lib.corr_values(
        texts, np.asarray(text_of or [0] * len(spans), dtype=np.int64),
        np.asarray(spans, dtype=np.int64).reshape(-1, 4), True, True, {},
        name_detector.canonical_word)
    out = []
    for found in (names, dates):
        blob, offsets, ptr, ids = found
        offsets = np.frombuffer(offsets, dtype=np.int64)
        ptr = np.frombuffer(ptr, dtype=np.int64)
        ids = np.frombuffer(ids, dtype=np.int64)
        values = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
        assert len(set(values)) == len(values)
        assert set(ids.tolist()) == set(range(len(values)))
        out.append([{values[k] for k in ids[ptr[i]:ptr[i + 1]]} for i in range(len(spans))])
    return out


def _python_read(text: str, a: int, s: int, e: int, b: int) -> tuple[set[str], set[str]]:
    names, dates = set(), set()
    for x, y in ((a, s), (e, b)):
        names |= name_detector.candidate_values(text[x:y])
        dates |= {c for _, _, c in birth_date.find(text[x:y])}
    return names, dates


@pytest.mark.parametrize("seed", range(6))
def test_c_reader_reads_spans_like_the_detectors(seed):
    rng = random.Random(seed)
    for _ in range(150):
        text = _text(rng)
        n = len(text)
        spans = []
        for _ in range(8):
            a, s, e, b = sorted(rng.randint(0, n) for _ in range(4))
            spans.append((a, s, e, b))
        spans.append((0, n, n, n))  # the whole text
        names, dates = _native_read([text], spans)
        for i, (a, s, e, b) in enumerate(spans):
            want_names, want_dates = _python_read(text, a, s, e, b)
            assert names[i] == want_names, (seed, text, (a, s, e, b))
            assert dates[i] == want_dates, (seed, text, (a, s, e, b))


# Years that no date holds (digits of phones, identifiers, ids: the C reader passes over
# them) next to dates and to years that a date may hold, in both str widths.
NOT_DATE_YEARS = ["0501980123", "+358 40 1990 200", "id 19801", "x2000", "1999", "2000 ",
                  "1980;", ";2020;", "120805A282K", "1.2.", "12.3. ", "1980-", "-1980-01-01",
                  "1.2 1980", "1 2.1980", "19.20.1980", "1.1.18", "20.2020.2.20", "2020-20-20",
                  "1980-02-01", "1.2.1980", "1. 2. 1980", "5/6/1990", "Ā", "2020-1.2.1980",
                  "1.1980-", "19.2000-01-01", "1.2.2000-01-01", "1.19.1980", "20.5.1980",
                  "2.2020-", "12.1999-12-12", "1/2/ 2001", "3. 4.2002-", "18", "-", "x", "9"]


@pytest.mark.parametrize("seed", range(6))
def test_dates_among_years_that_are_no_dates(seed):
    rng = random.Random(seed)
    for _ in range(150):
        text = "".join(rng.choice(NOT_DATE_YEARS) + rng.choice(["", " ", ";", ".", "/"])
                       for _ in range(rng.randint(1, 16)))
        if seed % 2:
            text = text.replace("Ā", "")  # one-byte text: its reader of its own
        n = len(text)
        spans = [tuple(sorted(rng.randint(0, n) for _ in range(4))) for _ in range(6)]
        spans.append((0, n, n, n))
        _, dates = _native_read([text], spans)
        for i, (a, s, e, b) in enumerate(spans):
            assert dates[i] == _python_read(text, a, s, e, b)[1], (seed, text, (a, s, e, b))


def test_several_texts_and_the_word_cache():
    """Words beyond Latin-1 are canonicalised by `canonical_word` once (the cache);
    Latin-1 words ("Mäkelä") in C."""
    texts = ["Mäkelä Ωmega Anna 1.2.1980", "x", "Anna Ωmega, Mäkelä 1980-02-01"]
    cache: dict[str, str] = {}
    lib = native.lib
    assert lib is not None
    text_of = np.array([2, 0, 1], dtype=np.int64)
    bounds = np.array([[0, 29, 29, 29], [0, 0, 0, 26], [0, 1, 1, 1]], dtype=np.int64)
    names, dates = lib.corr_values(texts, text_of, bounds, True, True, cache,
                                   name_detector.canonical_word)
    blob, offsets, ptr, ids = names
    assert sorted(blob[a:b].decode() for a, b in pairwise(np.frombuffer(offsets, np.int64))) == [
        "anna ωmega", "anna ωmega mäkelä", "mäkelä ωmega", "mäkelä ωmega anna", "ωmega anna",
        "ωmega mäkelä"]
    assert np.frombuffer(ptr, dtype=np.int64).tolist() == [0, 3, 6, 6]
    assert cache == {"Ωmega": "ωmega"}
    dblob, _, dptr, _ = dates
    assert dblob == b"1980-02-01"  # one value, shared by the first two hits
    assert np.frombuffer(dptr, dtype=np.int64).tolist() == [0, 1, 2, 2]


def test_dates_of_one_call_are_not_known_to_the_next():
    """The table of days seen is kept from one call to the next and cleared where a
    call wrote to it; a call made while another one holds it (here from the word
    callback, after the outer call has read a date) uses one of its own. Each call
    reads its dates alone."""
    lib = native.lib
    assert lib is not None
    texts = ["Anna 1.2.1980 3.4.1990", "Anna 3.4.1990 5.6.2000", "x 5.6.2000"]

    def dates_of(text: str, cuts=(), canonical=name_detector.canonical_word) -> list[str]:
        n = len(text)
        spans = [(a, b, b, b) for a, b in pairwise((0, *cuts, n))]
        _, (blob, offsets, ptr, ids) = lib.corr_values(
            [text], np.zeros(len(spans), np.int64), np.array(spans, np.int64), True, True,
            {}, canonical)
        values = [blob[a:b].decode() for a, b in pairwise(np.frombuffer(offsets, np.int64))]
        ids = np.frombuffer(ids, np.int64).tolist()
        assert sorted(set(ids)) == list(range(len(values)))
        return [values[k] for k in ids]

    want = [["1980-02-01", "1990-04-03"], ["1990-04-03", "2000-06-05"], ["2000-06-05"]]
    for _ in range(3):
        assert [dates_of(t) for t in texts] == want
    inner = []

    def canonical_reading_dates(word: str) -> str:
        inner.append(dates_of(texts[2]))  # while the outer call holds the table
        return name_detector.canonical_word(word)

    # the second window's name calls back after the first window's dates are known
    outer = "Anna 5.6.2000 3.4.1990 ; Anna Ωmega 1.2.1980"
    assert dates_of(outer, [23], canonical_reading_dates) == [
        "2000-06-05", "1990-04-03", "1980-02-01"]
    assert inner == [want[2]]
    assert [dates_of(t) for t in texts] == want


def test_bad_bounds_are_refused_without_text():
    lib = native.lib
    assert lib is not None
    secret = "Anna Virtanen 131052-308T"
    for bounds in ([0, 5, 3, 10], [0, 0, 0, 999], [-1, 0, 0, 1]):
        with pytest.raises(ValueError) as err:
            lib.corr_values([secret], np.zeros(1, np.int64), np.array(bounds, np.int64),
                            True, True, {}, name_detector.canonical_word)
        assert "Anna" not in str(err.value) and "131052" not in str(err.value)
    with pytest.raises(ValueError):
        lib.corr_values([secret], np.ones(1, np.int64), np.array([0, 0, 0, 1], np.int64),
                        True, True, {}, name_detector.canonical_word)


def test_engine_scores_the_same_without_the_c_reader(monkeypatch):
    """One chunk with dense rows: the C path and the Python path give equal scores."""
    key = Key(bytes(range(32)))
    people = synthetic.make_people(30, seed=3)
    index = synthetic_index(key, people)
    rows = [f"{p.full_name},{p.hetu},{p.birth_date.day}.{p.birth_date.month}."
            f"{p.birth_date.year}\n" for p in people]
    text = "".join(rows) * 2
    with_c = engine.Scanner(index, key, engine.ScanOptions(types=frozenset({"hetu"})))
    found_c = with_c.scan_text(text, "x")
    monkeypatch.setattr(native, "lib", None)
    found_py = engine.Scanner(index, key, engine.ScanOptions(types=frozenset({"hetu"}))
                              ).scan_text(text, "x")
    assert found_c == found_py
    assert len(found_c) == 60 and {f.score for f in found_c} == {1.0}


# -- dense windows: many hits per text, their windows overlapping ----------------------
# The reader reads text shared by overlapping windows once (a table of its words and
# dates) and re-reads only what a window's edges cut: these tests put many windows on
# one text, in every relation to each other and to the words and dates they cut.


def _dense_hits(rng: random.Random, n: int, count: int) -> list[tuple[int, int, int, int]]:
    """`count` hits on a text of `n` characters, windows of one random width each side
    (as the engine makes them), identifiers of 0 to 12 characters, in random order."""
    w = rng.choice([0, 1, 3, 7, 15, 40, 200])
    hits = []
    for _ in range(count):
        s = rng.randint(0, n)
        e = min(n, s + rng.randint(0, 12))
        hits.append((max(0, s - w), s, e, min(n, e + w)))
    if rng.random() < 0.5:
        hits.sort()  # the engine's order, mostly
    return hits


def _check(texts: list[str], text_of: list[int], hits: list[tuple[int, int, int, int]],
           context: object) -> None:
    got = _native_read(texts, hits, text_of)
    for i, (t, bounds) in enumerate(zip(text_of, hits, strict=True)):
        want_names, want_dates = _python_read(texts[t], *bounds)
        assert got[0][i] == want_names, (context, texts[t], bounds)
        assert got[1][i] == want_dates, (context, texts[t], bounds)


def _long_text(rng: random.Random, parts: int, pieces: dict[str, list[str]] = PIECES) -> str:
    return "".join(_text(rng, pieces) + rng.choice(["\n", " ", ";", ",", "", "|"])
                   for _ in range(parts))


@pytest.mark.parametrize("pieces", [PIECES, LATIN1], ids=["any", "latin1"])
@pytest.mark.parametrize("seed", range(8))
def test_dense_overlapping_windows_read_like_each_window_alone(seed, pieces):
    rng = random.Random(1000 + seed)
    for _ in range(40):
        texts = [_long_text(rng, rng.randint(1, 12), pieces) for _ in range(rng.randint(1, 3))]
        text_of, hits = [], []
        for t, text in enumerate(texts):
            mine = _dense_hits(rng, len(text), rng.randint(1, 60))
            text_of += [t] * len(mine)
            hits += mine
        order = list(range(len(hits)))
        if rng.random() < 0.5:  # the texts' hits interleaved
            rng.shuffle(order)
        _check(texts, [text_of[i] for i in order], [hits[i] for i in order], seed)


TEXTS_CUT = [
    "Anna-Liisa O'Brien, Jean’Luc Mäkelä\tVirtanen 1.2.1980 x 1980-02-29 Straße İlkay",
    "ÄÄLI Ωmega, 𝔄lma 01.02.1980;12 . 3 . 1880 e\u0301mile ǅemal ﬁnn-x 31/12/1999.",
    "anna virtanen,131052-308T,1.2.1980\nmäkelä anna;1 / 2 / 2000;Lee' Ne- x'-y ab_cd ef",
    "1.2.19801 x1.2.1980 2.3.4.1980 ١.٢.1980 29.2.2000 1980-02-28- 10.10.2010.10.2010 a b",
    "ÅBERG Öljy,ßtraße\tªbc x² µm-½x Þór'ÿÿ 1.2.1980 , Ð-ð É'é--ÆØÅ 12.3.1880;Anna Lee",
    "Anna Virtanen  ,  Pekka 1980-01-01\u00a0Liisa ab 1 . 1 . 1900 ä ö å,x,y,z 2000-02-29",
]


@pytest.mark.parametrize("text", TEXTS_CUT)
def test_every_cut_of_a_text_reads_like_the_span_alone(text):
    """Every span [x, y) of the text, as the span before (and after) a hit, all in one
    call: every edge cuts every word, joiner, gap and date in every place."""
    n = len(text)
    hits = [(x, y, y, y) for x in range(n + 1) for y in range(x, n + 1)]
    hits += [(x, x, x, y) for x in range(0, n + 1, 3) for y in range(x, n + 1, 2)]
    _check([text], [0] * len(hits), hits, "every cut")


@pytest.mark.parametrize("pieces", [PIECES, LATIN1], ids=["any", "latin1"])
@pytest.mark.parametrize("seed", range(4))
def test_disjoint_and_nested_windows_in_one_text(seed, pieces):
    """Windows far apart (each read as its own stretch), nested, and sharing an edge."""
    rng = random.Random(2000 + seed)
    text = _long_text(rng, 30, pieces)
    n = len(text)
    hits = []
    for _ in range(30):
        a = rng.randint(0, n)
        b = min(n, a + rng.choice([0, 1, 5, 30]))
        s = rng.randint(a, b)
        e = rng.randint(s, b)
        hits.append((a, s, e, b))
        hits.append((a, a, a, b))  # the same window, nothing left out
        if b < n:
            hits.append((b, b, min(n, b + 1), min(n, b + 9)))  # starts where one ends
    _check([text], [0] * len(hits), hits, seed)
