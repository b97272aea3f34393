"""A note excerpt that straddles a chunk border is found as a scan in one chunk finds it.

Each chunk reports the fragment regions that start in it. Before this test, a chunk's
fragment scan began at its first character: the winnowing there had no k-grams before
the border to compare with, so it kept other fingerprints than the whole text does, and
an excerpt starting just before the border (its region starting after it, in the next
chunk) could come out with one match too few there: found in one chunk, missed in two,
without a word (3 of 766 excerpts found whole, in `/tmp/s38/fragborder.py`).
"""

from __future__ import annotations

import random

import pytest

from benchmarks.scan_throughput import build_index
from tests.unit.test_engine_differential import kernel  # noqa: F401 (C and numpy, a fixture)
from vahti.demo import synthetic
from vahti.matchers.engine import Scanner, ScanOptions
from vahti.matchers.keys import Key

KEY = Key(bytes(range(32)))
PEOPLE = synthetic.make_people(12, seed=31)
INDEX = build_index(KEY, PEOPLE, True)
CHUNK = 4096
_rng = random.Random(1)
FILLER = " ".join(_rng.choice("ja on ei että hän oli tietokanta vuoto salasana käyttäjä".split())
                  for _ in range(2000))
TYPES = frozenset({"hetu", "fragment"})


def _fragments(found):  # noqa: ANN001, ANN202
    return [f for f in found if f.kind == "fragment"]


def _cases(codec: str | None) -> list[tuple[str, str]]:
    """(label, text): an excerpt of one person's note put at every 7th character (or
    byte, for `codec`) across the border of the first two chunks, in filler prose."""
    out = []
    for n_words, person in ((16, 0), (16, 8), (20, 4), (30, 0)):
        words = PEOPLE[person].notes[0].split()
        excerpt = " ".join(words[5 : 5 + n_words])
        for shift in range(0, len(excerpt) + 20, 7):
            at = CHUNK - shift  # characters before the excerpt, or bytes:
            if codec is not None:
                at = len(FILLER.encode(codec)[:at].decode(codec, "ignore"))
            text = FILLER[:at] + excerpt + FILLER[at + len(excerpt) : 3 * CHUNK]
            out.append((f"{n_words}w-p{person}-{shift}", text))
    return out


@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize("codec", [None, "utf-8", "cp1252"])
def test_an_excerpt_across_a_chunk_border_is_found_as_in_one_chunk(codec):  # noqa: ANN001
    whole = Scanner(INDEX, KEY, ScanOptions(types=TYPES, chunk_chars=1 << 20))
    cut = Scanner(INDEX, KEY, ScanOptions(types=TYPES, chunk_chars=CHUNK))
    wrong = []
    found_whole = 0
    cases = _cases(codec)
    for label, text in cases:
        expected = _fragments(whole.scan_text(text, "x"))
        found_whole += len(expected)
        if codec is None:
            got = _fragments(cut.scan_text(text, "x"))
        else:
            data = text.encode(codec)
            got = _fragments(cut.scan_bytes(data, 0, len(data), codec, "x")[0])
        if got != expected:
            wrong.append(label)
    assert found_whole >= 0.75 * len(cases)  # most excerpts are hits (16 words: borderline)
    assert wrong == []
