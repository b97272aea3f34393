"""Birth dates: corroborating evidence only, never a finding on their own.

Canonical form: ISO ``YYYY-MM-DD``. `find` reads ``d.m.yyyy`` (Finnish
style, also ``dd.mm.yyyy``), ``d/m/yyyy`` and ``yyyy-mm-dd``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

from stdnum.exceptions import InvalidComponent, InvalidFormat, ValidationError

from ._common import validity_check

ID_TYPE = "birth_date"
CORROBORATING = True

_DMY = r"(?P<d>[0-3]?\d)\s?[./]\s?(?P<m>[01]?\d)\s?[./]\s?(?P<y>(?:18|19|20)\d\d)"
_YMD = r"(?P<Y>(?:18|19|20)\d\d)-(?P<M>[01]\d)-(?P<D>[0-3]\d)"
_RE = re.compile(rf"(?<![\w.\-/])(?:{_DMY}|{_YMD})(?![\w\-/]|\.\d)")


def canonical(value: str | dt.date) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    m = _RE.fullmatch(value.strip())
    if not m:
        raise InvalidFormat()
    return _iso(m)


validate = canonical
compact = canonical


is_valid = validity_check(canonical)


def _iso(m: re.Match[str]) -> str:
    if m.group("y"):
        y, mo, d = int(m.group("y")), int(m.group("m")), int(m.group("d"))
    else:
        y, mo, d = int(m.group("Y")), int(m.group("M")), int(m.group("D"))
    try:
        return dt.date(y, mo, d).isoformat()
    except ValueError:
        raise InvalidComponent() from None


def find(text: str, pos: int = 0, endpos: int | None = None) -> Iterator[tuple[int, int, str]]:
    """(start, end, canonical) of the dates in ``text[pos:endpos]`` (read as if the
    text ended at `endpos`; the lookbehind sees the character before `pos`)."""
    for m in _RE.finditer(text, pos, len(text) if endpos is None else endpos):
        try:
            yield m.start(), m.end(), _iso(m)
        except ValidationError:
            continue
