"""Identifier detectors, one small module per type, in the shape of python-stdnum.

Every module has ``compact``, ``validate`` (returns the canonical form or
raises a ``stdnum.exceptions.ValidationError`` that never holds the value),
``is_valid``, ``canonical`` and ``find(text) -> (start, end, canonical)``
over normalised text. `get_detector` binds the configured parameters (phone
region, customer id pattern) so callers can treat all types alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from stdnum.exceptions import ValidationError

from . import birth_date, cpr, customer_id, email, fodselsnummer, hetu, name, personnummer, phone

IDENTIFIER_TYPES = ("hetu", "personnummer", "fodselsnummer", "cpr", "email", "phone", "customer_id")
CORROBORATING_TYPES = ("name", "birth_date")
ALL_TYPES = IDENTIFIER_TYPES + CORROBORATING_TYPES
# Types found from digit runs (they share one numpy pass per chunk).
NUMERIC_TYPES = frozenset({"hetu", "personnummer", "fodselsnummer", "cpr", "phone"})


@dataclass(frozen=True)
class Detector:
    id_type: str
    canonical: Callable[[str], str]
    find: Callable[[str], Iterable[tuple[int, int, str]]]
    corroborating: bool = False


def get_detector(
    id_type: str, *, region: str = phone.DEFAULT_REGION, customer_id_pattern: str | None = None
) -> Detector:
    """The detector of one type with its configuration bound."""
    if id_type == "phone":
        return Detector(
            "phone",
            lambda v: phone.canonical(v, region),
            lambda t: phone.find(t, region),
        )
    if id_type == "customer_id":
        if not customer_id_pattern:
            raise ValueError("customer_id needs a pattern (configuration: customer_id_pattern)")
        pattern = customer_id_pattern
        return Detector(
            "customer_id",
            lambda v: customer_id.canonical(v, pattern),
            lambda t: customer_id.find(t, pattern),
        )
    modules = {
        "hetu": hetu, "personnummer": personnummer, "fodselsnummer": fodselsnummer, "cpr": cpr,
        "email": email, "name": name, "birth_date": birth_date,
    }
    if id_type not in modules:
        raise ValueError(f"unknown identifier type: {id_type}")
    mod = modules[id_type]
    return Detector(id_type, mod.canonical, mod.find, id_type in CORROBORATING_TYPES)


__all__ = [
    "ALL_TYPES", "CORROBORATING_TYPES", "Detector", "IDENTIFIER_TYPES", "NUMERIC_TYPES",
    "ValidationError", "get_detector",
]
