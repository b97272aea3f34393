"""Swedish personnummer (and samordningsnummer): [CC]YYMMDD[-+]NNNN, Luhn-checked.

Canonical form: 12 digits, YYYYMMDDNNNN. A 10-digit form gets its century
from python-stdnum (``+`` means 100 years or older), so the short and the long
way of writing a number digest the same.
"""

from __future__ import annotations

from collections.abc import Iterator

from stdnum.exceptions import InvalidFormat
from stdnum.se import personnummer as _se

from ..normalize import normalize
from ._common import DigitRuns, validity_check
from ._numeric import find_numeric, runs_of

ID_TYPE = "personnummer"


def compact(number: str) -> str:
    return _se.compact("".join(normalize(number).text.split()))


def validate(number: str) -> str:
    """Canonical 12-digit form, or a stdnum `ValidationError`."""
    number = _se.validate(compact(number))
    if len(number) == 13:
        return number[:8] + number[9:]
    birth = _se.get_birth_date(number)
    if not number[:6].isdigit():
        raise InvalidFormat()
    return f"{birth.year // 100:02d}{number[:6]}{number[7:]}"


canonical = validate


is_valid = validity_check(validate)


def find(text: str, runs: DigitRuns | None = None) -> Iterator[tuple[int, int, str]]:
    """(start, end, canonical) of every valid personnummer in normalised `text`."""
    r = runs if runs is not None else runs_of(text)
    # Glued to letters only as written with its "-" or "+": a bare run of 10 or 12
    # digits with one Luhn digit is an order or product number as often as not.
    return find_numeric(text, r, [(6, "-+", (4,)), (8, "-+", (4,))], (10, 12), validate,
                        glued=("shapes",))
