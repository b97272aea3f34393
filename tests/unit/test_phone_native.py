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
    assert seen > 300  # the fuzz reaches many readings


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
