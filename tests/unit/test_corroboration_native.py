"""The C reader of names and birth dates (`matchers/_native_corr.c`) reads a span
exactly as the Python detectors do (`name.candidate_values`, `birth_date.find`).

Seeded fuzz over the pieces that decide a match: letters of every width (Latin-1,
Greek, astral), word joiners, the gaps between words, digits of other scripts,
full-width digits, every spacing of a date, impossible dates, and lookarounds.
The texts are read in random spans, so words and dates are also cut at the ends.
"""

from __future__ import annotations

import random

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


def _text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 14)):
        r = rng.random()
        parts.append(rng.choice(WORDS) if r < 0.5 else rng.choice(DATES) if r < 0.7
                     else rng.choice(GAPS))
        if rng.random() < 0.6:
            parts.append(rng.choice(GAPS[:6]))
    return "".join(parts)


def _native_read(texts: list[str], spans: list[tuple[int, int, int, int]]):
    lib = native.lib
    assert lib is not None, "the C extension must be built for this test"
    text_of = np.zeros(len(spans), dtype=np.int64)
    bounds = np.asarray(spans, dtype=np.int64).reshape(-1, 4)
    names, dates = lib.corr_values(texts, text_of, bounds, True, True, {},
                                   name_detector.canonical_word)
    out = []
    for found in (names, dates):
        blob, offsets, ptr, ids = found
        offsets = np.frombuffer(offsets, dtype=np.int64)
        ptr = np.frombuffer(ptr, dtype=np.int64)
        ids = np.frombuffer(ids, dtype=np.int64)
        values = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
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


def test_several_texts_and_the_word_cache():
    texts = ["Mäkelä Anna 1.2.1980", "x", "Anna Mäkelä, 1980-02-01"]
    cache: dict[str, str] = {}
    lib = native.lib
    assert lib is not None
    text_of = np.array([2, 0, 1], dtype=np.int64)
    bounds = np.array([[0, 23, 23, 23], [0, 0, 0, 20], [0, 1, 1, 1]], dtype=np.int64)
    names, dates = lib.corr_values(texts, text_of, bounds, True, True, cache,
                                   name_detector.canonical_word)
    blob, offsets, ptr, ids = names
    assert np.frombuffer(ptr, dtype=np.int64).tolist() == [0, 1, 2, 2]
    assert cache == {"Mäkelä": "mäkelä"}
    dblob, _, dptr, _ = dates
    assert dblob == b"1980-02-01"  # one value, shared by the first two hits
    assert np.frombuffer(dptr, dtype=np.int64).tolist() == [0, 1, 2, 2]


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
