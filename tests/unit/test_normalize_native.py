"""`normalize` in C (`matchers._native.normalize_text`) against its Python path.

The C path must give exactly what the Python path gives: the same normalised text,
the same offset maps `starts`/`ends`, the same `matched` spans, and an identity
result in the same cases. Every obfuscation class, each in text of the three str
kinds (1-, 2- and 4-byte code points), and a seeded fuzz of short texts built from
them. `pip install -e .` builds the extension; these tests fail (not skip) when it
is missing.
"""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vahti.matchers import native, normalize

LIB = native.lib
FLAGS = [dict(html_tags=h, escapes=e, sql=s)
         for h, e, s in itertools.product((False, True), repeat=3)]


@pytest.fixture(autouse=True)
def _require_native(monkeypatch: pytest.MonkeyPatch) -> None:
    if LIB is None or not hasattr(LIB, "normalize_text"):
        pytest.fail("matchers._native (with normalize_text) is not built (pip install -e .), "
                    "or VAHTI_NO_NATIVE is set")
    monkeypatch.setattr(native, "lib", LIB)
    monkeypatch.setattr(normalize, "use_native", True)


def _both(monkeypatch: pytest.MonkeyPatch, text: str, **flags):  # noqa: ANN003, ANN202
    """normalize(text) through C, then through Python."""
    monkeypatch.setattr(native, "lib", LIB)
    a = normalize.normalize(text, **flags)
    monkeypatch.setattr(native, "lib", None)
    try:
        b = normalize.normalize(text, **flags)
    finally:
        monkeypatch.setattr(native, "lib", LIB)
    return a, b


def _assert_same(a: normalize.Normalized, b: normalize.Normalized, what: str) -> None:
    assert a.text == b.text, what
    assert a.source_len == b.source_len, what
    assert a.identity == b.identity, what
    for name in ("segments", "starts", "ends", "matched"):
        x, y = getattr(a, name), getattr(b, name)
        if y is None:
            assert x is None, (what, name)
            continue
        assert x.dtype == y.dtype == np.int64, (what, name)
        assert x.shape == y.shape, (what, name)
        assert np.array_equal(x, y), (what, name)
        assert x.flags.writeable == y.flags.writeable, (what, name)


def _check(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    for flags in FLAGS:
        a, b = _both(monkeypatch, text, **flags)
        _assert_same(a, b, f"{text!r} {flags}")


ENTITIES = [
    "&amp;", "&amp", "&amp x", "&ampx", "&ampx;", "&amp1", "&amp;amp;", "&lt", "&lt;", "&gt",
    "&gt;", "&quot", "&quot;", "&nbsp", "&nbsp;", "&nbspx", "&nbsp;x", "&AMP;", "&Amp",
    "&#45;", "&#45", "&#0045;", "&#x2d;", "&#X2D", "&#x2D1", "&#12345678;", "&#1234567;",
    "&#x1F600;", "&#x1f600", "&#0;", "&#128;", "&#150;", "&#x110000;", "&#xD800;",
    "&#1114112;", "&#65279;", "&#8211;", "&#x2212;", "&minus;", "&ndash;", "&bogus;",
    "&auml;", "&AElig;", "&a;", "&ab;", "&" + "a" * 32 + ";", "&" + "a" * 33 + ";",
    "&#", "&#x", "&#;", "&#x;", "&;", "&&amp;", "&1;", "&ouml", "&oumlx;", "&frac12;",
]
ESCAPES = [
    "\\u00e4", "\\u002d", "\\u002D", "\\uFF11", "\\ud83d\\ude00", "\\uD83D\\uDE00",
    "\\ud83d", "\\ude00", "\\ud83dx", "\\u0041\\udc00", "\\ud83d\\u0041", "\\u12",
    "\\u12g4", "\\U0041", "\\x41", "\\xe4", "\\xZ1", "\\x4", "\\n", "\\r", "\\t", "\\b",
    "\\f", "\\'", '\\"', "\\\\", "\\/", "\\0", "\\01", "\\0a", "\\q", "\\\\u0041", "\\u200b",
    "\\u00a0", "\\u2013",
]
SPECIAL = [
    "１２３", "１", "－", "Ｔ", "\u00a0", "\u200b", "\u200d", "\u2060", "\ufeff", "\u00ad",
    "\u202e", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015", "\u2212", "\u2796",
    "\u02d7", "\u2043", "\ufe63", "\uff0d", "\u207b", "\u208b", "\u2e3a", "\u301c", "²", "ª",
    "½", "ﬁ", "\ufdfa", "\u212a", "e\u0301", "\u0301", "\u0301\u0302", "a\u0308\u0304",
    "\u0308", "\u1100\u1161", "\U0001d7cf", "\U0001f600", "\U0001d400\u0301", "\U00010000",
    "\U0001d165\U0001d166", "\U000e0001",
]
SQL = ["''", "'", "'''", "''''"]
TAGS = [
    "<b>", "</b>", "<td>", "</td>", "<TD class='x'>", "<!-- c -->", "<!--", "<!-- unclosed",
    "<script>x<y</script>", "<SCRIPT>a</script >", "<script>never closed", "<style>p{}</style>",
    "<span>", "<br/>", "<", "< b>", "<a href=x>", "<1>", "<b", "<b<i>", "<p " + "x" * 2100 + ">",
    "<p " + "x" * 1990 + ">", "<p" + " " * 2000 + ">", "<p" + " " * 2001 + ">",
    "</p" + "\n" * 2000 + ">", "<b_x>", "<b1>", "<h1 id=a>", "<Em>", "<SUP>", "<strongest>",
    "<b\u00e4>", "<b\u00a0>", "<b\u2013>", "<bä x>", "<b x=ä>", "</script>", "</STYLE >",
    "<styles>", "<script", "<!doctype html>", "<!->", "</>", "</ b>", "<b/>", "<a\nhref=x>",
    "<" + "b" * 20 + ">", "<xscript>",
    "<\u212abd>", "<ſpan>", "<scripts>", "<wbr>", "<Font color=red>",
]
PLAIN = ["a", "Z", "7", " ", "\n", "ä", "Ö", "ÿ", "Ā", "中", "131052-308T", ";", "#", "x"]


@pytest.mark.parametrize("piece", ENTITIES + ESCAPES + SPECIAL + SQL + TAGS)
@pytest.mark.parametrize("wrap", ["{}", "a{}b", "{}&", "{}\\", "{}<", "Ā{}", "{}\U0001f600 x",
                                  "\u0301{}\u0301", "7{}{}7"])
def test_each_obfuscation_class_in_each_str_kind(monkeypatch, piece, wrap):  # noqa: ANN001
    _check(monkeypatch, wrap.format(piece, piece))


@pytest.mark.parametrize("text", [
    "", "plain ascii", "a & b", "a\\", "a<", "&", "\\", "<", "'", "x&", "x\\", "x<", "x'",
    "ä'", "Ā'", "ä''", "Ā''", "Tämä on Åbo", "Ā plain", "ä & ö", "\u0301", "\u0301x",
    "&amp;\u0301", "\\n\u0301", "<b>\u0301", "x\u0301\u0302y", "\u200b" * 3, "\u00a0\u0301",
    "1310\u200b52-30\u00ad8T", "１３１０５２－３０８Ｔ", "131052&#45;308T", "a\\u00e4b",
    "<td>131052-<b>308</b>T</td><script>x=1</script>ok", "O''Brien",
])
def test_edge_texts(monkeypatch, text):  # noqa: ANN001
    _check(monkeypatch, text)


def test_c_path_is_taken_and_python_path_is_the_fallback(monkeypatch):  # noqa: ANN001
    calls = []
    real = LIB.normalize_text

    class Spy:
        def __getattr__(self, name):  # noqa: ANN001, ANN204
            return getattr(LIB, name)

        def normalize_text(self, *args):  # noqa: ANN002, ANN202
            calls.append(1)
            return real(*args)

    monkeypatch.setattr(native, "lib", Spy())
    assert normalize.normalize("a&#45;b").text == "a-b"
    assert calls == [1]
    monkeypatch.setattr(normalize, "use_native", False)
    assert normalize.normalize("a&#45;b").text == "a-b"
    assert calls == [1]


def test_environment_switches_off_only_the_c_normaliser():
    code = "from vahti.matchers import native, normalize; print(normalize.use_native, " \
           "native.lib is not None)"
    for value, expected in (("1", "False True"), ("", "True True")):
        env = dict(os.environ, VAHTI_NO_NATIVE_NORMALIZE=value)
        env.pop("VAHTI_NO_NATIVE", None)
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True, cwd=Path(__file__).resolve().parents[2])
        assert run.stdout.split() == expected.split()


def test_lone_surrogates_fail_like_the_python_path(monkeypatch):  # noqa: ANN001
    for text in ("\ud800x&amp;", "a\udfff", "<b \ud800>x", "\U0001f600\ud800"):
        with pytest.raises(UnicodeEncodeError):
            _both(monkeypatch, text)
        monkeypatch.setattr(native, "lib", None)
        with pytest.raises(UnicodeEncodeError):
            normalize.normalize(text)
        monkeypatch.setattr(native, "lib", LIB)


def test_a_lone_surrogate_anywhere_in_a_long_text_is_seen():
    """The surrogate test runs 8 or 16 characters at a time: a lone surrogate at every
    position of longer texts, at both ends of the range; its neighbours are no
    surrogates."""
    context = normalize._native_context()
    for width in ("€", "\U0001f600"):  # a two- and a four-byte str
        for n in (7, 8, 9, 16, 17, 33, 64):
            for at in range(n):
                filler = ["a&amp;"[i % 6] for i in range(n)]
                filler[n - 1 - at] = width
                for ch in ("\ud800", "\udfff"):
                    text = "".join(filler[:at]) + ch + "".join(filler[at + 1:])
                    assert LIB.normalize_text(text, False, True, False, context) is NotImplemented
                for ch in ("\ud7ff", "\ue000"):
                    text = "a" * at + ch + width + "&amp;" * 3
                    got = LIB.normalize_text(text, False, True, False, context)
                    assert got is not NotImplemented


def test_errors_from_c_carry_no_text():
    secret = "131052-308T&amp;"
    table = normalize._native_table()
    with pytest.raises(ValueError) as err:
        LIB.normalize_text(secret, False, True, False, (b"short", {}, str, {}, str, str, b" "))
    assert secret not in str(err.value) and "131052" not in str(err.value)

    def bad_fill(s):  # noqa: ANN001, ANN202
        return s  # not a (replacement, verbatim) pair

    with pytest.raises(TypeError) as err:
        LIB.normalize_text(secret, False, True, False, (table, {}, str, {}, bad_fill, str, b" "))
    assert "131052" not in str(err.value) and "amp" not in str(err.value)
    with pytest.raises(TypeError) as err:
        LIB.normalize_text("x\u2013y", False, True, False,
                           (table, {}, len, {}, bad_fill, str, b" "))
    assert "2013" not in str(err.value)


_FUZZ = ENTITIES + ESCAPES + SPECIAL + SQL + TAGS[:20] + PLAIN * 3 + ["&", "\\", "<", ">"]


@pytest.mark.parametrize("seed", range(8))
def test_fuzz_against_the_python_path(monkeypatch, seed):  # noqa: ANN001
    rng = random.Random(seed)
    for _ in range(400):
        text = "".join(rng.choice(_FUZZ) for _ in range(rng.randint(0, 12)))
        if rng.random() < 0.3:  # cut anywhere, also inside an entity or escape
            text = text[rng.randrange(len(text) + 1):]
        flags = rng.choice(FLAGS)
        a, b = _both(monkeypatch, text, **flags)
        _assert_same(a, b, f"seed {seed}: {text!r} {flags}")


def test_long_chunk_with_many_matches(monkeypatch):  # noqa: ANN001
    rng = random.Random(5)
    text = "".join(rng.choice(_FUZZ) for _ in range(20_000))
    for flags in FLAGS:
        a, b = _both(monkeypatch, text, **flags)
        _assert_same(a, b, f"long {flags}")


def _window_one_by_one(text: str, row: list[int], flags: dict) -> tuple[str, list[int]]:
    """What the scan does without C: the window normalised alone, the hit's ends mapped."""
    a, s, e, b = row
    norm = normalize.normalize(text[a:b], **flags)
    return norm.text, [0, norm.out_offset(s - a), norm.out_offset(e - a), len(norm.text)]


@pytest.mark.parametrize("seed", range(12))
def test_windows_normalised_in_one_call_as_one_by_one(monkeypatch, seed):  # noqa: ANN001
    """`normalize_windows` (one C call for all of a chunk's windows) gives each window
    and its hit bounds as normalising it alone does: windows cutting entities, tags
    and escapes anywhere, in every str kind, empty windows and hits."""
    rng = random.Random(seed)
    text = "".join(rng.choice(_FUZZ) for _ in range(400))
    for flags in FLAGS:
        rows = []
        for _ in range(60):
            a = rng.randrange(len(text) + 1)
            b = rng.randint(a, min(len(text), a + 40))
            s = rng.randint(a, b)
            rows.append([a, s, rng.randint(s, b), b])
        got = normalize.normalize_windows(text, np.array(rows, dtype=np.int64), **flags)
        assert got is not None
        texts, bounds = got
        assert len(texts) == len(rows) and bounds.shape == (len(rows), 4)
        for row, out, b in zip(rows, texts, bounds.tolist(), strict=True):
            want = _window_one_by_one(text, row, flags)
            assert (out, b) == want, (seed, flags, row)
        monkeypatch.setattr(native, "lib", None)
        assert normalize.normalize_windows(text, np.array(rows, dtype=np.int64), **flags) is None
        monkeypatch.setattr(native, "lib", LIB)


def test_windows_with_a_lone_surrogate_go_one_by_one():
    """A lone surrogate makes the Python path raise: the batch steps aside for it."""
    text = "ab\ud800cd&amp;"
    rows = np.array([[0, 1, 2, 4], [0, 0, 1, len(text)]], dtype=np.int64)
    assert normalize.normalize_windows(text, rows) is None


def test_windows_out_of_order_fail_without_text():
    secret = "131052-308T &amp; x"
    for row in ([3, 2, 4, 5], [0, 1, 2, len(secret) + 1], [-1, 0, 1, 2], [0, 3, 2, 4]):
        with pytest.raises(ValueError) as err:
            normalize.normalize_windows(secret, np.array([row], dtype=np.int64))
        assert "131052" not in str(err.value)


# -- the word-at-a-time walk, the per-call replacement cache, the inline-tag lookup ----

# what can start (or seems to start) a match, for a walk that reads 8 characters at a time
_BLOCK_PIECES = ["&amp;", "&auml;", "&#45;", "&quot", "<b>", "<td>", "\\n", "\\u00e4", "''",
                 "'", "\u00a0", "\u00ad", "ä", "\u2013", "\U0001f600", "&", "<", "\\",
                 # the edges of the high bytes a 16-byte block looks up (0x80-0xBF: ¾ is
                 # special, ¿ not) and of those it passes over (À-ÿ, never special)
                 "\u00be", "\u00bf", "\u00c0", "\u00ff", "\u0080", "\u00bf\u00c0\u00be"]


@pytest.mark.parametrize("piece", _BLOCK_PIECES)
@pytest.mark.parametrize("kind", ["", "Ā", "\U0001d7cf"])  # UCS1, UCS2, UCS4 text
def test_a_trigger_at_every_position_of_an_8_character_block(monkeypatch, piece, kind):  # noqa: ANN001
    """A match (or a lone trigger) at each position of two 8-character blocks, with the
    text ending at every distance after it: the same as the Python path, and
    `match_starts` the same as numpy's."""
    for before in range(18):
        for after in range(10):
            text = "x" * before + piece + "y" * after + kind
            _check(monkeypatch, text)
            for flags in FLAGS:
                got = normalize.match_starts(text, **flags)
                monkeypatch.setattr(native, "lib", None)
                want = normalize.match_starts(text, **flags)
                monkeypatch.setattr(native, "lib", LIB)
                assert np.array_equal(got, want), (text, flags)


@pytest.mark.parametrize("entity", ["&amp;", "&auml;", "&#x2d;", "&quot;", "\\u00e4", "''"])
def test_entities_cut_at_a_chunk_end(monkeypatch, entity):  # noqa: ANN001
    """An entity or escape cut at each of its characters by the end of the text (a
    chunk's end), after the same one whole (a cached replacement)."""
    for k in range(len(entity) + 1):
        for pad in ("", "a" * 7, "a" * 8, "ä" * 9, "\u0100" * 3):
            _check(monkeypatch, pad + entity + pad + entity[:k])


def test_many_distinct_replacements_in_one_call(monkeypatch):  # noqa: ANN001
    """More distinct entities, escapes and special characters than the C side's cache of
    replacements holds (evictions, colliding slots), each repeated."""
    pieces = [f"&#{n};" for n in range(40, 700)] + [f"\\u{n:04x}" for n in range(0x2000, 0x2100)]
    pieces += [chr(n) for n in range(0xFF10, 0xFF5F)] + ["&auml;", "&amp;"] * 50
    rng = random.Random(3)
    for _ in range(3):
        rng.shuffle(pieces)
        _check(monkeypatch, " ".join(pieces * 2))


def test_inline_tags_and_their_neighbours(monkeypatch):  # noqa: ANN001
    """Each inline tag becomes nothing; a name that shares its first letter or is one
    letter longer or shorter separates like a space (as the Python path decides)."""
    names = sorted(normalize._INLINE_TAGS)
    near = {n[:-1] for n in names if len(n) > 1} | {n + e for n in names for e in "x1"}
    for name in names + sorted(near) + ["zz", "q1", "h1", "abbrx", "x" * 16, "x" * 17]:
        for tag in (f"<{name}>", f"</{name.upper()}>", f"<{name} class=a>"):
            _check(monkeypatch, f"131052-{tag}308T")


def test_windows_of_every_kind_in_turn(monkeypatch):  # noqa: ANN001
    """`normalize_windows` over many windows of 1-, 2- and 4-byte text whose entities
    and escapes widen the output (€, an emoji in Latin-1 text; one buffer serves all
    the windows): as normalising each alone."""
    text = "".join(f"a&amp;b{i % 10}&#8364;x\\ud83d\\ude00''<b>y</b>" + "Ā\U0001d7cf" * (i % 3 == 0)
                   for i in range(200))
    rows = [[a, a + 1, a + 3, a + 24] for a in range(0, len(text) - 25, 5)]
    for flags in FLAGS:
        texts, got = normalize.normalize_windows(text, np.array(rows, dtype=np.int64), **flags)
        for j, row in enumerate(rows):
            want_text, want_row = _window_one_by_one(text, row, flags)
            assert texts[j] == want_text and got[j].tolist() == want_row, (row, flags)
