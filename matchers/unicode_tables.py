"""Which characters `normalize` changes, which are combining marks, and the unit of every
BMP character in a record fragment's tokens: shipped precomputed.

Computing them asks `unicodedata` about every code point (about 0.1 s: NFKC of the
65,536 BMP characters, the combining class of all 1,114,112; and 0.07-0.1 s more for
the fragment units: NFKC and casefold of each BMP character, `fragments.bmp_units`),
and every scan process needs them before it reads its first byte (`vahti scan` of a
one-line file, every type: 0.25 s with the fragment units read, 0.30 s built).
They depend only on the Unicode database of the running Python, so they are computed
once, when the package is made, and shipped in `unicode_tables.json` with the
`unicodedata.unidata_version` they come from. A Python with another Unicode version
(or a missing or damaged file) computes them as before: the result is always the one
of the running Python.

Regenerate after changing what counts as special (`EXTRA_DASHES`, `is_special`) or
a fragment token's units (`fragments._entry`), or moving to another Python version
(the unit test fails until then):

    python -m vahti.matchers.unicode_tables        (or: make unicode-tables)
"""

from __future__ import annotations

import functools
import json
import re
import sys
import unicodedata
from pathlib import Path

import numpy as np

SHIPPED = Path(__file__).with_name("unicode_tables.json")
FORMAT = 2  # bumped when the file's layout changes

# Minus signs that are not in category Pd.
EXTRA_DASHES = "\u2212\u2796\u02d7\u2043\ufe63\uff0d\u207b\u208b"

Ranges = tuple[tuple[int, int], ...]  # inclusive code point ranges, sorted

# The fragment units (one per BMP code point, `fragments._tables`) as runs: a flat
# (start, value, start, value, ...), each run up to the next start. A value of at least
# _CLASS is the unit class (value - _CLASS: fragments._SEP, _JOIN, _IGN, _COMPLEX), any
# other the distance from the code point to its unit (0 for most characters; a case
# fold is the same distance along a run of letters): 3,600 runs for 65,536 units.
BMP = 0x10000
_CLASS = 0x10000
_CLASSES = 4


def is_special(ch: str) -> bool:
    """Does normalisation change this (non-ASCII, BMP) character, or may it change the
    character before it (a combining mark)?"""
    cat = unicodedata.category(ch)
    if cat == "Cs":
        return False
    return (cat in ("Cf", "Pd") or ch in EXTRA_DASHES or unicodedata.combining(ch) != 0
            or unicodedata.normalize("NFKC", ch) != ch)


def _ranges(flags: bytes, first: int = 0) -> Ranges:
    """The runs of non-zero bytes in `flags` (byte i is code point first + i)."""
    return tuple((first + m.start(), first + m.end() - 1)
                 for m in re.finditer(rb"[^\x00]+", flags))


def unit_runs(units: np.ndarray) -> tuple[int, ...]:
    """The fragment units (one per BMP code point) as runs (see `_CLASS`)."""
    cp = np.arange(BMP, dtype=np.int64)
    units = units.astype(np.int64)
    value = np.where(units < _CLASSES, units + _CLASS, units - cp)
    starts = np.flatnonzero(np.diff(value, prepend=value[0] - 1))
    return tuple(np.column_stack((starts, value[starts])).ravel().tolist())


def units_of(runs: tuple[int, ...]) -> np.ndarray:
    """The fragment units (uint32, one per BMP code point) the runs give; ValueError
    when they are not runs over the BMP or give a unit beyond it."""
    # every start and value lies in [-BMP, _CLASS + _CLASSES): no int64 overflows below
    if not all(type(x) is int and -BMP <= x < _CLASS + _CLASSES for x in runs):
        raise ValueError("not whole numbers in range")
    flat = np.asarray(runs, dtype=np.int64)
    if len(flat) % 2 or not len(flat):
        raise ValueError("not (start, value) pairs")
    starts, values = flat[0::2], flat[1::2]
    if starts[0] != 0 or starts[-1] >= BMP or np.any(np.diff(starts) <= 0):
        raise ValueError("runs that do not cover the BMP in order")
    value = np.repeat(values, np.diff(starts, append=BMP))
    units = np.where(value >= _CLASS, value - _CLASS, np.arange(BMP) + value)
    word = value < _CLASS
    if (np.any(value >= _CLASS + _CLASSES) or np.any(units[word] < _CLASSES)
            or np.any(units >= BMP)):
        raise ValueError("a unit out of bounds")
    return units.astype(np.uint32)


def compute() -> dict:
    """The tables of the running Python (about 0.2 s)."""
    from .fragments import bmp_units  # here: fragments reads these tables

    special = bytes(map(is_special, map(chr, range(0x80, 0x10000))))
    combining = bytes(map(unicodedata.combining, map(chr, range(0x110000))))
    return {"format": FORMAT, "unidata_version": unicodedata.unidata_version,
            "special_bmp": _ranges(special, 0x80), "combining": _ranges(combining),
            "fragment_units": unit_runs(bmp_units())}


def read(path: Path) -> dict | None:
    """The tables in `path` when they were built for this Python's Unicode version,
    else None."""
    try:
        data = json.loads(path.read_text(encoding="ascii"))
        if (data.get("format") != FORMAT
                or data.get("unidata_version") != unicodedata.unidata_version):
            return None
        # the fragment units are checked when a fragment scan needs them (`fragment_units`)
        return {**data, "special_bmp": _checked(data["special_bmp"]),
                "combining": _checked(data["combining"]),
                "fragment_units": tuple(data["fragment_units"])}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _checked(ranges: list) -> Ranges:
    out = tuple((int(lo), int(hi)) for lo, hi in ranges)
    if any(not 0 <= lo <= hi <= 0x10FFFF for lo, hi in out):
        raise ValueError("a range out of bounds")
    return out


@functools.cache
def tables() -> dict:
    """The shipped tables, or computed ones when they do not fit this Python."""
    return read(SHIPPED) or compute()


@functools.cache
def fragment_units() -> np.ndarray:
    """The fragment units (`fragments._tables`): the shipped ones, or those of this
    Python's `unicodedata` when the shipped runs do not make a table."""
    try:
        return units_of(tables()["fragment_units"])
    except ValueError:
        from .fragments import bmp_units

        return bmp_units()


def write(path: Path = SHIPPED) -> dict:
    """Compute the tables and write them to `path` (the shipped file by default)."""
    data = compute()
    path.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="ascii")
    return data


if __name__ == "__main__":  # (silent: matchers/ prints nothing, see vahti.display)
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else SHIPPED)
