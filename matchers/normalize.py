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
from dataclasses import dataclass

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

    ``starts[i]``/``ends[i]`` are the input span of normalised character ``i``;
    both are ``None`` when the map is the identity (nothing was changed).
    """

    text: str
    source_len: int
    starts: np.ndarray | None = None
    ends: np.ndarray | None = None
    # The input spans that matched (entities, escapes, tags, runs of special
    # characters), sorted (n, 2) int64; None with an identity map. A span of the
    # input that cuts none of them normalises to the same text on its own (but
    # for a lookahead at its very end: see `engine._HitWindows`).
    matched: np.ndarray | None = None

    @property
    def identity(self) -> bool:
        return self.starts is None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Input span ``[s, e)`` of the normalised span ``[start, end)``."""
        if self.starts is None or self.ends is None:
            return start, end
        n = len(self.text)
        if end <= start:
            pos = int(self.starts[start]) if start < n else self.source_len
            return pos, pos
        return int(self.starts[start]), int(self.ends[end - 1])

    def spans(self, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised `span` for non-empty spans."""
        if self.starts is None or self.ends is None:
            return np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
        return self.starts[starts], self.ends[np.asarray(ends) - 1]


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
            out, starts, ends, matched = got
            return Normalized(out, len(text), np.frombuffer(starts, dtype=np.int64),
                              np.frombuffer(ends, dtype=np.int64),
                              np.frombuffer(matched, dtype=np.int64).reshape(-1, 2))
    return _normalize_python(text, html_tags, escapes, sql)


def _normalize_python(text: str, html_tags: bool, escapes: bool, sql: bool) -> Normalized:
    """The loop of `normalize` in Python (without the C extension)."""
    pieces: list[str] = []
    # Segments: input start, input end, output length, verbatim?
    seg_in: list[int] = []
    seg_in_end: list[int] = []
    seg_len: list[int] = []
    seg_verb: list[bool] = []

    def add(out: str, a: int, b: int, verbatim: bool) -> None:
        if not out:
            return
        pieces.append(out)
        seg_in.append(a)
        seg_in_end.append(b)
        seg_len.append(len(out))
        seg_verb.append(verbatim)

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

    out = "".join(pieces)
    lens = np.asarray(seg_len, dtype=np.int64)
    ins = np.asarray(seg_in, dtype=np.int64)
    ine = np.asarray(seg_in_end, dtype=np.int64)
    verb = np.asarray(seg_verb, dtype=bool)
    out_start = np.cumsum(lens) - lens
    within = np.arange(len(out), dtype=np.int64) - np.repeat(out_start, lens)
    rep_verb = np.repeat(verb, lens)
    starts = np.repeat(ins, lens) + np.where(rep_verb, within, 0)
    ends = np.where(rep_verb, starts + 1, np.repeat(ine, lens))
    return Normalized(out, len(text), starts, ends,
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
