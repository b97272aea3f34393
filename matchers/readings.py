"""Readings: which identifier types one written value validly reads as.

The same characters can be several identifiers at once. A Finnish national
mobile number written without spaces, ``0401234567``, is also a valid Danish CPR
number (04.01.(20)23); ``010203-1234`` is a CPR number and a Swedish
personnummer; a Finnish identity code with a digit as check character and the
``-`` sign, ``131052-3081``, is a valid CPR number too; a customer number
pattern like ``\\d{10}`` overlaps all of them (`benchmarks/ambiguous_readings.py`
measures how often). A scan keys every type a span validly reads as, and retains
them all, so:

- `line_readings` is how `vahti search` reads an input line: every type, each
  looked up on its own, never just the first one;
- `other_readings` gives, for one enrolled identifier, the other types its
  usual written forms read as. Enrolment keys them (never used for matching),
  so that `vahti forget` can remove every key under which the person's
  identifier was retained from pages, not only the enrolled type's.

Phone numbers: phonenumbers parses leniently (letters of an identity code read
as keypad digits), so a value reads as a phone number only when it is shaped
like one (digits, spaces, ``().-``, a leading ``+``). A value never "reads" as
another value of its own type here: a scan only keys a phone number's own
E.164 form, whatever the digits would mean in another region.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

from .detectors import IDENTIFIER_TYPES, Detector, ValidationError, get_detector
from .lazy import lazy_module

phonenumbers = lazy_module("phonenumbers")  # loaded on first use: hetu-only scans never

PHONE_SHAPE = re.compile(r"\+?[\d\s().-]{5,}")
_NOT_DIGIT = re.compile(r"[^0-9]")


def readers(region: str, customer_id_pattern: str | None) -> list[Detector]:
    """The detectors of every identifier type (customer ids only with a pattern)."""
    return [get_detector(t, region=region, customer_id_pattern=customer_id_pattern)
            for t in IDENTIFIER_TYPES if t != "customer_id" or customer_id_pattern]


def line_readings(value: str, detectors: Iterable[Detector]) -> dict[str, str]:
    """Every type `value` (one identifier, as written) is valid as -> its canonical form."""
    found: dict[str, str] = {}
    for d in detectors:
        if d.id_type == "phone" and not PHONE_SHAPE.fullmatch(value):
            continue
        try:
            found[d.id_type] = d.canonical(value)
        except (ValidationError, ValueError):
            continue
    return found


# Loose shapes, only to say what an invalid line looked like (never the value).
_LOOKS_LIKE = (
    ("identity code", re.compile(r"\d{6}\s*[-+A-FU-Y]\s*\d{3}\s*[0-9A-Y]", re.IGNORECASE)),
    ("CPR number", re.compile(r"\d{6}-?\d{4}")),
    ("personnummer", re.compile(r"(?:\d{2})?\d{6}[-+]?\d{4}")),
    ("fødselsnummer", re.compile(r"\d{6}\s?\d{5}")),
    ("e-mail address", re.compile(r".*(?:@|\[at\]|\(at\)|\sat\s).*", re.IGNORECASE)),
    ("phone number", PHONE_SHAPE),
)


def why_invalid(value: str) -> str:
    """Why a line read as no type: the kinds of identifier it looks like, never the value."""
    kinds = [kind for kind, shape in _LOOKS_LIKE if shape.fullmatch(value)]
    if not kinds:
        return "not a recognised identifier"
    listed = kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} or {kinds[-1]}"
    return f"not a valid {listed}"


def written_forms(id_type: str, canonical: str, region: str) -> list[str]:
    """The usual ways a canonical value is written in a dump or a search line
    (forms that only differ in spaces read the same: the detectors drop them)."""
    if id_type == "cpr":
        return [canonical, f"{canonical[:6]}-{canonical[6:]}"]
    if id_type == "personnummer":  # YYYYMMDDNNNN
        short = canonical[2:]
        return [canonical, f"{canonical[:8]}-{canonical[8:]}", short, f"{short[:6]}-{short[6:]}"]
    if id_type == "fodselsnummer":
        return [canonical, f"{canonical[:6]} {canonical[6:]}"]
    if id_type == "phone":
        return _phone_forms(canonical, region)
    return [canonical]


def other_readings(id_type: str, canonical: str, detectors: Sequence[Detector],
                   region: str) -> dict[str, set[str]]:
    """Other types -> canonical forms that the written forms of this value read as."""
    found: dict[str, set[str]] = {}
    # stdnum's clean-up costs ~20 us a call, and enrolment reads every identifier's
    # forms as every type: forms that cannot be valid as a type are left out first
    others = [(d, _PLAUSIBLE.get(d.id_type, _any)) for d in detectors if d.id_type != id_type]
    for form in written_forms(id_type, canonical, region):
        digits = _NOT_DIGIT.sub("", form)
        plausible = [d for d, could_be in others if could_be(form, digits)
                     and (d.id_type != "phone" or _phone_start(form, region))]
        for t, value in line_readings(form, plausible).items():
            found.setdefault(t, set()).add(value)
    return found


def _any(form: str, digits: str) -> bool:
    return True


def _phone_start(form: str, region: str) -> bool:
    """A scan reads digits as a phone number only from "+" or the region's national
    prefix on (`detectors.phone.candidates`): no other reading is ever retained."""
    trunk = _trunk_prefix(phonenumbers.country_code_for_region(region)) or ""
    return form.startswith(("+", trunk))


def _month_day(mm: str, dd: str, day_offsets: tuple[int, ...] = (0,)) -> bool:
    return 1 <= int(mm) <= 12 and any(1 <= int(dd) - o <= 31 for o in day_offsets)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _personnummer(form: str, digits: str) -> bool:
    ten = digits[-10:]  # YYMMDDNNNC, Luhn over these; samordningsnummer: day + 60
    return len(digits) in (10, 12) and _month_day(ten[2:4], ten[4:6], (0, 60)) and _luhn(ten)


# Necessary conditions for a form (ASCII, from `written_forms`) to be valid as a type,
# on its digits (the detectors drop spaces and dashes); the detector decides the rest.
_PLAUSIBLE = {
    "hetu": lambda form, digits: len(digits) in (9, 10) and len("".join(form.split())) == 11,
    "cpr": lambda form, digits: len(digits) == 10 and _month_day(digits[2:4], digits[:2]),
    "personnummer": _personnummer,
    "fodselsnummer": lambda form, digits: len(digits) == 11,
    "phone": lambda form, digits: 6 <= len(digits) <= 15,
    "email": lambda form, digits: "@" in form,
}
def _phone_forms(e164: str, region: str) -> list[str]:
    """E.164, and its digits as dumps write them: international without "+", with
    the "00" call prefix, and national (the country's trunk prefix, e.g. "0", then
    the national number)."""
    forms = [e164, e164[1:], "00" + e164[1:]]
    for n in (1, 2, 3):  # country codes are prefix-free: at most one of these is one
        trunk = _trunk_prefix(int(e164[1:1 + n]))
        if trunk is not None:
            forms.append(trunk + e164[1 + n:])
            break
    return forms


@functools.cache
def _trunk_prefix(country_code: int) -> str | None:
    """The national (trunk) prefix of a country calling code ("" when it has none),
    None when it is no country code (parsing with phonenumbers costs ~200 us a number)."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if not regions:
        return None
    meta = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
        country_code, regions[0])
    return (meta.national_prefix or "") if meta is not None else ""
