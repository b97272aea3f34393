"""The C extension `matchers._native` against the numpy paths it replaces.

Every native function must give exactly what the numpy fallback gives (random
texts with the awkward cases mixed in), its portable loops what its SIMD loops
give, and it must survive arbitrary bytes. `pip install -e .` builds it; these
tests fail (not skip) when it is missing.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from tests.unit.test_engine import INDEX, KEY, PHONE_INDEX, _mixed_text, phone_delimiter_text
from vahti.demo import synthetic
from vahti.matchers import engine, fragments, native
from vahti.matchers.detectors import email, hetu
from vahti.matchers.detectors._common import code_points
from vahti.matchers.engine import Scanner, ScanOptions
from vahti.matchers.keys import Key

LIB = native.lib


@pytest.fixture(autouse=True)
def _require_native(monkeypatch: pytest.MonkeyPatch) -> None:
    if native.lib is None:
        pytest.fail("matchers._native is not built (pip install -e .), or VAHTI_NO_NATIVE is set")
    monkeypatch.setattr(native, "lib", LIB)


def _both(monkeypatch: pytest.MonkeyPatch, fn):  # noqa: ANN001, ANN202
    """fn() with the extension, then with the numpy fallback."""
    monkeypatch.setattr(native, "lib", LIB)
    a = fn()
    monkeypatch.setattr(native, "lib", None)
    try:
        b = fn()
    finally:
        monkeypatch.setattr(native, "lib", LIB)
    return a, b


def _assert_arrays_equal(a, b) -> None:  # noqa: ANN001
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype or (len(x) == 0 and len(y) == 0)
        assert np.array_equal(x, y)


# -- HETU ------------------------------------------------------------------------------

_HETU_BITS = "0123456789-+AaBbCcFfUuYyXx  \t\n\r/_.ÄäZz"


def _hetu_text(rng: random.Random, wide: bool, beyond_bmp: bool = False) -> str:
    parts = []
    for _ in range(rng.randint(0, 60)):
        r = rng.random()
        if r < 0.3:
            parts.append("".join(rng.choice("0123456789") for _ in range(rng.randint(1, 8))))
        elif r < 0.5:
            h = synthetic.random_hetu(rng)
            parts.append(h.lower() if rng.random() < 0.2 else h)
        elif r < 0.55:
            h = synthetic.random_hetu(rng)
            parts.append(h[:6] + rng.choice([" ", "\n ", " \r\n"]) + h[6:])
        else:
            parts.append("".join(rng.choice(_HETU_BITS) for _ in range(rng.randint(1, 4))))
    if wide:
        parts.insert(rng.randint(0, len(parts)), "€𝔄" if beyond_bmp else "€Ω")
    return "".join(parts)


def test_hetu_find_equals_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(1)
    found = 0
    for i in range(3000):
        text = _hetu_text(rng, wide=i % 4 == 0, beyond_bmp=i % 8 == 0)
        codes = code_points(text)
        assert codes.itemsize == (4 if i % 4 == 0 else 1)
        a, b = _both(monkeypatch, lambda: hetu.find_arrays(codes, text))  # noqa: B023
        _assert_arrays_equal(a, b)
        # the str itself (its one-, two- or four-byte data, read where it lies) is
        # scanned as its code points are, and find_arrays without them reads it
        assert LIB.hetu_find(text) == LIB.hetu_find(codes)
        c, d = _both(monkeypatch, lambda: hetu.find_arrays(None, text))  # noqa: B023
        _assert_arrays_equal(a, c)
        _assert_arrays_equal(a, d)
        found += len(a[0])
        if codes.itemsize == 1:
            assert LIB.hetu_find(codes, True) == LIB.hetu_find(codes, False)
            assert LIB.hetu_find(text, True) == LIB.hetu_find(text, False)
    assert found > 300


def test_hetu_find_at_buffer_edges() -> None:
    h = synthetic.make_hetu(synthetic.dt.date(1970, 3, 4), 123)
    for pad in range(0, 70):
        for text in (h + "." * pad, "x" * pad + " " + h, "x" * pad + ";" + h + " " * pad):
            for simd in (True, False):
                starts, canon, loose, _ = LIB.hetu_find(text.encode("latin-1"), simd)
                assert np.frombuffer(starts, np.int64).tolist() == [text.index(h)]
                assert canon == h.encode()
                assert loose == b""


# -- clean chunks ----------------------------------------------------------------------

_CLEAN_BITS = [b"a", b"b c", b"&", b"\\", b"<", b"'", b"''", "ä".encode(), "Å".encode(),
               "€".encode(), b"\xc3", b"\xa4", b"\x80", b"\xe9", b"\x9c", b"\x81", b"0123456789"]


def test_clean_bytes_equals_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(2)
    for _ in range(3000):
        data = b"".join(rng.choice(_CLEAN_BITS) for _ in range(rng.randint(0, 40)))
        data = b"x" * rng.randint(0, 20) + data + b"y" * rng.randint(0, 20)
        ws = rng.randint(0, len(data))
        we = rng.randint(ws, len(data))
        for utf8 in (True, False):
            for kind in ("text", "html", "sql"):
                a, b = _both(monkeypatch,
                             lambda: engine._clean_bytes(data, ws, we, utf8, kind))  # noqa: B023
                assert a[0] == b[0]
                assert np.array_equal(a[1], b[1])
                args = (data, ws, we, utf8, kind == "html", kind == "sql",
                        engine._CP1252_SPECIAL_BYTES)
                assert LIB.clean_bytes(*args, True) == LIB.clean_bytes(*args, False)


# -- fragments -------------------------------------------------------------------------

_FRAG_BITS = ["a", "b", "ä", "Ö", "ß", "ﬁ", "e\u0301", "\u0301", "'", "\u2019", "-", "\u00ad",
              "\u200b", " ", "  ", "\n", ".", ",", "1", "23", "Ω", "ω", "中", "😀", "𝐀", "İ",
              "Ǆ", "x" * 9, "y" * 17, "ab-cd", "don't", "ÅÄÖ", "kissa" * 3]


def _frag_text(rng: random.Random, wide: bool) -> str:
    pool = _FRAG_BITS if wide else [c for c in _FRAG_BITS if all(ord(ch) < 256 for ch in c)]
    return "".join(rng.choice(pool) for _ in range(rng.randint(0, 80)))


def test_fragment_tokens_equal_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(3)
    for i in range(3000):
        text = _frag_text(rng, wide=i % 3 == 0)
        seed = rng.getrandbits(64)
        a, b = _both(monkeypatch, lambda: list(fragments._tokens(text, seed)))  # noqa: B023
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_arrays_equal(x, y)


def test_fingerprints_and_enrollment_equal_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(4)
    key = Key(bytes(range(32)))
    text = "".join(_frag_text(rng, wide=i % 50 == 0) for i in range(3000))
    a, b = _both(monkeypatch, lambda: fragments.text_fingerprints(key, text))
    _assert_arrays_equal(a, b)
    assert len(a[0]) > 1000
    records = [_frag_text(rng, wide=i % 5 == 0) * 3 for i in range(200)]
    a, b = _both(monkeypatch, lambda: fragments.record_fingerprints_many(key, records))
    _assert_arrays_equal(a, b)


# -- e-mail ----------------------------------------------------------------------------

# Pieces for awkward texts: every character class email_scan looks at, the spelled
# anchors and dots, Python-\s characters beyond ASCII space, letters that match
# [a-z] only case-insensitively (Kelvin sign, long s), long labels and local parts.
_EMAIL_BITS = [
    "a", "bc", "fi", "x", "Z", "9", "@", "@", ".", "..", "-", "_", "'", "%", "+", " ", "  ",
    "\t", "\n", "\x1c", "\x0b", "\xa0", "\u2003", "[at]", "(at)", "[AT]", " at ", " AT ",
    " At ", "at", "[dot]", "(dot)", " dot ", " DOT ", "[ dot ]", "dot", "[", "(", "]", ")",
    "example", "com", "ä", "€", "Ω", "\u212a", "\u017f", "é", "x" * 30, "y" * 63, "z" * 64,
    "q" * 24, "r" * 25, "l" * 70, "<", ">", ",", ";",
    "[@]", "(@)", "[.]", "(.)", "[ @ ]", "[At]", "(aT)", "[ at ]", "(  at  )", "[   at]",
    " aT ", "[@)", "[ .]", "[@ ]", "[at ]", "(@", "[ ", "{at}", "{@}", "{.}", "{dot}", "(ät)",
    " ät ", " ÄT ", "[Ät]", "piste", " piste ", "(piste)", "{ piste }", "{", "}", "ä", "Ä",
    "%40", "%4", "%", "=", "&", "?e=",
]


def _email_text(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return "\n".join(synthetic.noise_line(rng) for _ in range(rng.randint(1, 30)))
    parts = [rng.choice(_EMAIL_BITS) for _ in range(rng.randint(1, 30))]
    if rng.random() < 0.3:
        p = synthetic.make_people(1, seed=rng.randrange(10**6))[0]
        parts.insert(rng.randint(0, len(parts)), rng.choice(
            [p.email, p.email.upper(), p.email.replace("@", " [at] ").replace(".", " dot "),
             p.email.replace("@", "[@]").replace(".", "[.]"),
             p.email.replace("@", " ( At ) ").replace(".", "(.)"),
             p.email.replace("@", "{ät}").replace(".", " piste "),
             "?email=" + p.email.replace("@", "%40")]))
    return "".join(parts)


def test_email_find_arrays_equals_find(monkeypatch: pytest.MonkeyPatch) -> None:
    """The C anchor scan gives exactly what `email.find` (the reference) gives."""
    rng = random.Random(21)
    found = 0
    for _ in range(6000):
        text = _email_text(rng)
        codes = code_points(text)
        s, e, v, n = email.find_arrays(codes, text)
        got = [(int(a), int(b), r[:k].tobytes().decode())
               for a, b, r, k in zip(s, e, v, n, strict=True)]
        assert got == list(email.find(text))
        found += len(got)
        # The portable loop gives what the SIMD loop gives.
        assert LIB.email_scan(codes, False) == LIB.email_scan(codes, True)
        if codes.dtype == np.uint8:  # the same text as code points of four bytes
            wide = np.ascontiguousarray(codes.astype("<u4"))
            assert LIB.email_scan(wide) == LIB.email_scan(codes)
    assert found > 1000


def test_email_numpy_path_equals_find(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the C extension, `find_arrays` reads addresses with numpy: the same ones.
    (It dropped local parts of 26 characters or more, and read a domain short before a
    Unicode space and a spelled-out dot.)"""
    from vahti.matchers import native

    monkeypatch.setattr(native, "lib", None)
    rng = random.Random(23)
    found = 0
    for _ in range(4000):
        text = _email_text(rng)
        s, e, v, n = email.find_arrays(code_points(text), text)
        got = [(int(a), int(b), r[:k].tobytes().decode())
               for a, b, r, k in zip(s, e, v, n, strict=True)]
        assert got == list(email.find(text))
        found += len(got)
    assert found > 700


def test_lower_rows_is_rows_at_lower_cased() -> None:
    """The C rows of e-mail values are byte for byte numpy's (rows_at, then A-Z lower-cased),
    past the end of the text too (the last byte repeated), for every byte value."""
    from vahti.matchers.detectors._common import rows_at

    rng = random.Random(5)
    for n in [1, 2, 7, 40, 300]:
        cp = np.frombuffer(bytes(rng.randrange(256) for _ in range(n)), np.uint8)
        for width in [1, 3, 40, 70]:
            starts = np.array([rng.randrange(n) for _ in range(rng.randint(1, 30))] + [n - 1],
                              np.int64)
            want = rows_at(cp, starts, width)
            want += ((want - ord("A")) < 26).astype(np.uint8) * 32
            got = np.frombuffer(LIB.lower_rows(cp, starts, width), np.uint8).reshape(-1, width)
            assert np.array_equal(got, want), (n, width)
    with pytest.raises(ValueError):
        LIB.lower_rows(np.zeros(4, np.uint8), np.array([4], np.int64), 3)


def test_email_scan_at_buffer_edges() -> None:
    for text in ["a@b.fi", "@b.fi", "a@", "@", " at ", "x at y.fi", "[at]b.c", "a@b.fi.",
                 "a@b.c", "x [at] y [dot] fi", "a" * 70 + "@b.fi"]:
        codes = code_points(text)
        s, e, v, n = email.find_arrays(codes, text)
        got = [(int(a), int(b), r[:k].tobytes().decode())
               for a, b, r, k in zip(s, e, v, n, strict=True)]
        assert got == list(email.find(text))


# -- the engine, both ways --------------------------------------------------------------


@pytest.mark.parametrize("types", [frozenset({"hetu"}), None])
@pytest.mark.parametrize("codec", ["utf-8", "cp1252"])
def test_scanner_equals_numpy(monkeypatch: pytest.MonkeyPatch, types, codec) -> None:  # noqa: ANN001
    text = _mixed_text(seed=9)
    if codec == "cp1252":
        text = text.replace("Ω", "o")
    data = text.encode(codec)
    opts = ScanOptions(types=types, chunk_chars=4096)

    def scan():  # noqa: ANN202
        sc = Scanner(INDEX, KEY, opts)
        return sc.scan_text(text, "x"), sc.scan_bytes(data, 0, len(data), codec, "x")

    a, b = _both(monkeypatch, scan)
    assert a == b
    assert sum(f.id_type == "hetu" for f in a[0]) >= 60


@pytest.mark.parametrize("codec", ["utf-8", "cp1252"])
def test_phone_boundaries_native_equals_numpy(monkeypatch: pytest.MonkeyPatch, codec) -> None:  # noqa: ANN001
    text, expected = phone_delimiter_text()
    data = text.encode(codec)
    opts = ScanOptions(chunk_chars=4096)

    def scan():  # noqa: ANN202
        sc = Scanner(PHONE_INDEX, KEY, opts)
        return sc.scan_text(text, "x"), sc.scan_bytes(data, 0, len(data), codec, "x")

    a, b = _both(monkeypatch, scan)
    assert a == b
    assert [text[f.start:f.end] for f in a[0] if f.id_type == "phone"] == expected


# -- robustness ------------------------------------------------------------------------


def test_random_bytes_do_not_crash() -> None:
    rng = random.Random(5)
    table = engine._CP1252_SPECIAL_BYTES
    for _ in range(2000):
        n = rng.choice([0, 1, 5, 7, 8, 15, 16, 17, 63, 64, 65, 200, 1000])
        data = bytes(rng.getrandbits(8) for _ in range(n))
        for simd in (True, False):
            LIB.hetu_find(data, simd)
            LIB.clean_bytes(data, rng.randint(-5, n + 5), rng.randint(-5, n + 5),
                            rng.random() < 0.5, rng.random() < 0.5, rng.random() < 0.5,
                            table, simd)
        LIB.hetu_find(np.frombuffer(data[: n - n % 4], dtype="<u4"))
        for simd in (True, False):
            LIB.email_scan(data, simd)
        LIB.email_scan(np.frombuffer(data[: n - n % 4], dtype="<u4"))
        for buf in (data, np.frombuffer(data[: n - n % 4], dtype="<u4")):
            LIB.fragment_tokens(buf, rng.randint(-5, n + 5), rng.getrandbits(64))
    with pytest.raises(ValueError):
        LIB.hetu_find(np.zeros(4, dtype=np.uint16))
    with pytest.raises(ValueError):
        LIB.clean_bytes(b"abc", 0, 3, True, False, False, b"short")
    with pytest.raises(TypeError):
        LIB.hetu_find(12345)
    assert LIB.hetu_find("a str") == (b"", b"", b"", b"")  # a str is read as it is
    with pytest.raises(ValueError):
        LIB.email_scan(np.zeros(4, dtype=np.uint16))
