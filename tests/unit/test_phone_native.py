"""The C phone readings (`matchers/_native_phone.c`) are exactly the numpy ones
(`detectors.phone.candidates`): the same readings in the same order, for every way a
dump writes a number (spaces, dashes, "+", "00", "(0)", parentheses, glued tokens)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from vahti.matchers import native
from vahti.matchers.detectors import phone
from vahti.matchers.detectors._common import DigitRuns, code_points

PIECES = ["040", "050", "09", "0", "00", "358", "46", "1", "44", "49", "123", "4567", "12",
          "3456789", "765", "45", "67", "0401234567", "+", "(", ")", "(0)", " ", " ", "-",
          " - ", ",", ";", ".", "/", "x", "INV-", "tel:", "abc", "\n", "_", "ä", "\u2013"]


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 40)))


def _both(text: str, region: str):
    runs = DigitRuns(code_points(text))
    lib = native.lib
    assert lib is not None, "the C extension must be built for this test"
    c = phone.candidates(runs, region)
    native.lib = None
    try:
        p = phone.candidates(DigitRuns(code_points(text)), region)
    finally:
        native.lib = lib
    return c, p


@pytest.mark.parametrize("region", ["FI", "SE", "US", "GB", "DE"])
def test_c_readings_are_the_numpy_readings(region):
    rng = random.Random(region)
    seen = 0
    for _ in range(1500):
        text = _text(rng)
        c, p = _both(text, region)
        for name in ("starts", "ends", "lengths", "groups", "ngroups"):
            assert np.array_equal(getattr(c, name), getattr(p, name)), (region, text, name)
        for row_c, row_p, n in zip(c.values, p.values, p.lengths.tolist(), strict=True):
            assert bytes(row_c[:n]) == bytes(row_p[:n]), (region, text)
        seen += len(p.starts)
        # which enrolled readings are reported: C (phone_keep) as numpy (select), for
        # hits drawn from candidates in their own order (the C function's short cut)
        if len(c.starts):
            hit = np.sort(np.array([rng.randrange(len(c.starts))
                                    for _ in range(rng.randint(1, 2 * len(c.starts)))]))
            assert (phone.reported(c, hit).tolist()
                    == np.isin(hit, phone.select(c, hit)).tolist()), (region, text)
    assert seen > 300  # the fuzz reaches many readings


def _runs_reference(cp: np.ndarray) -> tuple[list[int], list[int]]:
    dig = np.concatenate(([False], (cp - 48) < 10, [False]))
    edges = np.flatnonzero(dig[1:] != dig[:-1])
    return edges[0::2].tolist(), edges[1::2].tolist()


@pytest.mark.parametrize("simd", [True, False])
def test_c_digit_runs_are_the_numpy_runs(simd):
    """digit_runs (16 bytes at a time, or one by one) against the numpy edges: runs at
    the very start and end, across block borders, of every length, and bytes next to
    the digits ('/' and ':', and their mirror images with the high bit set)."""
    lib = native.lib
    assert lib is not None, "the C extension must be built for this test"
    rng = random.Random(7)
    alphabet = b"0123456789/:a \x00\xb0\xb9\xaf\xba\xff"
    texts = [b"", b"1", b"a", b"1" * 16, b"1" * 17, b"x" * 15 + b"12", b"9" * 64]
    texts += [bytes(rng.choice(alphabet) for _ in range(n)) for n in range(1, 70)]
    texts += [bytes(rng.choice(alphabet[:10] + b"x") for _ in range(rng.randint(100, 3000)))
              for _ in range(40)]
    for data in texts:
        starts, ends = lib.digit_runs(data, simd)
        got = (np.frombuffer(starts, np.int64).tolist(), np.frombuffer(ends, np.int64).tolist())
        assert got == _runs_reference(np.frombuffer(data, np.uint8)), data


def test_digit_runs_with_and_without_c_are_the_same():
    text = "tel. +358 40 123 4567, 0401234567; 12-34 ä 5\u2013678 " * 40
    runs = DigitRuns(code_points(text))
    lib = native.lib
    native.lib = None
    try:
        plain = DigitRuns(code_points(text))
        expected = (plain.start.tolist(), plain.end.tolist())
    finally:
        native.lib = lib
    assert (runs.start.tolist(), runs.end.tolist()) == expected
    assert len(expected[0]) == 40 * 9


def test_the_scanner_finds_the_same_phones_without_c(monkeypatch):
    from tests.support.index import synthetic_index
    from vahti.demo import synthetic
    from vahti.matchers.engine import Scanner, ScanOptions
    from vahti.matchers.keys import Key

    key = Key(bytes(range(32)))
    people = synthetic.make_people(20, seed=4)
    index = synthetic_index(key, people)
    text = "".join(f"{p.full_name};+358 {p.phone[1:]};({p.phone[:3]}) {p.phone[3:]}\n"
                   for p in people)
    options = ScanOptions(types=frozenset({"phone"}))
    with_c = Scanner(index, key, options).scan_text(text, "x")
    monkeypatch.setattr(native, "lib", None)
    assert Scanner(index, key, options).scan_text(text, "x") == with_c
    assert len(with_c) >= 20
