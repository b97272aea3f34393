"""Customer / patient numbers of the data controller's own systems.

Their shape comes from configuration as a regular expression (e.g.
``ASIAKAS-\\d{6}`` or ``[A-Z]{2}\\d{8}``), matched case-insensitively as a
whole token. Canonical form: stripped and upper-cased.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator

from stdnum.exceptions import InvalidFormat, ValidationError

from ..normalize import normalize
from ._common import BOUNDARY_AFTER, BOUNDARY_BEFORE

ID_TYPE = "customer_id"


@functools.lru_cache(maxsize=32)
def _compiled(pattern: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    try:
        full = re.compile(pattern, re.IGNORECASE)
        search = re.compile(BOUNDARY_BEFORE + f"(?:{pattern})" + BOUNDARY_AFTER, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"customer_id pattern is not a valid regular expression: {exc}") from None
    return full, search


def compact(value: str) -> str:
    return normalize(value).text.strip().upper()


def validate(value: str, pattern: str) -> str:
    """Canonical form, or a stdnum `InvalidFormat` (which never holds the value)."""
    value = compact(value)
    if not _compiled(pattern)[0].fullmatch(value):
        raise InvalidFormat()
    return value


def canonical(value: str, pattern: str) -> str:
    return validate(value, pattern)


def is_valid(value: str, pattern: str) -> bool:
    try:
        validate(value, pattern)
    except ValidationError:
        return False
    return True


def find(text: str, pattern: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, canonical) of every whole-token match of `pattern` in `text`."""
    for m in _compiled(pattern)[1].finditer(text):
        if m.end() > m.start():
            yield m.start(), m.end(), m.group().strip().upper()


# Literal characters a suggested pattern may hold as they are; other punctuation goes in
# a class ("[.]"), so the pattern has no backslash and pastes into a TOML string as is.
_PLAIN = frozenset("-_/:#@ ,;")
_CLASS_SAFE = frozenset(".+*?()[{}|$&=~!%'<>")


def infer_pattern(values: Iterable[str]) -> tuple[str | None, int]:
    """A pattern for customer numbers of one shape, from letter/digit runs and lengths only.

    Returns (pattern, number of shapes): "AB123456" and "cd654321" give
    ("[A-Z]{2}[0-9]{6}", 1); lengths that vary widen the count ("[0-9]{4,6}").
    Values of different shapes (or with letters beyond ASCII) give (None, shapes).
    The pattern holds no character of any value except separators.
    """
    shapes: dict[tuple[str, ...], list[list[int]]] = {}
    for value in values:
        value = value.strip()
        if not value:
            continue
        skeleton, lengths = _shape(value)
        if skeleton is None:
            return None, max(len(shapes), 2)
        shapes.setdefault(skeleton, []).append(lengths)
    if len(shapes) != 1:
        return None, len(shapes)
    ((skeleton, all_lengths),) = shapes.items()
    parts = []
    for kind, lengths in zip(skeleton, zip(*all_lengths, strict=True), strict=True):
        lo, hi = min(lengths), max(lengths)
        count = "" if lo == hi == 1 else f"{{{lo}}}" if lo == hi else f"{{{lo},{hi}}}"
        parts.append({"L": "[A-Z]" + count, "D": "[0-9]" + count}.get(kind, kind))
    return "".join(parts), 1


def _shape(value: str) -> tuple[tuple[str, ...] | None, list[int]]:
    """("L", "D", "-"), [3, 6] for "ASI-123456"; (None, []) for what no class covers."""
    skeleton: list[str] = []
    lengths: list[int] = []
    for m in _RUN.finditer(value):
        run = m.group()
        if run[0].isascii() and run[0].isalpha():
            kind = "L"
        elif run[0].isascii() and run[0].isdigit():
            kind = "D"
        elif run in _PLAIN:
            kind = run
        elif run in _CLASS_SAFE:
            kind = f"[{run}]"
        else:
            return None, []
        skeleton.append(kind)
        lengths.append(len(run) if kind in ("L", "D") else 1)
    return tuple(skeleton), lengths


# ASCII letter runs, ASCII digit runs, or any single other character
_RUN = re.compile(r"[A-Za-z]+|[0-9]+|.", re.DOTALL)
