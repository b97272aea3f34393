"""Danish CPR number: DDMMYY-SSSS.

Since 2007 CPR numbers carry no usable check digit, so validation is the date
(python-stdnum, with the century from the 7th digit) and not in the future.
Canonical form: the 10 digits, without the dash.
"""

from __future__ import annotations

from collections.abc import Iterator

from stdnum.dk import cpr as _dk

from ..normalize import normalize
from ._common import DigitRuns, validity_check
from ._numeric import find_numeric, runs_of

ID_TYPE = "cpr"


def compact(number: str) -> str:
    return _dk.compact("".join(normalize(number).text.split()))


def validate(number: str) -> str:
    """Canonical 10-digit form, or a stdnum `ValidationError`."""
    return _dk.validate(compact(number))


canonical = validate


is_valid = validity_check(validate)


def find(text: str, runs: DigitRuns | None = None) -> Iterator[tuple[int, int, str]]:
    """(start, end, canonical) of every valid CPR number in normalised `text`."""
    r = runs if runs is not None else runs_of(text)
    # A token of its own, never glued: no check digit tells it from an invoice number.
    return find_numeric(text, r, [(6, "-", (4,))], (10,), validate)
