"""E-mail addresses, also written as ``name [at] example [dot] fi`` and the like (in
Finnish too: ``name (ät) example (piste) fi``), and defanged (``name[@]example[.]fi``,
as security teams and forums write an address that must not turn into a link), and
percent-encoded in a URL (``name%40example.fi``: a query string, an access log).

Canonical form: trimmed and lower-cased (``local@domain``). The local part is
lower-cased too: real providers treat it case-insensitively, and a leak
writes addresses in whatever case it likes.

`find` does not run one big regular expression over the text (that tries a
match at every position, ~50 ms/MB): it looks for the anchors (``@``,
``[at]``, ``( AT )``, ``[@]``, ``{ät}``, ``%40``, `` at ``; "at" or "ät" in any case, up to two
spaces inside the brackets) with `str.find` and reads the local part backwards and the
domain forwards from each.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
from stdnum.exceptions import InvalidFormat

from .. import native
from ..normalize import normalize
from ._common import rows_at, validity_check

ID_TYPE = "email"

_DOT = r"(?:\.|\s*[\[({]\s*(?:dot|piste|\.)\s*[\])}]\s*|\s+(?:dot|piste)\s+)"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_AT_DOMAIN = re.compile(
    r"(?:\s*@\s*|%40|\s*[\[({]\s*(?:at|ät|@)\s*[\])}]\s*|\s+(?:at|ät)\s+)"
    # A top-level domain is letters: digits right after one end the address (a database
    # page's next row glued to its last column: "x@example.fi0"), a letter does not, nor
    # digits that go on into a word or an address ("%40sanna.heikkila955@example.fi").
    rf"(?P<domain>{_LABEL}(?:{_DOT}{_LABEL})*{_DOT}[a-z]{{2,24}})"
    r"(?![^\W\d]|-|\d+(?:[^\W\d]|[.%+'@-]))",
    re.IGNORECASE,
)
_DOT_RE = re.compile(_DOT, re.IGNORECASE)
_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-'")
_MAX_LOCAL = 64
_LOCAL_RUN = re.compile(r"[a-zA-Z0-9._%+'-]{0," + str(_MAX_LOCAL) + "}")  # _LOCAL_CHARS
_FULL = re.compile(r"^[^@\s]{1,64}@" + rf"{_LABEL}(?:\.{_LABEL})*\.[a-z]{{2,24}}$", re.IGNORECASE)


def compact(address: str) -> str:
    text = normalize(address).text.strip()
    m = re.fullmatch(r"(?P<local>\S+?)" + _AT_DOMAIN.pattern, text, re.IGNORECASE)
    if m:
        text = m.group("local") + "@" + _DOT_RE.sub(".", m.group("domain"))
    return text.lower()


def validate(address: str) -> str:
    """Canonical form, or a stdnum `InvalidFormat` (which never holds the value)."""
    value = compact(address)
    if not _FULL.match(value):
        raise InvalidFormat()
    local = value.split("@", 1)[0]
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidFormat()
    return value


canonical = validate


is_valid = validity_check(validate)


def _anchors(text: str) -> list[int]:
    found = []
    i = text.find("@")
    while i >= 0:
        found.append(i)
        i = text.find("@", i + 1)
    return sorted(set(found + _anchors_spelled(text)))


def find(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, canonical) of every e-mail address in normalised `text`."""
    last_end = -1
    for a in _anchors(text):
        if a < last_end:
            continue
        m = _match_anchor(text, a)
        if m is not None:
            last_end = m[1]
            yield m


def _match_anchor(text: str, a: int) -> tuple[int, int, str] | None:
    """The address around the anchor at `a` ("@", "[at]", " at " ...), if any."""
    # The local part ends at the anchor, maybe after some spaces ("x [at] y").
    j = a
    while j > 0 and j > a - 8 and text[j - 1] in " \t":
        j -= 1
    if j < a and text[a] == "@":
        return None  # "x @ y" with spaces around a bare @ is not taken as an address
    k = j
    while k > 0 and j - k < _MAX_LOCAL and text[k - 1] in _LOCAL_CHARS:
        k -= 1
    if k == j or (k > 0 and (text[k - 1] in _LOCAL_CHARS or text[k - 1].isalnum())):
        return None
    return _address(text, k, j)


def _address(text: str, k: int, j: int) -> tuple[int, int, str] | None:
    """The address whose local part is `text[k:j]` (dots and quotes at its ends dropped)
    and whose anchor and domain follow at `j`, if there is one."""
    local = text[k:j].strip(".'")
    k += text[k:j].index(local) if local else 0
    if not local:
        return None
    m = _AT_DOMAIN.match(text, j)
    if not m:
        return None
    value = f"{local}@{_DOT_RE.sub('.', m.group('domain'))}".lower()
    if not _FULL.match(value) or ".." in local:
        return None
    return k, m.end(), value


# -- vectorised scan path ----------------------------------------------------------------
#
# A dump holds thousands of plain addresses per MB; reading each with the Python
# code above costs ~20 µs. `find_arrays` handles the plain shape ("local@a.b.tld"
# followed by an ordinary character) with numpy over fixed windows around every
# "@", and hands everything unusual (spaces after "@", "[dot]" forms, a domain
# the regular expression would cut back, a non-ASCII neighbour) and the spelled-out
# anchors to `_match_anchor`, so both paths give what `find` gives.
#
# With the C extension (`matchers.native`), `_native.email_scan` does the anchor
# work in one pass instead: it reads each "@" the way `_match_anchor` does and
# reports the plain ones with their spans, and it drops the spelled-out anchors
# (hundreds per MB of prose: "... at the end") that no domain can follow, by a
# necessary condition of `_AT_DOMAIN` (a label, then a dot in one of its
# spellings); only the rest go to `_match_anchor`.

_LOCAL_T = np.zeros(256, dtype=bool)
_LOCAL_T[np.frombuffer("".join(sorted(_LOCAL_CHARS)).encode(), np.uint8)] = True
_DOMAIN_T = np.zeros(256, dtype=bool)
_DOMAIN_T[np.frombuffer(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-",
                        np.uint8)] = True
_ALNUM_T = _DOMAIN_T.copy()
_ALNUM_T[[ord("."), ord("-")]] = False
_ALPHA_T = _ALNUM_T.copy()
_ALPHA_T[ord("0") : ord("9") + 1] = False
_SPACE_T = np.zeros(256, dtype=bool)
_SPACE_T[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
# After the domain: these may continue it ("[dot]", " dot ") or make the regex back off.
_SLOW_AFTER = _SPACE_T.copy()
_SLOW_AFTER[[ord("["), ord("("), ord("{"), ord("_")]] = True
_SLOW_AFTER[128:] = True
_DOT_START = np.zeros(256, dtype=bool)
_DOT_START[[ord("["), ord("("), ord("{"), ord("d"), ord("D"), ord("p"), ord("P")]] = True
_DOT_START[128:] = True  # a space of Unicode's may come first (as in C: maybe)
# Window widths: most addresses fit; a longer local part or domain (the run
# fills its window) takes the slow path.
_BEFORE = 26  # local part window
_AFTER = 40  # domain window
_MAX_DOMAIN = 63


def find_arrays(
    codes: np.ndarray, text: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised `find`: (starts, ends, values, lengths) with the canonical values
    as rows of an (n, W) uint8 array (row i: `lengths[i]` bytes, the rest ignored).

    `codes` are the code points of `text` (see `_common.code_points`).
    """
    cp = codes if codes.dtype == np.uint8 else np.minimum(codes, 255).astype(np.uint8)
    lib = native.lib
    if lib is not None:
        # The C scanner sorts the anchors itself (same rules, see `_native.c`).
        sure_b, unsure_b = lib.email_scan(codes)
        sure = np.frombuffer(sure_b, dtype=np.int64).reshape(-1, 3)
        return _assemble(cp, text, sure[:, 0], sure[:, 1], sure[:, 2],
                         np.frombuffer(unsure_b, dtype=np.int64).tolist())
    at = np.flatnonzero(cp == ord("@"))
    padded = np.concatenate((np.zeros(_BEFORE, np.uint8), cp, np.zeros(_AFTER + 8, np.uint8)))
    fast = np.zeros(len(at), dtype=bool)
    slow: list[int] = []
    k = e = at
    if len(at):
        rows = np.arange(len(at))
        wb = padded[(at + 1)[:, None] + np.arange(-_BEFORE, 0) + _BEFORE - 1]  # ..., at-1
        lm = np.take(_LOCAL_T, wb)
        run = np.argmin(lm[:, ::-1], axis=1)  # local chars right before the "@"
        long_local = lm.all(axis=1)
        ok = (run >= 1) | long_local
        # Dots and quotes are stripped from the ends of the local part; a strip
        # at its right end makes the value non-contiguous: slow path.
        col = np.arange(_BEFORE)[None, :]
        inrun = col >= _BEFORE - run[:, None]
        keep_char = inrun & (wb != ord(".")) & (wb != ord("'"))
        lead = np.argmax(keep_char, axis=1)
        k = at - _BEFORE + lead
        ok &= keep_char.any(axis=1) | long_local  # a long one: the slow path reads it
        tail_strip = ~keep_char[:, -1]
        dots = (wb[:, 1:] == ord(".")) & (wb[:, :-1] == ord(".")) & inrun[:, :-1]
        dots_bad = (dots & (col[:, 1:] > lead[:, None])).any(axis=1)
        before_local = wb[rows, np.maximum(_BEFORE - run - 1, 0)]

        wa = padded[(at + _BEFORE + 1)[:, None] + np.arange(_AFTER)]
        cola = np.arange(_AFTER)[None, :]
        dm = np.take(_DOMAIN_T, wa)
        dlen = np.argmin(dm, axis=1)
        long_domain = dm.all(axis=1) | (dlen > _MAX_DOMAIN)
        term = wa[rows, dlen]
        last = wa[rows, np.maximum(dlen - 1, 0)]
        trailing_dot = (last == ord(".")) & (dlen > 1)
        dl = dlen - trailing_dot
        lastc = wa[rows, np.maximum(dl - 1, 0)]
        # The top-level label: after the last non-letter of the domain, which must be a dot.
        nonalpha = ~np.take(_ALPHA_T, wa) & (cola < dl[:, None])
        lastdot = _AFTER - 1 - np.argmax(nonalpha[:, ::-1], axis=1)
        lastdot[~nonalpha.any(axis=1)] = -1
        tld_alpha = wa[rows, np.maximum(lastdot, 0)] == ord(".")
        inside = cola[:, :-1] < (dl[:, None] - 1)
        a0, a1 = wa[:, :-1], wa[:, 1:]
        bad_pair = ((a0 == ord(".")) & ((a1 == ord(".")) | (a1 == ord("-"))))
        bad_pair |= (a0 == ord("-")) & (a1 == ord("."))
        bad_pair = (bad_pair & inside).any(axis=1)
        tld_len = dl - lastdot - 1
        shape_ok = (
            _ALNUM_T[wa[:, 0]] & _ALPHA_T[lastc] & (lastdot > 0) & ~bad_pair
            & tld_alpha & (tld_len >= 2) & (tld_len <= 24)
        )
        # A space after the domain only matters when "dot" / "[" may follow it.
        after_space = wa[rows, np.minimum(dlen + 1, _AFTER - 1)]
        term_slow = _SLOW_AFTER[term] & ~(_SPACE_T[term] & ~_DOT_START[after_space]
                                          & ~_SPACE_T[after_space])
        unusual = (
            long_domain | trailing_dot & (wa[rows, np.maximum(dlen - 2, 0)] == ord("."))
            | (_SPACE_T[wa[:, 0]]) | (~shape_ok & (dlen > 0) & _ALNUM_T[wa[:, 0]])
            | term_slow | tail_strip | (before_local >= 128) | long_local
        )
        fast = ok & shape_ok & ~unusual & ~dots_bad
        slow = at[ok & unusual].tolist()
        e = at + 1 + dl
    return _assemble(cp, text, at[fast], k[fast], e[fast],
                     sorted(set(slow + _anchors_spelled(text))))


def _assemble(
    cp: np.ndarray, text: str, fast_at: np.ndarray, starts: np.ndarray, ends: np.ndarray,
    others: list[int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`find_arrays`'s result from the plain addresses (anchors `fast_at`, spans
    `starts`:`ends` of `cp`) and the anchors `others` (sorted) to read one by one."""
    lengths = ends - starts
    # Rows as wide as the longest value; bytes past a row's length are ignored.
    width = int(lengths.max()) if len(lengths) else 1
    lib = native.lib
    if lib is not None and len(starts):  # the same rows, made and lower-cased in one pass
        values = np.frombuffer(lib.lower_rows(np.ascontiguousarray(cp),
                                              np.ascontiguousarray(starts, np.int64),
                                              width), np.uint8).reshape(-1, width)
    else:
        values = rows_at(cp, starts, width)
        values += ((values - ord("A")) < 26).astype(np.uint8) * 32  # lower-case
    # Spelled-out anchors and the unusual "@"s, one by one.
    if others:
        found = [(a, m) for a in others if (m := _match_anchor(text, a))]
        if found:
            # Merge in anchor order; an anchor inside an earlier address is none (as in `find`).
            merged = sorted(
                [(int(a), i, None) for i, a in enumerate(fast_at.tolist())]
                + [(a, -1, m) for a, m in found]
            )
            sel, extra, last_end = [], [], -1
            for a, i, m in merged:
                if a < last_end:
                    continue
                if m is None:
                    sel.append(i)
                    last_end = int(ends[i])
                else:
                    extra.append(m)
                    last_end = m[1]
            idx = np.asarray(sel, dtype=np.int64)
            starts, ends, values, lengths = _with_rows(
                starts[idx], ends[idx], values[idx], lengths[idx], extra)
    return starts.astype(np.int64), ends.astype(np.int64), values, lengths.astype(np.int64)


def _with_rows(
    starts: np.ndarray, ends: np.ndarray, values: np.ndarray, lengths: np.ndarray,
    extra: list[tuple[int, int, str]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`find_arrays`'s columns with the addresses `extra` (start, end, value) added, in
    text order."""
    if not extra:
        return starts, ends, values, lengths
    enc = [m[2].encode("utf-8") for m in extra]
    width = max(values.shape[1], *map(len, enc))
    v2 = np.zeros((len(extra), width), np.uint8)
    for i, b in enumerate(enc):
        v2[i, : len(b)] = np.frombuffer(b, np.uint8)
    values = np.pad(values, ((0, 0), (0, width - values.shape[1])))
    starts = np.concatenate((starts, [m[0] for m in extra]))
    ends = np.concatenate((ends, [m[1] for m in extra]))
    values = np.concatenate((values, v2))
    lengths = np.concatenate((lengths, [len(b) for b in enc]))
    order = np.argsort(starts, kind="stable")
    return starts[order], ends[order], values[order], lengths[order]


def without_tags(
    found: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`found` (`find_arrays`'s columns), and each address with a sub-address tag read
    without it as well: "matti+vuoto@example.fi" reaches matti@example.fi's mailbox (at
    Gmail, Outlook, iCloud, Proton, Fastmail and most mail servers), and a leaked user
    table holds the address as it was typed at sign-up. Same span: the written address."""
    starts, ends, values, lengths = found
    if not len(starts):
        return found
    # One pass over the rows: the "+"s in them, of which those past a row's length are
    # not its own (the text after it: ";+358...").
    row, col = np.divmod(np.flatnonzero(values == ord("+")), values.shape[1])
    extra = []
    for r in np.unique(row[col < lengths[row]]).tolist():  # few
        value = values[r, : lengths[r]].tobytes()
        at = value.find(b"@")
        plus = value.find(b"+")
        if 0 < plus < at:
            extra.append((int(starts[r]), int(ends[r]),
                          (value[:plus] + value[at:]).decode("utf-8")))
    return _with_rows(*found, extra)


def after_codes(
    codes: np.ndarray, text: str, code_ends: np.ndarray,
    found: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`found` (`find_arrays` of `codes`/`text`) and the addresses glued to an identity
    code's end (`code_ends`: of the valid codes in `text`, `hetu.find_with_run_on`).

    In a packed row (a fixed-width export, a database page's strings) the code column
    runs into the e-mail column: "Lehtonen131052-308Tmatti@example.fi". `find` reads
    "lehtonen131052-308tmatti@example.fi", nobody's, or nothing at all when a letter it
    cannot read comes before ("Väisänen131052-..."). A code's check character says
    where it ends, so the address after it is read too. Only after a code: a name or a
    number before an address ("xyz2laura@") may as well be part of it.
    """
    n = len(text)
    ends = code_ends[code_ends < n]
    # few: the codes a letter follows (an address glued to a code begins with one; a
    # digit after a code is a numeric field's, and "." or "'" begins no local part)
    ends = ends[np.take(_ALPHA_T, np.minimum(codes[ends], 255))]
    extra = []
    for c in ends.tolist():
        j = _LOCAL_RUN.match(text, c).end()  # type: ignore[union-attr]  # (matches "")
        a = j  # the anchor: at once, or after spaces when it is no bare "@" (as in find)
        while a < n and a < j + 8 and text[a] in " \t":
            a += 1
        if (j < n and text[j] in _LOCAL_CHARS) or (a < n and a > j and text[a] == "@"):
            continue
        m = _address(text, c, j)
        if m is not None:
            extra.append(m)
    return _with_rows(*found, extra)


def _anchors_spelled(text: str) -> list[int]:
    """Positions of the spelled-out, defanged and percent-encoded anchors: " at " and
    " ät " in any case, "%40", and "[at]", "(AT)", "[ at ]", "[@]", "{ät}" ... (`_bracketed`).

    The bracketed ones are found from their first character (a single-character
    search is much faster than a four-character one).
    """
    found = []
    for opener in "[({":
        i = text.find(opener)
        while i >= 0:
            if _bracketed(text, i):
                found.append(i)
            i = text.find(opener, i + 1)
    for word in (" at ", " AT ", " At ", " aT ", " ät ", " ÄT ", " Ät ", " äT ", "%40"):
        i = text.find(word)
        while i >= 0:
            found.append(i)
            i = text.find(word, i + 1)
    return found


def _bracketed(text: str, i: int) -> bool:
    """Is text[i] ("[", "(" or "{") the start of an anchor: "at" or "ät" in any case, or
    "@", with up to two spaces either side, and the matching bracket (as `_native.c`
    email_at_pos)?"""
    close = _CLOSE[text[i]]
    q = _spaces(text, i + 1)
    if text[q : q + 1] == "@":
        q += 1
    elif text[q : q + 1] in ("a", "A", "ä", "Ä") and text[q + 1 : q + 2] in ("t", "T"):
        q += 2
    else:
        return False
    q = _spaces(text, q)
    return text[q : q + 1] == close


_CLOSE = {"[": "]", "(": ")", "{": "}"}


def _spaces(text: str, q: int) -> int:
    """Past up to two spaces at q."""
    for _ in range(2):
        if text[q : q + 1] == " ":
            q += 1
    return q
