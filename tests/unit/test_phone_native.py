"""The C phone readings (`matchers/_native_phone.c`) are exactly the numpy ones
(`detectors.phone.candidates`): the same readings in the same order, for every way a
dump writes a number (spaces, dashes, "+", "00", "(0)", parentheses, glued tokens)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from vahti.matchers import native
from vahti.matchers.detectors import phone
from vahti.matchers.detectors._common import PAD_BEFORE, DigitRuns, code_points

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


def _assert_same(c, p, region: str, text: str) -> None:
    for name in ("starts", "ends", "lengths", "groups", "ngroups"):
        assert np.array_equal(getattr(c, name), getattr(p, name)), (region, text, name)
    for row_c, row_p, n in zip(c.values, p.values, p.lengths.tolist(), strict=True):
        assert bytes(row_c[:n]) == bytes(row_p[:n]), (region, text)


def _c_args(region: str) -> tuple:
    """phone_candidates' arguments after the code points, for `region`."""
    cc, national, intl = phone._region_prefixes(region)
    return (cc, national, intl, phone._GLUED_BYTES, phone._SEP_BYTES, phone._AFTER_BAD_BYTES,
            phone.MAX_GROUPS, phone._MAX_DIGITS, phone._E164_MIN, phone._E164_MAX, PAD_BEFORE)


# DK and ES have no national prefix: every digit run may start a number there
@pytest.mark.parametrize("region", ["FI", "SE", "US", "GB", "DE", "DK", "ES"])
def test_c_readings_are_the_numpy_readings(region):
    rng = random.Random(region)
    seen = 0
    for _ in range(1500):
        text = _text(rng)
        c, p = _both(text, region)
        _assert_same(c, p, region, text)
        seen += len(p.starts)
        # which enrolled readings are reported: C (phone_keep) as numpy (select), for
        # hits drawn from candidates in their own order (the C function's short cut)
        if len(c.starts):
            hit = np.sort(np.array([rng.randrange(len(c.starts))
                                    for _ in range(rng.randint(1, 2 * len(c.starts)))]))
            assert (phone.reported(c, hit).tolist()
                    == np.isin(hit, phone.select(c, hit)).tolist()), (region, text)
    assert seen > 300  # the fuzz reaches many readings


@pytest.mark.parametrize("region", ["FI", "DK"])
def test_c_readings_of_long_texts_are_the_numpy_readings(region):
    """Texts of many 16-byte blocks (the C scan for chain starts reads 16 at a time),
    chains across block borders, and a run of digits thousands long."""
    rng = random.Random(f"long {region}")
    texts = ["".join(rng.choice(PIECES) for _ in range(rng.randint(200, 800)))
             for _ in range(30)]
    texts.append("0" * 5000 + " 040 123 4567 " + "9" * 3000)
    readings = 0
    for text in texts:
        c, p = _both(text, region)
        _assert_same(c, p, region, text)
        readings += len(p.starts)
    assert readings > 200


@pytest.mark.parametrize("region", ["FI", "DK"])
def test_c_readings_are_the_same_with_and_without_wide_vectors(region):
    """The scan for chain starts takes 64 bytes a step where the CPU has AVX-512 BW and
    16 (SSE2) where not (`simd=False` asks for that): both give the same readings, for
    chains at every place around the borders of both steps."""
    lib = native.lib
    assert lib is not None, "the C extension must be built for this test"
    args = _c_args(region)
    rng = random.Random(f"wide {region}")
    texts = [x * "a" + "tel. +358 40 123 4567, (040) 765 4321; 0401234567" + y * "b"
             for x in range(0, 130) for y in (0, 1, 63)]
    texts += ["".join(rng.choice(PIECES) for _ in range(rng.randint(100, 600)))
              for _ in range(40)]
    readings = 0
    for text in texts:
        cp = DigitRuns(code_points(text)).cp
        wide, narrow = lib.phone_candidates(cp, *args), lib.phone_candidates(cp, *args, False)
        assert wide == narrow, (region, text)
        readings += len(wide[0]) // 8
    assert readings > 1000


def test_c_readings_refuse_text_without_its_padding():
    """The C reads around a run without bounds checks of its own: digits where the
    padding must be are refused, not read past."""
    lib = native.lib
    assert lib is not None, "the C extension must be built for this test"
    args = _c_args("FI")
    for cp in (b"0401234567  ", b"  0401234567", b"  0401234567 ", b"123"):
        with pytest.raises(ValueError, match="padding"):
            lib.phone_candidates(cp, *args)
    padded = DigitRuns(code_points("tel. 040 123 4567")).cp
    assert len(np.frombuffer(lib.phone_candidates(padded, *args)[0], np.int64)) > 0


def test_the_scanner_finds_the_same_phones_without_c(monkeypatch):
    from tests.support.index import synthetic_index
    from vahti.demo import synthetic
    from vahti.matchers.engine import Scanner, ScanOptions
    from vahti.matchers.keys import Key

    key = Key(bytes(range(32)))
    people = synthetic.make_people(20, seed=4)
    index = synthetic_index(key, people)
    text = "".join(f"{p.full_name};+358 {p.phone[1:]};({p.phone[:3]}) {p.phone[3:]};"
                   f"358{p.phone[1:].replace(' ', '')}\n" for p in people)
    options = ScanOptions(types=frozenset({"phone"}))
    with_c = Scanner(index, key, options).scan_text(text, "x")
    monkeypatch.setattr(native, "lib", None)
    assert Scanner(index, key, options).scan_text(text, "x") == with_c
    assert len(with_c) >= 20
    bare = [f for f in with_c if text[f.start:f.start + 3] == "358"]
    assert len(bare) == len(people)  # "358401234567": the country code without its "+"
