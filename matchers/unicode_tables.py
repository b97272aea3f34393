"""Which characters `normalize` changes, and which are combining marks: shipped precomputed.

Computing them asks `unicodedata` about every code point (about 0.1 s: NFKC of the
65,536 BMP characters, the combining class of all 1,114,112), and every scan process
needs them before it reads its first byte. They depend only on the Unicode database
of the running Python, so they are computed once, when the package is made, and
shipped in `unicode_tables.json` with the `unicodedata.unidata_version` they come
from. A Python with another Unicode version (or a missing or damaged file) computes
them as before: the result is always the one of the running Python.

Regenerate after changing what counts as special (`EXTRA_DASHES`, `is_special`) or
moving to another Python version (the unit test fails until then):

    python -m vahti.matchers.unicode_tables        (or: make unicode-tables)
"""

from __future__ import annotations

import functools
import json
import re
import sys
import unicodedata
from pathlib import Path

SHIPPED = Path(__file__).with_name("unicode_tables.json")
FORMAT = 1  # bumped when the file's layout changes

# Minus signs that are not in category Pd.
EXTRA_DASHES = "\u2212\u2796\u02d7\u2043\ufe63\uff0d\u207b\u208b"

Ranges = tuple[tuple[int, int], ...]  # inclusive code point ranges, sorted


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


def compute() -> dict:
    """The tables of the running Python (about 0.1 s)."""
    special = bytes(map(is_special, map(chr, range(0x80, 0x10000))))
    combining = bytes(map(unicodedata.combining, map(chr, range(0x110000))))
    return {"format": FORMAT, "unidata_version": unicodedata.unidata_version,
            "special_bmp": _ranges(special, 0x80), "combining": _ranges(combining)}


def read(path: Path) -> dict | None:
    """The tables in `path` when they were built for this Python's Unicode version,
    else None."""
    try:
        data = json.loads(path.read_text(encoding="ascii"))
        if (data.get("format") != FORMAT
                or data.get("unidata_version") != unicodedata.unidata_version):
            return None
        return {**data, "special_bmp": _checked(data["special_bmp"]),
                "combining": _checked(data["combining"])}
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


def write(path: Path = SHIPPED) -> dict:
    """Compute the tables and write them to `path` (the shipped file by default)."""
    data = compute()
    path.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="ascii")
    return data


if __name__ == "__main__":  # (silent: matchers/ prints nothing, see vahti.display)
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else SHIPPED)
