"""Customer / patient numbers of the data controller's own systems.

Their shape comes from configuration as a regular expression (e.g.
``ASIAKAS-\\d{6}`` or ``[A-Z]{2}\\d{8}``), matched case-insensitively as a
whole token. Canonical form: stripped and upper-cased.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

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
