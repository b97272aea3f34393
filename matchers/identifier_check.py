"""Is a short text (a register's ref, a header cell) an identifier, or does it hold one?

A ref is stored in plaintext: it is how a sighting, an alert and a report name the
person. A ref that is an identity code, an e-mail address or a phone number would put
that identifier at rest in clear, beside everything vahti found about it. The
detectors decide, with their checksums and date checks, so an opaque ref that merely
has digits in it ("P0000001", "2024-0001") is not refused.

"Holds" is looser than the scanner's token rule: "P-131052-308T" holds an identity
code although a scan would not read it as one (the scanner wants a token of its own).
A ref glued to an identifier still stores it. Phone numbers are the exception: numeric
refs are common and many digit strings are valid numbers somewhere, so only a ref that
is, as a whole, a phone number written with "+", "00" or the region's trunk prefix
("040 123 4567") is refused.
"""

from __future__ import annotations

import functools
import re

from vahti.matchers.detectors import ValidationError, email, get_detector, phone
from vahti.matchers.lazy import lazy_module
from vahti.matchers.normalize import normalize

phonenumbers = lazy_module("phonenumbers")  # loaded on first use: hetu-only scans never

DESCRIPTIONS = {
    "hetu": "an identity code (hetu)",
    "personnummer": "a Swedish personal identity number (personnummer)",
    "fodselsnummer": "a Norwegian national identity number (fodselsnummer)",
    "cpr": "a Danish CPR number (cpr)",
    "email": "an e-mail address (email)",
    "phone": "a phone number (phone)",
    "customer_id": "a customer number (customer_id)",
}

# Digit-bounded shapes, tried at every position (the lookahead lets them overlap).
_NUMERIC = {
    "hetu": re.compile(r"(?<!\d)(?=(\d{6}[-+A-FU-Y]\d{3}[0-9A-Y]))", re.IGNORECASE),
    "personnummer": re.compile(r"(?<!\d)(?=((?:\d{2})?\d{6}[-+]?\d{4})(?!\d))"),
    "fodselsnummer": re.compile(r"(?<!\d)(?=(\d{6} ?\d{5})(?!\d))"),
    "cpr": re.compile(r"(?<!\d)(?=(\d{6}-?\d{4})(?!\d))"),
}
_CANONICAL = {t: get_detector(t).canonical for t in _NUMERIC}
_EMAIL_SHAPE = re.compile(r"[^\s@]+@[^\s@]+\.[^\W\d_]{2,}")
_PHONE_CHARS = re.compile(r"\+?[\d ()./-]{5,30}")


def identifier_in(text: str, *, region: str = phone.DEFAULT_REGION,
                  customer_id_pattern: str | None = None) -> tuple[str, bool] | None:
    """(type, is the whole text) of the first identifier found in `text`, or None."""
    norm = normalize(text).text.strip()
    for id_type, shape in _NUMERIC.items():
        for m in shape.finditer(norm):
            try:
                _CANONICAL[id_type](m.group(1))
            except ValidationError:
                continue
            return id_type, len(m.group(1)) == len(norm)
    if "@" in norm:
        found = next(iter(email.find(norm)), None)
        if found is not None:
            return "email", found[1] - found[0] == len(norm)
        if _EMAIL_SHAPE.search(norm):
            return "email", False
    if _is_phone(norm, region):
        return "phone", True
    if customer_id_pattern:
        m = _customer_id(customer_id_pattern).search(norm)
        if m and m.end() > m.start():
            return "customer_id", m.end() - m.start() == len(norm)
    return None


def describe(found: tuple[str, bool]) -> str:
    id_type, whole = found
    return f"{'looks like' if whole else 'holds'} {DESCRIPTIONS[id_type]}"


def _is_phone(text: str, region: str) -> bool:
    if not _PHONE_CHARS.fullmatch(text):
        return False
    trunk = _trunk_prefix(region)
    if not (text.startswith(("+", "00", "(")) or (trunk and text.startswith(trunk))):
        return False
    return phone.is_valid(text, region)


@functools.cache
def _trunk_prefix(region: str) -> str:
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    return (meta.national_prefix or "") if meta is not None else ""


@functools.lru_cache(maxsize=8)
def _customer_id(pattern: str) -> re.Pattern[str]:
    # letters and digits bound it, joiners do not: "P-ASI-123456" holds "ASI-123456"
    return re.compile(rf"(?<![0-9A-Za-z])(?:{pattern})(?![0-9A-Za-z])", re.IGNORECASE)
