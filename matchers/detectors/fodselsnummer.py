"""Norwegian fødselsnummer (and D-/H-numbers): DDMMYYIIICC, two mod-11 check digits.

Canonical form: the 11 digits.
"""

from __future__ import annotations

from collections.abc import Iterator

from stdnum.no import fodselsnummer as _no

from ..normalize import normalize
from ._common import DigitRuns, validity_check
from ._numeric import find_numeric, runs_of

ID_TYPE = "fodselsnummer"


def compact(number: str) -> str:
    return _no.compact("".join(normalize(number).text.split()))


def validate(number: str) -> str:
    """Canonical 11-digit form, or a stdnum `ValidationError`."""
    return _no.validate(compact(number))


canonical = validate


is_valid = validity_check(validate)


def find(text: str, runs: DigitRuns | None = None) -> Iterator[tuple[int, int, str]]:
    """(start, end, canonical) of every valid fødselsnummer in normalised `text`."""
    r = runs if runs is not None else runs_of(text)
    # Two check digits: glued to letters it is still told apart (as a HETU is).
    return find_numeric(text, r, [(6, " ", (5,))], (11,), validate, glued=("plain", "shapes"))
