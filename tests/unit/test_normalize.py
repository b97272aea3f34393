import random

import numpy as np
import pytest

from vahti.matchers import native
from vahti.matchers.normalize import match_starts, needs_normalization, normalize


def _check_map(source: str, n) -> None:
    """Every normalised char maps to a non-empty, increasing input span."""
    if n.identity:
        assert n.text == source
        return
    assert len(n.starts) == len(n.ends) == len(n.text)
    assert np.all(n.starts < n.ends)
    assert np.all(np.diff(n.starts) >= 0)
    assert np.all(n.ends <= len(source))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("131052&#45;308T", "131052-308T"),
        ("131052&minus;308T", "131052-308T"),
        ("131052&#x2D;308T", "131052-308T"),
        ("a &amp; b &amp c", "a & b & c"),
        ("１３１０５２－３０８Ｔ", "131052-308T"),
        ("131052\u2013308T", "131052-308T"),
        ("131052\u2212308T", "131052-308T"),
        ("1310\u200b52-30\u00ad8T", "131052-308T"),
        ("\ufeffx\u2060y", "xy"),
        ("a\\u00e4b", "aäb"),
        ("a\\u002db", "a-b"),
        ("line\\nnext \\'q\\' \\\\", "line\nnext 'q' \\"),
        ("\\ud83d\\ude00", "\U0001f600"),
        ("e\u0301", "é"),
        ("nbsp\u00a0here", "nbsp here"),
        ("a & b, c&d", "a & b, c&d"),
    ],
)
def test_normalize_cases(source, expected):
    n = normalize(source)
    assert n.text == expected
    _check_map(source, n)


def test_html_tags_and_sql_quotes():
    n = normalize("<td>131052-<b>308</b>T</td><script>x=1</script>ok", html_tags=True)
    assert n.text == " 131052-308T  ok"
    assert normalize("O''Brien", sql=True).text == "O'Brien"
    assert normalize("O''Brien").text == "O''Brien"


def test_fast_path_is_identity():
    text = "plain ascii 131052-308T, nothing to do"
    assert not needs_normalization(text)
    n = normalize(text)
    assert n.identity and n.text is text
    assert n.span(3, 7) == (3, 7)


def test_nothing_to_change_in_latin1_is_identity():
    assert normalize("Tämä on Åbo ja Öland").identity


def test_span_points_at_original():
    source = "x 131052&#8211;308t y"
    n = normalize(source)
    i = n.text.index("131052")
    s, e = n.span(i, i + 11)
    assert source[s:e] == "131052&#8211;308t"


_PIECES = ["a", "Z", "7", " ", "\n", "ä", "Ö", "&amp;", "&#45;", "&minus;", "&bogus;", "&",
           "\u200b", "\u00ad", "\u2013", "－", "１", "\\n", "\\u00e4", "\\", "e\u0301",
           "\U0001d7cf",
           "<b>", "</td>", "''"]


@pytest.mark.parametrize("seed", range(30))
def test_offset_map_property(seed):
    rng = random.Random(seed)
    source = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 60)))
    for html in (False, True):
        n = normalize(source, html_tags=html, sql=True)
        _check_map(source, n)
        # Mapping every char back and normalising the pieces again gives the same text.
        if not n.identity:
            rebuilt = []
            prev = None
            for s, e in zip(n.starts.tolist(), n.ends.tolist(), strict=True):
                if (s, e) != prev:
                    rebuilt.append(normalize(source[s:e], html_tags=html, sql=True).text)
                    prev = (s, e)
            assert "".join(rebuilt) == n.text
        # Spans of any normalised range are inside the input.
        if n.text:
            a = rng.randrange(len(n.text))
            b = rng.randint(a + 1, len(n.text))
            s, e = n.span(a, b)
            assert 0 <= s < e <= len(source)


def test_backslash_zero_before_a_digit_is_no_nul_escape():
    # JS reads "\0" as NUL only when no digit follows: a Windows path or an escaped
    # backslash before a phone number keeps the number whole
    assert normalize("a\\0b").text == "a\x00b"
    assert normalize("C:\\dumps\\0401234567.txt").text == "C:\\dumps\\0401234567.txt"


def _starts_ends_from_segments_by_hand(n) -> tuple[list[int], list[int]]:
    """The per-character map, spelled out one segment at a time."""
    starts, ends = [], []
    rows = n.segments.tolist()
    for k, (o, a, b, verbatim) in enumerate(rows):
        length = (rows[k + 1][0] if k + 1 < len(rows) else len(n.text)) - o
        assert length > 0
        for j in range(length):
            starts.append(a + j if verbatim else a)
            ends.append(a + j + 1 if verbatim else b)
    return starts, ends


# Replacements wider than the text they are in (the output is widened).
_WIDE_PIECES = [*_PIECES, "&#x20ac;", "\\u2603", "&hellip;", "\\ud83d\\ude00", "\u2013"]


@pytest.mark.parametrize("seed", range(60))
def test_segment_map_answers_like_the_character_map(seed, monkeypatch):
    """The scan maps offsets through the segments; each way must give what the map per
    character gives: spans, the input start of a character, and the first output
    character at or after an input offset."""
    rng = random.Random(seed)
    pieces = _WIDE_PIECES if seed % 2 else [p for p in _WIDE_PIECES if p != "\U0001d7cf"]
    source = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 80)))
    for html in (False, True):
        n = normalize(source, html_tags=html, sql=True)
        if n.identity:
            assert n.segments is None and n.starts is None
            assert n.out_offset(3) == 3 and n.span(1, 2) == (1, 2)
            continue
        starts, ends = _starts_ends_from_segments_by_hand(n)
        assert n.starts.tolist() == starts and n.ends.tolist() == ends
        seg = n.segments
        verbatim = seg[:, 3] == 1
        # verbatim segments that touch are one segment
        assert not np.any(verbatim[1:] & verbatim[:-1] & (seg[1:, 1] == seg[:-1, 2]))
        m = len(n.text)
        if m:
            a = np.array([rng.randrange(m) for _ in range(20)], dtype=np.int64)
            b = np.array([rng.randint(x + 1, m) for x in a.tolist()], dtype=np.int64)
            every = np.arange(m, dtype=np.int64)  # in order, as a detector's hits come
            for x, y in ((a, b), (every, every + 1), (every[: m // 2], every[m // 2:][: m // 2])):
                for lib in (native.lib, None):  # segments galloped in C, searched by numpy
                    monkeypatch.setattr(native, "lib", lib)
                    s_in, e_in = n.spans(x, y)
                    assert s_in.tolist() == [starts[i] for i in x.tolist()]
                    assert e_in.tolist() == [ends[j - 1] for j in y.tolist()]
                monkeypatch.undo()
            # an empty span among them (no detector makes one): mapped as numpy maps it
            x, y = np.append(a, a[:1]), np.append(b, a[:1])
            got = n.spans(x, y)
            monkeypatch.setattr(native, "lib", None)
            assert [v.tolist() for v in got] == [v.tolist() for v in n.spans(x, y)]
            monkeypatch.undo()
            for x, y in zip(a.tolist(), b.tolist(), strict=True):
                assert n.span(x, y) == (starts[x], ends[y - 1])
                assert n.span(x, x) == (starts[x], starts[x])
        assert n.span(m, m) == (len(source), len(source))
        xs = np.arange(len(source) + 2, dtype=np.int64)
        expected = np.searchsorted(np.asarray(starts, dtype=np.int64), xs, "left")
        assert n.out_offsets(xs).tolist() == expected.tolist()
        for lib in (native.lib, None):  # bisected in C, searched by numpy
            monkeypatch.setattr(native, "lib", lib)
            assert [n.out_offset(x) for x in xs.tolist()] == expected.tolist()
        monkeypatch.undo()


def test_segment_map_of_many_segments_in_python(monkeypatch):
    """Without C, a long map's offsets come from numpy too."""
    source = "".join(f"{i}<b>x</b>&amp;" for i in range(40))
    n = normalize(source, html_tags=True)
    assert len(n.segments) > 16
    xs = list(range(len(source) + 1))
    expected = np.searchsorted(n.starts, xs, "left").tolist()
    monkeypatch.setattr(native, "lib", None)
    assert [n.out_offset(x) for x in xs] == expected


_QUOTES_AND_TRIGGERS = ["", "'", "''", "'''", "a'b", "a''b", "x'", "ä'", "ä''", "Ā'", "Ā''",
                        "&<\\'", "12345678&", "1234567'' x", "ä" * 9 + "<"]


@pytest.mark.parametrize("seed", range(40 + len(_QUOTES_AND_TRIGGERS)))
def test_match_starts_in_c_are_those_of_numpy(seed, monkeypatch):
    """`match_starts` in one C pass finds what the numpy passes find, in every str kind
    and with every option (a lone quote, a doubled one, one at the end)."""
    rng = random.Random(seed)
    pieces = [*_WIDE_PIECES, "'", "'''", "<", "\\", "&", "\u0100", "\U0001f600"]
    source = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 120)))
    if seed >= 40:
        source = _QUOTES_AND_TRIGGERS[seed - 40]
    assert native.lib is not None and hasattr(native.lib, "trigger_starts")
    for html in (False, True):
        for escapes in (False, True):
            for sql in (False, True):
                got = match_starts(source, html_tags=html, escapes=escapes, sql=sql)
                monkeypatch.setattr(native, "lib", None)
                want = match_starts(source, html_tags=html, escapes=escapes, sql=sql)
                monkeypatch.undo()
                assert got.dtype == want.dtype == np.int64
                assert got.tolist() == want.tolist(), (source, html, escapes, sql)
