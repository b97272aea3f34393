"""decode.judge (the split-file judge, no text) and the C UTF-8 validator it uses:
the same verdict as decode_bytes and as bytes.decode, with and without the extension."""

from __future__ import annotations

import codecs
import random

import pytest

from vahti.matchers import decode, native
from vahti.matchers.decode import Decoded, decode_bytes, judge

LIB = native.lib
FINNISH = "Hämeenlinnan työväenopisto: äiti, isä ja Åsa söivät €5 jäätelöä – ”hyvää” 😀.\n"


def _strict_ok(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.fixture
def lib():  # noqa: ANN201
    if LIB is None:
        pytest.fail("matchers._native is not built (pip install -e .), or VAHTI_NO_NATIVE is set")
    return LIB


# Every kind of sequence the strict rules treat apart: ASCII, 2-, 3- and 4-byte
# characters at their edges, overlong forms, surrogates, above U+10FFFF, stray and
# cut continuation bytes.
_PIECES = ([bytes([b]) for b in range(256)]
           + [c.encode() for c in "aä€😀\u0080\u07ff\u0800\ud7ff\ue000\uffff\U00010000\U0010ffff"]
           + [b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xe0\x9f\xbf", b"\xed\xa0\x80",
              b"\xed\xbf\xbf", b"\xf0\x80\x80\x80", b"\xf0\x8f\xbf\xbf", b"\xf4\x90\x80\x80",
              b"\xf5\x80\x80\x80", b"\xe2\x82", b"\xf0\x9f\x98"])


def test_utf8_valid_agrees_with_bytes_decode(lib) -> None:  # noqa: ANN001
    rng = random.Random(15)
    for _ in range(40_000):
        data = b"".join(rng.choice(_PIECES) for _ in range(rng.randrange(0, 24)))
        assert lib.utf8_valid(data) == _strict_ok(data), data
    for _ in range(20_000):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 10)))
        assert lib.utf8_valid(data) == _strict_ok(data), data


@pytest.mark.parametrize("simd", [True, False])
def test_utf8_valid_agrees_with_bytes_decode_across_32_byte_blocks(lib, simd) -> None:  # noqa: ANN001
    """Both ways of the validator (32 bytes at a time with AVX2; byte by byte): every
    kind of sequence, right or wrong, at every place of inputs of up to three blocks and
    their padded rest, among ASCII and among other multibyte text."""
    rng = random.Random(32)
    text = [c.encode() for c in "aä€😀"]
    for _ in range(60_000):
        n = rng.randrange(0, 100)
        filler = [rng.choice(text) if rng.random() < 0.5 else b"x" for _ in range(n)]
        data = b"".join(filler)
        cut = rng.randrange(len(data) + 1)
        data = data[:cut] + rng.choice(_PIECES) + data[cut:]
        assert lib.utf8_valid(data, simd) == _strict_ok(data), data
    for n in range(0, 130):
        for piece in _PIECES:
            data = b"y" * n + piece
            assert lib.utf8_valid(data, simd) == _strict_ok(data), data
            data = piece + "ä".encode() * (n // 2)
            assert lib.utf8_valid(data, simd) == _strict_ok(data), data


def test_utf8_valid_at_every_place_of_a_long_ascii_run(lib) -> None:  # noqa: ANN001
    # The 16-byte ASCII skip must hand over to the byte loop wherever a bad byte is.
    base = b"x" * 67
    for i in range(len(base)):
        for bad in (b"\x80", b"\xc3", b"\xe2\x82", b"\xff"):
            data = base[:i] + bad + base[i:]
            assert not lib.utf8_valid(data), (i, bad)
        good = base[:i] + "ä€😀".encode() + base[i:]
        assert lib.utf8_valid(good)


def _has_vbmi2() -> bool:
    try:
        flags = open("/proc/cpuinfo", encoding="ascii", errors="replace").read().split()
    except OSError:
        return False
    return {"avx2", "avx512f", "avx512bw", "avx512_vbmi2"} <= set(flags)


_LATIN1 = [chr(c) for c in range(0x20, 0x7F)] + [chr(c) for c in range(0x80, 0x100)] + ["\n"]
# Characters of two- and three-byte sequences above U+00FF, at the edges of their ranges
# (U+0100, U+07FF, U+0800, U+D7FF, U+E000, U+FFFF) and as leak text has them.
_WIDE = ["\u0100", "\u07ff", "\u0800", "\ud7ff", "\ue000", "\uffff", "–", "€", "”", "\u200b",
         "ł", "Ω", "ж"]


def _narrow_cases() -> list[bytes]:
    """UTF-8 of Latin-1 letters at every density and length around the 64-byte blocks (a
    lead last in a block, its continuation first in the next), damaged, or with other
    characters (wider ones at every place of a block and across its edges, a four-byte
    one): what utf8_narrow must decode as bytes.decode does, or decline."""
    rng = random.Random(3)
    cases = []
    for n in [0, 1, 2, 31, 32, 33, 63, 64, 65, 66, 127, 128, 129, 130, 191, 192, 1000, 5000]:
        for share in (0.0, 0.05, 0.5, 1.0):
            text = "".join(rng.choice(_LATIN1) if rng.random() < share else "a" for _ in range(n))
            data = text.encode()
            cases.append(data)
            for other in ("€", "\u0100", "\u200b", "😀"):
                cases.append(data + other.encode() + data)
            if data:
                for _ in range(4):
                    broken = bytearray(data)
                    broken[rng.randrange(len(broken))] = rng.randrange(0x80, 0x100)
                    cases.append(bytes(broken))
                cases.append(data[:-1])  # perhaps cut inside a character
    for k in range(62, 67):  # a two-byte letter across each block edge
        cases.append(b"a" * k + "ä".encode() + b"b" * 80)
    for wide in _WIDE:  # a wider character at every place of two blocks
        for k in range(0, 131):
            cases.append(b"a" * k + wide.encode() + "ä".encode() * 3 + b"b" * 70)
    for n in (70, 200, 3000):  # wider characters at every density among Latin-1 letters
        for share in (0.01, 0.1, 0.5, 1.0):
            chars = [rng.choice(_WIDE) if rng.random() < share else rng.choice(_LATIN1)
                     for _ in range(n)]
            data = "".join(chars).encode()
            cases += [data, data + "😀".encode(), data[:-1], data + b"\xed\xa0\x80"]
    cases += [b"\xc2", b"\xc3\xc3\xa4", b"\xc0\x80", b"\xc1\xbf", b"\x80", "é".encode() * 100,
              "€".encode() * 100, b"\xe0\x9f\xbf" + b"a" * 100]
    return cases


@pytest.mark.parametrize("simd", [True, False])
def test_utf8_narrow_decodes_as_bytes_decode_or_declines(lib, simd) -> None:  # noqa: ANN001
    if simd and not _has_vbmi2():  # byte by byte it would be slower than bytes.decode
        assert lib.utf8_narrow(FINNISH.replace("€", "").encode()[:60] * 3) is None
        return
    taken = {1: 0, 2: 0}
    for data in _narrow_cases():
        got = lib.utf8_narrow(data, simd)
        try:
            want = data.decode("utf-8")
        except UnicodeDecodeError:
            assert got is None, data
            continue
        if got is None:  # declined: ASCII, or a character above U+FFFF
            assert want.isascii() or max(map(ord, want)) > 0xFFFF, data
            continue
        wide = max(map(ord, want)) > 0xFF
        taken[2 if wide else 1] += 1
        # (== also compares the width: a two-byte str of Latin-1 letters, which is no
        # canonical str, would differ from bytes.decode's one-byte str)
        assert type(got) is str and got == want, data
    assert taken[1] > 80 and taken[2] > 1000


def test_utf8_text_is_str_decode() -> None:
    row = "Äiti Ö;131052-308T;0401234567\n".encode()
    data = row * 300
    for piece in (data, memoryview(data)[len(row) * 10:len(row) * 99], data + "€".encode(),
                  b"ascii only"):
        assert decode.utf8_text(piece) == str(piece, "utf-8")
    with pytest.raises(UnicodeDecodeError):
        decode.utf8_text(data + b"\xff")
    broken = data + b"\xff"
    assert decode.utf8_text(broken, "replace") == broken.decode("utf-8", "replace")


def _inputs() -> list[tuple[bytes, str]]:
    rng = random.Random(7)
    long_text = (FINNISH * 400).encode()
    html = ("<!doctype html><html><body>" + "<p>&auml;iti 131052-308T</p>" * 300).encode()
    sql = ("INSERT INTO t VALUES ('Åsa', '131052-308T');\n" * 300).encode()
    csv_rows = ("nimi;hetu;puhelin\n" + "Äiti Ö;131052-308T;0401234567\n" * 300).encode()
    cp1252 = (FINNISH.replace("😀", "").replace("”", '"') * 50).encode("cp1252")
    broken = long_text[:5000] + b"\xff\xfe" + long_text[5000:]
    cut = long_text[: _sniff_cut()]  # the sniffing head ends inside a character
    return [
        (b"", "x.txt"), (long_text, "notes.txt"), (long_text, "dump"), (html, "page"),
        (sql, "dump"), (csv_rows, "rows"), (b'{"a": "\\u00e4"}' * 500, "x"),
        (cp1252, "old.txt"), (broken, "x"), (cut, "x"), (cut + b"\xe2", "x"),
        (codecs.BOM_UTF8 + long_text, "x"),
        (codecs.BOM_UTF16_LE + FINNISH.encode("utf-16-le"), "x"),
        (FINNISH.encode("utf-16-le") * 20, "x"), (b"\x89PNG\r\n\x1a\n" + bytes(500), "x.png"),
        (bytes(rng.randrange(256) for _ in range(9000)), "random"),
        (b"ABC\0\0\0DEF\0\0" * 400, "fixed"), (long_text, "dump.csv"),
    ]


def _sniff_cut() -> int:  # noqa: N802
    # A length where the judge's 16 KiB head ends on a continuation byte of FINNISH text.
    text = (FINNISH * 400).encode()
    cut = decode._SNIFF_BYTES
    while not 0x80 <= text[cut] < 0xC0:
        cut += 1
    return cut + 40


@pytest.mark.parametrize("with_native", [True, False])
def test_judge_is_decode_bytes_without_the_text(monkeypatch: pytest.MonkeyPatch,
                                                with_native: bool) -> None:
    if with_native and LIB is None:
        pytest.fail("matchers._native is not built")
    monkeypatch.setattr(native, "lib", LIB if with_native else None)
    for data, name in _inputs():
        full = decode_bytes(data, name)
        expected = Decoded(None if full.text is None else "", full.encoding, full.kind,
                           full.reason)
        assert judge(data, name) == expected, (name, full.encoding, full.kind)


def test_judge_does_not_decode_plain_utf8(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain UTF-8 is judged by the validator and a head of it, not by decoding it whole."""
    if LIB is None:
        pytest.fail("matchers._native is not built")
    data = (FINNISH * 4000).encode()
    kind = decode_bytes(data, "notes").kind
    calls: list[int] = []
    real = decode._decode_unicode
    monkeypatch.setattr(decode, "_decode_unicode", lambda d: calls.append(len(d)) or real(d))
    assert judge(data, "notes") == Decoded("", "utf-8", kind, None)
    assert calls == []
