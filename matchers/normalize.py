"""Text normalisation with an offset map back to the input.

Leaked text hides identifiers behind HTML entities (``&#45;``), JSON escapes
(``\\u002d``), full-width digits, zero-width characters and a dozen kinds of
dash. Detectors run on the normalised text; every normalised character keeps
the span of input characters it came from, so a finding can point at the
original occurrence.

Steps, in one pass over the input:

- HTML entities decoded (named with ``;``, the common legacy ones without it,
  decimal and hex character references);
- optionally HTML tags stripped (block tags and ``script``/``style`` bodies
  become one space, inline formatting tags nothing);
- optionally JSON/JS string escapes decoded (``\\uXXXX`` incl. surrogate
  pairs, ``\\n``, ``\\'`` ...) and SQL doubled quotes collapsed;
- NFKC (full-width digits become ASCII, NBSP a space, ...);
- format characters (category Cf: zero-width space/joiner, soft hyphen, bidi
  marks, BOM) removed;
- every dash and minus sign (category Pd, U+2212 ...) becomes ``-``.

Only the characters that change are touched: the rest of the text is copied
as one run per gap, and a text with nothing to normalise (ASCII without ``&``
or ``\\``) is returned as is with an identity map, without any per-character
work.

The loop runs in C (``matchers._native.normalize_text``) when the extension is
built, with the same result; what a match becomes (html.unescape, escape
decoding, NFKC) stays this module's, through caches that C reads. The Python
loop is the fallback, and ``VAHTI_NO_NATIVE_NORMALIZE=1`` (or `use_native` set to
False) selects it on its own, for benchmarks.
"""

from __future__ import annotations

import functools
import html
import os
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from . import native, unicode_tables
from .unicode_tables import EXTRA_DASHES as _EXTRA_DASHES

use_native = os.environ.get("VAHTI_NO_NATIVE_NORMALIZE", "") not in ("1", "true", "yes")

# Inline formatting tags: removed without a trace, so that "131052-<b>308T</b>"
# still reads as one token. Any other tag separates words like a space.
_INLINE_TAGS = frozenset(
    "a abbr b bdi bdo cite code data dfn em font i kbd mark q s samp small span strong sub "
    "sup time tt u var wbr".split()
)


def _is_dash(ch: str) -> bool:
    return unicodedata.category(ch) == "Pd" or ch in _EXTRA_DASHES


@functools.cache
def _map_piece(piece: str) -> str:
    """NFKC, drop format characters, unify dashes (for one char or one cluster)."""
    out = []
    for ch in unicodedata.normalize("NFKC", piece):
        if ch == "-" or ch.isascii():
            out.append(ch)
        elif unicodedata.category(ch) == "Cf":
            continue
        elif _is_dash(ch):
            out.append("-")
        else:
            out.append(ch)
    return "".join(out)


@functools.cache
def _special_class() -> str:
    """A regex character class of the non-ASCII characters that normalisation changes."""
    parts = []
    for lo, hi in _special_ranges():
        lo_s, hi_s = re.escape(chr(lo)), re.escape(chr(hi))
        parts.append(lo_s if lo == hi else f"{lo_s}-{hi_s}")
    parts.append("\U00010000-\U0010ffff")
    return "[" + "".join(parts) + "]"


def _special_ranges() -> tuple[tuple[int, int], ...]:
    """Ranges of BMP characters that normalisation changes (shipped precomputed, see
    `unicode_tables`); astral characters are all taken as special, they are rare and
    the per-char map sorts them out."""
    return unicode_tables.tables()["special_bmp"]


_ENTITY = (
    r"&(?:#[0-9]{1,7};?|#[xX][0-9a-fA-F]{1,6};?|[A-Za-z][A-Za-z0-9]{1,31};"
    r"|(?:amp|lt|gt|quot|nbsp)(?![A-Za-z0-9;]))"
)
# "\0" is NUL only when no digit follows (JS): "\0401234567" is a backslash and a number
_ESCAPE = (r"\\(?:u[0-9a-fA-F]{4}(?:\\u[dD][c-fC-F][0-9a-fA-F]{2})?|x[0-9a-fA-F]{2}"
           r"|[nrtbf'\"\\/]|0(?![0-9]))")
_TAG = (
    r"<!--.*?-->|<(?P<raw>script|style)\b[^>]*>.*?</(?P=raw)\s*>"
    r"|</?(?P<tag>[A-Za-z][A-Za-z0-9]*)\b[^<>]{0,2000}>"
)


@functools.cache
def _pattern(html_tags: bool, escapes: bool, sql: bool) -> re.Pattern[str]:
    alts = [f"(?P<ent>{_ENTITY})"]
    if html_tags:
        alts.append(f"(?P<tagm>(?i:{_TAG}))")
    if escapes:
        alts.append(f"(?P<esc>{_ESCAPE})")
    if sql:
        alts.append("(?P<sqlq>'')")
    alts.append(f"(?P<spec>{_special_class()}+)")
    return re.compile("|".join(alts), re.DOTALL)


@functools.cache
def _special_chars() -> np.ndarray:
    """Boolean table over all code points: the characters of `_special_class`."""
    table = np.zeros(0x110000, dtype=bool)
    for lo, hi in _special_ranges():
        table[lo : hi + 1] = True
    table[0x10000:] = True
    return table


@functools.cache
def _special_table(html_tags: bool, escapes: bool, sql: bool) -> np.ndarray:
    """Boolean table over all code points: can a match start at this character?

    Looking every character up in this table with numpy is several times faster
    than searching for a large character class with `re`.
    """
    table = _special_chars().copy()
    table[ord("&")] = True
    table[ord("<")] = html_tags
    table[ord("\\")] = escapes
    table[ord("'")] = sql
    return table


def match_starts(
    text: str, *, html_tags: bool = False, escapes: bool = True, sql: bool = False
) -> np.ndarray:
    """Sorted positions (int64) of the characters where a normalisation match can
    start: a text span without any is left as it is by `normalize`."""
    table = _special_table(html_tags, escapes, sql)
    c_starts = getattr(native.lib, "trigger_starts", None) if use_native else None
    if c_starts is not None:  # one pass, without copies of the text
        return np.frombuffer(c_starts(text, table), dtype=np.int64)
    try:  # Latin-1 strings (most European text) are copied as they are
        cps = np.frombuffer(text.encode("latin-1"), dtype=np.uint8)
    except UnicodeEncodeError:
        cps32 = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
        return np.flatnonzero(np.take(table, cps32))
    # Few characters are >= 0x80 or ASCII triggers: test only those.
    hi = np.flatnonzero(cps >= 0x80)
    found = [hi[np.take(table, cps[hi])]]
    for ch in "&<\\'":
        if table[ord(ch)] and ch in text:
            at = np.flatnonzero(cps == ord(ch))
            if ch == "'":  # only a doubled quote is a match (SQL)
                at = at[cps[np.minimum(at + 1, len(cps) - 1)] == ord("'")]
                at = at[at + 1 < len(cps)]
            found.append(at)
    return np.sort(np.concatenate(found)).astype(np.int64, copy=False)


def _match_starts(text: str, html_tags: bool, escapes: bool, sql: bool) -> list[int]:
    return match_starts(text, html_tags=html_tags, escapes=escapes, sql=sql).tolist()


_SIMPLE_ESCAPES = {
    "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "0": "\0",
    "'": "'", '"': '"', "\\": "\\", "/": "/",
}


def _decode_escape(s: str) -> str:
    kind = s[1]
    if kind in "uU" and len(s) > 2:
        hi = int(s[2:6], 16)
        if len(s) == 12:  # a surrogate pair
            lo = int(s[8:12], 16)
            if 0xD800 <= hi <= 0xDBFF:
                return chr(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
            return _safe_chr(hi) + _safe_chr(lo)
        return _safe_chr(hi)
    if kind in "xX" and len(s) == 4:
        return chr(int(s[2:4], 16))
    return _SIMPLE_ESCAPES.get(kind, s)


def _safe_chr(cp: int) -> str:
    return "\ufffd" if 0xD800 <= cp <= 0xDFFF else chr(cp)


@dataclass(frozen=True)
class Normalized:
    """A normalised text and its map back to the input.

    The map is a list of segments, one row each of (output start, input start,
    input end, verbatim): a verbatim segment is input text copied as it is (its
    output character ``j`` is input character ``input start + j``); every character
    of any other segment comes from the whole input span. ``segments`` is None
    when the map is the identity (nothing was changed). A map per character
    (``starts[i]``/``ends[i]``: the input span of output character ``i``) is made
    from the segments on first use; the scan itself maps through the segments,
    which are few (a chunk of text with a few entities has a few dozen).
    """

    text: str
    source_len: int
    segments: np.ndarray | None = None  # (k, 4) int64, see above
    # The input spans that matched (entities, escapes, tags, runs of special
    # characters), sorted (n, 2) int64; None with an identity map. A span of the
    # input that cuts none of them normalises to the same text on its own (but
    # for a lookahead at its very end: see `engine._HitWindows`).
    matched: np.ndarray | None = None

    @property
    def identity(self) -> bool:
        return self.segments is None

    @cached_property
    def starts(self) -> np.ndarray | None:
        """Per output character, the start of its input span (None: identity)."""
        if self.segments is None:
            return None
        return self._char_spans()[0]

    @cached_property
    def ends(self) -> np.ndarray | None:
        """Per output character, the end of its input span (None: identity)."""
        if self.segments is None:
            return None
        return self._char_spans()[1]

    def _char_spans(self) -> tuple[np.ndarray, np.ndarray]:
        seg = self.segments
        assert seg is not None
        lens = self._lengths
        verb = np.repeat(seg[:, 3].astype(bool), lens)
        within = np.arange(len(self.text), dtype=np.int64) - np.repeat(seg[:, 0], lens)
        starts = np.repeat(seg[:, 1], lens) + np.where(verb, within, 0)
        return starts, np.where(verb, starts + 1, np.repeat(seg[:, 2], lens))

    @cached_property
    def _lengths(self) -> np.ndarray:
        """Output characters per segment."""
        seg = self.segments
        assert seg is not None
        return np.diff(np.append(seg[:, 0], len(self.text)))

    @cached_property
    def _last_starts(self) -> np.ndarray:
        """Per segment, the input start of its last output character (sorted)."""
        seg = self.segments
        assert seg is not None
        return seg[:, 1] + (self._lengths - 1) * seg[:, 3]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Input span ``[s, e)`` of the normalised span ``[start, end)``."""
        seg = self.segments
        if seg is None:
            return start, end
        if end <= start:
            if start >= len(self.text):
                return self.source_len, self.source_len
            pos = self._char_start(start)
            return pos, pos
        k = bisect_right(seg[:, 0], end - 1) - 1
        last = seg[k, 1] + (end - 1 - seg[k, 0]) + 1 if seg[k, 3] else seg[k, 2]
        return self._char_start(start), int(last)

    def _char_start(self, i: int) -> int:
        seg = self.segments
        assert seg is not None
        k = bisect_right(seg[:, 0], i) - 1
        return int(seg[k, 1] + (i - seg[k, 0]) * seg[k, 3])

    def spans(self, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised `span` for non-empty spans."""
        seg = self.segments
        if seg is None:
            return np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
        c_spans = getattr(native.lib, "norm_spans", None) if use_native else None
        if c_spans is not None and len(starts):  # each segment found by galloping
            s = np.ascontiguousarray(starts, dtype=np.int64)
            e = np.ascontiguousarray(ends, dtype=np.int64)
            if (e > s).all():  # (C refuses an empty span: numpy below maps it as before)
                s_in, e_in = np.empty_like(s), np.empty_like(e)
                c_spans(seg, s, e, s_in, e_in)
                return s_in, e_in
        s = np.asarray(starts, dtype=np.int64)
        e = np.asarray(ends, dtype=np.int64) - 1
        k = np.searchsorted(seg[:, 0], s, "right") - 1
        s_in = seg[k, 1] + (s - seg[k, 0]) * seg[k, 3]
        k = np.searchsorted(seg[:, 0], e, "right") - 1
        e_in = np.where(seg[k, 3] == 1, seg[k, 1] + (e - seg[k, 0]) + 1, seg[k, 2])
        return s_in, e_in

    def out_offsets(self, x: np.ndarray) -> np.ndarray:
        """Per input offset in `x`, the first output character whose input span
        starts at or after it (``np.searchsorted(starts, x, "left")``)."""
        x = np.asarray(x, dtype=np.int64)
        seg = self.segments
        if seg is None:
            return x.copy()
        k = np.searchsorted(self._last_starts, x, "left")
        inside = k < len(seg)
        out = np.full(len(x), len(self.text), dtype=np.int64)
        kk = k[inside]
        out[inside] = seg[kk, 0] + np.maximum(0, x[inside] - seg[kk, 1]) * seg[kk, 3]
        return out

    def out_offset(self, x: int) -> int:
        """`out_offsets` for one offset. Asked of short maps thousands of times (the
        windows normalised on their own, without C), where a numpy call costs more
        than the bisection itself: C bisects."""
        seg = self.segments
        if seg is None:
            return x
        c_offset = getattr(native.lib, "norm_out_offset", None) if use_native else None
        if c_offset is not None:
            return c_offset(seg, len(self.text), x)
        return int(self.out_offsets(np.array([x], dtype=np.int64))[0])


def needs_normalization(
    text: str, *, html_tags: bool = False, escapes: bool = True, sql: bool = False
) -> bool:
    """False when `normalize` would return the text unchanged (cheap checks only)."""
    if not text.isascii():
        return True
    if "&" in text:
        return True
    if escapes and "\\" in text:
        return True
    if html_tags and "<" in text:
        return True
    return sql and "''" in text


def normalize(
    text: str, *, html_tags: bool = False, escapes: bool = True, sql: bool = False
) -> Normalized:
    """Normalise `text` (see the module doc) and keep the offset map."""
    if not needs_normalization(text, html_tags=html_tags, escapes=escapes, sql=sql):
        return Normalized(text, len(text))
    # (an extension built before normalize_text existed has none: the Python loop)
    c_loop = getattr(native.lib, "normalize_text", None) if use_native else None
    if c_loop is not None:
        got = c_loop(text, html_tags, escapes, sql, _native_context())
        if got is None:  # nothing where a match can start
            return Normalized(text, len(text))
        if got is not NotImplemented:  # (a lone surrogate: the Python path raises)
            out, segments, matched = got
            return Normalized(out, len(text),
                              np.frombuffer(segments, dtype=np.int64).reshape(-1, 4),
                              np.frombuffer(matched, dtype=np.int64).reshape(-1, 2))
    return _normalize_python(text, html_tags, escapes, sql)


def normalize_windows(
    text: str, bounds: np.ndarray, *, html_tags: bool = False, escapes: bool = True,
    sql: bool = False
) -> tuple[list[str], np.ndarray] | None:
    """Windows of `text` normalised each on its own, in one C call: `bounds` holds a
    row (window start, hit start, hit end, window end) per window; returns the
    normalised windows and their rows (0, hit start, hit end, length) in them, the
    hit's ends mapped by `Normalized.out_offset`. None without the C extension (or
    for a lone surrogate): then normalise the windows one by one."""
    c_windows = getattr(native.lib, "normalize_windows", None) if use_native else None
    if c_windows is None:
        return None
    got = c_windows(text, html_tags, escapes, sql, _native_context(),
                    np.ascontiguousarray(bounds, dtype=np.int64))
    if got is NotImplemented:
        return None
    texts, rows = got
    return texts, np.frombuffer(rows, dtype=np.int64).reshape(-1, 4)


def _normalize_python(text: str, html_tags: bool, escapes: bool, sql: bool) -> Normalized:
    """The loop of `normalize` in Python (without the C extension)."""
    pieces: list[str] = []
    segments: list[list[int]] = []  # as in Normalized
    out_len = 0

    def add(out: str, a: int, b: int, verbatim: bool) -> None:
        nonlocal out_len
        if not out:
            return
        pieces.append(out)
        if verbatim and segments and segments[-1][3] and segments[-1][2] == a:
            segments[-1][2] = b  # continues the verbatim segment before it
        else:
            segments.append([out_len, a, b, int(verbatim)])
        out_len += len(out)

    pos = 0
    pattern = _pattern(html_tags, escapes, sql)
    where = _match_starts(text, html_tags, escapes, sql)
    if not where:
        return Normalized(text, len(text))
    search = 0
    matched: list[tuple[int, int]] = []
    for t in where:
        if t < search:
            continue
        m = pattern.match(text, t)
        if m is None:  # a lone '&', '\\' or '<'
            continue
        a, b = m.span()
        search = b
        kind = m.lastgroup
        if kind == "spec":
            # A combining mark composes with the character before it.
            if unicodedata.combining(text[a]) and a > pos:
                a -= 1
        matched.append((a, b))
        if kind == "spec":
            add(text[pos:a], pos, a, True)
            _add_special_run(text, a, b, add)
        else:
            add(text[pos:a], pos, a, True)
            s = m.group()
            if kind == "tagm":
                if _tag_separates(m):
                    add(" ", a, b, False)
            else:
                rep, verbatim = _replacement(kind, s)
                add(rep, a, b, verbatim)
        pos = b
    add(text[pos:], pos, len(text), True)

    return Normalized("".join(pieces), len(text),
                      np.asarray(segments, dtype=np.int64).reshape(-1, 4),
                      np.asarray(matched, dtype=np.int64).reshape(-1, 2))


@functools.lru_cache(maxsize=4096)
def _replacement(kind: str | None, s: str) -> tuple[str, bool]:
    """What an entity, escape or doubled quote becomes (leaked text repeats a few)."""
    if kind == "ent":
        rep = html.unescape(s)
        if rep == s:
            return s, True
    elif kind == "esc":
        rep = _decode_escape(s)
    else:  # doubled SQL quote
        return "'", False
    return (_map_piece(rep) if not rep.isascii() else rep), False


def _tag_separates(m: re.Match[str]) -> bool:
    """Does the matched tag become a space? Not inline formatting tags, nor comments."""
    name = (m.group("tag") or "").lower()
    return name not in _INLINE_TAGS and not m.string.startswith("<!--", m.start())


def _add_special_run(text: str, a: int, b: int, add) -> None:  # noqa: ANN001
    """Map a run of special characters, one base character (+ its marks) at a time."""
    i = a
    while i < b:
        j = i + 1
        while j < b and unicodedata.combining(text[j]):
            j += 1
        add(_map_piece(text[i:j]), i, j, False)
        i = j


# -- what the C loop (matchers._native.normalize_text) reads ------------------------------

# Replacements by source text, filled on a miss (leaked text repeats a few entities and
# escapes); cleared when full, so that no text can make them grow without bound.
_CACHE_LIMIT = 1 << 16
# Values: (replacement, verbatim), see `_replacement`.
_PIECES: dict[str, tuple[str, bool]] = {}  # a special character (+ its marks): _map_piece
_MATCHES: dict[str, tuple[str, bool]] = {}  # an entity, escape or doubled quote
_KIND_OF = {"&": "ent", "\\": "esc", "'": "sqlq"}


def _fill_piece(piece: str) -> tuple[str, bool]:
    if len(_PIECES) >= _CACHE_LIMIT:
        _PIECES.clear()
    rep = _PIECES[piece] = (_map_piece(piece), False)
    return rep


def _fill_match(source: str) -> tuple[str, bool]:
    if len(_MATCHES) >= _CACHE_LIMIT:
        _MATCHES.clear()
    rep = _MATCHES[source] = _replacement(_KIND_OF[source[0]], source)
    return rep


@functools.cache
def _tag_pattern() -> re.Pattern[str]:
    return re.compile(f"(?i:{_TAG})", re.DOTALL)


def _tag_at(text: str, t: int) -> tuple[int, bool] | None:
    """The HTML tag at `text[t]` ("<"): its end, and whether it becomes a space (for the
    tags that normalize_text does not match itself)."""
    m = _tag_pattern().match(text, t)
    return None if m is None else (m.end(), _tag_separates(m))


def prepare() -> None:
    """Build the per-process tables of `normalize` now (about 0.1 s), e.g. before scan
    workers fork, so that they inherit them instead of each building its own."""
    _special_table(False, True, False)
    if use_native and getattr(native.lib, "normalize_text", None) is not None:
        _native_context()


@functools.cache
def _native_context() -> tuple:
    """What normalize_text reads besides the text (see its doc)."""
    inline_names = (" " + " ".join(sorted(_INLINE_TAGS)) + " ").encode("ascii")
    return (_native_table(), _PIECES, _fill_piece, _MATCHES, _fill_match, _tag_at,
            inline_names)


@functools.cache
def _native_table() -> bytes:
    """Per code point: bit 1 special (a character of `_special_class`), bit 2 combining."""
    table = _special_chars().astype(np.uint8)
    for lo, hi in unicode_tables.tables()["combining"]:
        table[lo : hi + 1] |= 2
    return table.tobytes()
