"""HETU, the Finnish personal identity code (henkilötunnus): DDMMYY C NNN Q.

C is the century sign: ``+`` (1800s), ``-`` and since 2023 ``Y X W V U``
(1900s), ``A`` and since 2023 ``B C D E F`` (2000s). Q is the check character
``"0123456789ABCDEFHJKLMNPRSTUVWXY"[DDMMYYNNN % 31]``. Individual numbers
900-999 are temporary codes (used in health care), and they are accepted: a
clinic's register may hold them.

Canonical form: upper case as issued, century sign kept (``131052-308T``).

`find` works on an array of code points with numpy (no per-character Python),
because it is the hot path of every scan: digit runs of exactly six, followed
by a century sign, three digits and a check character, validated (date and
check character) for all candidates at once. A date part followed by spaces
or a line break around the sign is handed to a regular expression. When the C
extension is built (`matchers.native`), one C pass finds and validates the
candidates instead; the numpy code is the fallback and gives the same result.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, ValidationError
from stdnum.fi import hetu as _stdnum_hetu

from .. import native
from ..normalize import normalize
from ._common import (
    PAD_BEFORE,
    DigitRuns,
    ascii_table,
    code_points,
    validity_check,
)

ID_TYPE = "hetu"
CHECK_CHARS = "0123456789ABCDEFHJKLMNPRSTUVWXY"
CENTURIES = {"+": 1800, "-": 1900, "A": 2000}
CENTURIES.update(dict.fromkeys("YXWVU", 1900))
CENTURIES.update(dict.fromkeys("BCDEF", 2000))
# The classic sign of each century: older python-stdnum releases (before the
# 2023 signs) validate a code with its sign replaced by this one.
_CLASSIC_SIGN = {s: {1800: "+", 1900: "-", 2000: "A"}[c] for s, c in CENTURIES.items()}

__all__ = ["ID_TYPE", "compact", "validate", "is_valid", "canonical", "find", "find_arrays",
           "find_with_run_on"]


def compact(number: str) -> str:
    """Normalise (dashes, full-width, entities), drop whitespace, upper-case."""
    text = normalize(number).text
    return "".join(text.split()).upper()


def validate(number: str) -> str:
    """The canonical HETU, or a stdnum `ValidationError` (which never holds the value)."""
    number = compact(number)
    if len(number) != 11 or number[6] not in CENTURIES:
        raise InvalidFormat()
    classic = number[:6] + _CLASSIC_SIGN[number[6]] + number[7:]
    _stdnum_hetu.validate(classic, allow_temporary=True)
    return number


canonical = validate


is_valid = validity_check(validate)


# Where a code is read. Other identifiers want a token of their own (`_common`'s
# BOUNDARY_*), but a code's own characters set it apart: a run of exactly six digits, a
# sign, three digits and a check character that must agree with the nine digits. So
# letters and punctuation glued to it do not hide it, as a fixed-width export writes it
# when a full name field runs into the code field ("Lehtonen131052-308T"), or a packed
# row its next column ("131052-308Tmatti@..."). Digits do: inside a longer run of them,
# where a code begins is not known. A digit check character must end its run too (else
# the code is run-on: `find_with_run_on`); a letter one ends the code by itself
# ("131052-308T1990" is a code and a year).
_NOT_AFTER_DIGIT = r"(?<![0-9])"
_CHECK_THEN_END = r"(?:[0-9](?![0-9])|[A-Ya-y])"

_LOOSE_RE = re.compile(
    _NOT_AFTER_DIGIT
    + r"([0-9]{6})[ \t]*(?:\r?\n[ \t]*)?([-+A-FU-Ya-fu-y])[ \t]*(?:\r?\n[ \t]*)?"
    + r"([0-9]{3}" + _CHECK_THEN_END + ")"
)

_SIGN = ascii_table("-+ABCDEFUVWXYabcdefuvwxy")
_CHECK_ANYCASE = ascii_table(CHECK_CHARS + CHECK_CHARS[10:].lower())
_SPACE = ascii_table(" \t\r\n")
_CENTURY_OF = np.zeros(256, dtype=np.int32)
for _s, _c in CENTURIES.items():
    _CENTURY_OF[ord(_s)] = _c
_CHECK_CODE = np.frombuffer(CHECK_CHARS.encode(), dtype=np.uint8)
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 0, 0, 0], dtype=np.int32)


def find(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, canonical) of every valid HETU in (normalised) `text`."""
    starts, ends, canon = find_arrays(None, text)
    for s, e, row in zip(starts.tolist(), ends.tolist(), canon, strict=True):
        yield s, e, row.tobytes().decode("ascii")


def find_arrays(
    codes: np.ndarray | None, text: str, runs: DigitRuns | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised `find`: start and end offsets and an (n, 11) uint8 array of canonical
    codes (`find_with_run_on`'s codes that are not run-on)."""
    starts, ends, canon, run_on = find_with_run_on(codes, text, runs)
    if run_on.any():
        keep = ~run_on
        return starts[keep], ends[keep], canon[keep]
    return starts, ends, canon


Found = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def find_with_run_on(codes: np.ndarray | None, text: str, runs: DigitRuns | None = None
                     ) -> Found:
    """`find_arrays`, and the run-on codes with them: (starts, ends, canon, run_on).

    A run-on code has a digit check character followed by a digit (`010101-10201`):
    where it ends is known only if it is one. A fixed-width export whose numeric field
    follows the always-full code field writes every such code so (10 in 31 codes), and
    so does a date-prefixed serial number (`261204-00112345`) that is no code. The scan
    reports a run-on code only when its finding is corroborated: the person's name,
    birth date or another identifier beside it (`engine.Scanner._score`).

    `codes` are the code points of `text` (see `code_points`), or None: the C
    scanner then reads `text` where it lies (without it they are made here).
    `text` is otherwise only read where a date part is followed by whitespace (the
    rare loose form). `runs` may be passed in when the caller already computed them.
    """
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 11), np.uint8),
             np.zeros(0, bool))
    n = len(codes) if codes is not None else len(text)
    if n < 11:
        if n and text.strip():
            return _validated(*_loose(text, np.zeros(0, np.int64), empty))
        return empty
    lib = native.lib
    if lib is not None:
        return _find_native(lib, codes if codes is not None else text, text)
    r = runs if runs is not None else DigitRuns(codes if codes is not None else code_points(text))
    q = r.six_ends  # padded index of the char after the date
    if not len(q):
        return empty
    p = q - 6  # a run of exactly six digits: no digit before it (see _NOT_AFTER_DIGIT)
    c_sign = r.at(q)
    tight = (
        _SIGN[c_sign]
        & r.dig[q + 1]
        & r.dig[q + 2]
        & r.dig[q + 3]
        & _CHECK_ANYCASE[r.at(q + 4)]
    )
    loose = ~tight & (_SPACE[c_sign] | (_SIGN[c_sign] & _SPACE[r.at(q + 1)]))
    if loose.any():
        # Numbers followed by a space are common; only those whose first
        # non-space character (within 4) is a century sign go to the regex.
        ql = q[loose]
        window = np.take(r.cp, ql[:, None] + np.arange(5))
        first = np.argmax(~_SPACE[window], axis=1)
        loose[loose] = _SIGN[window[np.arange(len(ql)), first]]
    pt, qt = p[tight], q[tight]
    canon = np.take(r.cp, pt[:, None] + np.arange(11))
    found = (pt - PAD_BEFORE, pt - PAD_BEFORE + 11, canon, r.dig[qt + 4] & r.dig[qt + 5])
    if loose.any():
        found = _loose(text, p[loose] - PAD_BEFORE, found)
    return _validated(*found)


def _find_native(lib, codes: np.ndarray | str, text: str) -> Found:  # noqa: ANN001
    """`find_with_run_on` with the C scanner (of `codes`, or of the str itself): it
    finds and validates the tight form (in text order); the loose candidates it reports
    go to the regex here."""
    s_b, canon_b, loose_b, runon_b = lib.hetu_find(codes)
    starts = np.frombuffer(s_b, dtype=np.int64)
    canon = np.frombuffer(canon_b, dtype=np.uint8).reshape(-1, 11)
    run_on = np.zeros(len(starts), dtype=bool)
    run_on[np.frombuffer(runon_b, dtype=np.int64)] = True
    found = (starts, starts + 11, canon, run_on)
    if not loose_b:
        return found
    return _validated(*_loose(text, np.frombuffer(loose_b, dtype=np.int64), found))


def _loose(text: str, positions: np.ndarray, found: Found) -> Found:
    """Add the loose-form matches at `positions` (or anywhere, for tiny texts) to `found`
    (none of them run-on: `_CHECK_THEN_END`)."""
    starts, ends, rows = [], [], []
    matches = (
        (_LOOSE_RE.match(text, pos) for pos in positions.tolist())
        if len(positions)
        else _LOOSE_RE.finditer(text)
    )
    for m in matches:
        if m is None:
            continue
        starts.append(m.start())
        ends.append(m.end())
        rows.append((m.group(1) + m.group(2) + m.group(3)).encode("ascii"))
    if not rows:
        return found
    extra = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(-1, 11)
    return (
        np.concatenate((found[0], np.asarray(starts, np.int64))),
        np.concatenate((found[1], np.asarray(ends, np.int64))),
        np.concatenate((found[2], extra)),
        np.concatenate((found[3], np.zeros(len(rows), bool))),
    )


def _validated(starts: np.ndarray, ends: np.ndarray, canon: np.ndarray, run_on: np.ndarray
               ) -> Found:
    """Keep the candidates with a real date, individual number >= 2 and the right check char."""
    if not len(canon):
        return starts, ends, canon, run_on
    lower = (canon >= 97) & (canon <= 122)
    canon = canon - (lower * 32).astype(np.uint8)
    d = canon.astype(np.int64) - 48
    day = d[:, 0] * 10 + d[:, 1]
    month = d[:, 2] * 10 + d[:, 3]
    yy = d[:, 4] * 10 + d[:, 5]
    ind = d[:, 7] * 100 + d[:, 8] * 10 + d[:, 9]
    century = _CENTURY_OF[canon[:, 6]]
    year = century + yy
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    mdays = _MONTH_DAYS[np.clip(month, 0, 15)] + ((month == 2) & leap)
    number = ((day * 100 + month) * 100 + yy) * 1000 + ind
    ok = (
        (century > 0)
        & (month >= 1)
        & (month <= 12)
        & (day >= 1)
        & (day <= mdays)
        & (ind >= 2)
        & (_CHECK_CODE[number % 31] == canon[:, 10])
    )
    if not ok.all():
        starts, ends, canon, run_on = starts[ok], ends[ok], canon[ok], run_on[ok]
    order = np.argsort(starts, kind="stable")
    return starts[order], ends[order], canon[order], run_on[order]


# Re-exported so callers can catch the one base class.
__all__ += ["ValidationError", "InvalidChecksum", "InvalidComponent", "InvalidFormat"]
