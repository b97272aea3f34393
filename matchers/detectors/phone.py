"""Telephone numbers, validated with phonenumbers; canonical form E.164.

National numbers are read in the default region (configuration, "FI" by
default); international ones (``+358 ...``, ``00358 ...``) in their own.
Spaced, dashed and ``(0)`` forms are accepted.

`find` starts from digit runs found with numpy: a candidate starts at a run
that begins with the national prefix (``0`` in FI) or follows ``+``/``(``,
and only those positions go through a regular expression and phonenumbers.
Parses are cached, because dumps repeat the same numbers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

import numpy as np
import phonenumbers
from stdnum.exceptions import InvalidFormat, ValidationError

from ..normalize import normalize
from ._common import PAD_BEFORE, DigitRuns, ascii_table, code_points

ID_TYPE = "phone"
DEFAULT_REGION = "FI"

_CANDIDATE = re.compile(
    r"(?:\+|00|\(0?)?\d(?:\d|[ -](?=[\d(])|\(0\)|\)[ -]?(?=\d)|-(?=\d)){5,22}"
)
_BEFORE_BAD = ascii_table("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+-/_.,:")


def compact(number: str) -> str:
    return "".join(normalize(number).text.split())


@functools.lru_cache(maxsize=65536)
def _parse(candidate: str, region: str) -> str | None:
    digits = sum(ch.isdigit() for ch in candidate)
    if not 6 <= digits <= 15:
        return None
    try:
        num = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def validate(number: str, region: str = DEFAULT_REGION) -> str:
    """E.164 form, or a stdnum `InvalidFormat` (which never holds the value)."""
    result = _parse(compact(number), region)
    if result is None:
        raise InvalidFormat()
    return result


def canonical(number: str, region: str = DEFAULT_REGION) -> str:
    return validate(number, region)


def is_valid(number: str, region: str = DEFAULT_REGION) -> bool:
    try:
        validate(number, region)
    except ValidationError:
        return False
    return True


@functools.cache
def _national_prefix(region: str) -> str | None:
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    return meta.national_prefix if meta is not None else None


def find(
    text: str, region: str = DEFAULT_REGION, runs: DigitRuns | None = None
) -> Iterator[tuple[int, int, str]]:
    """(start, end, E.164) of every valid phone number in normalised `text`."""
    r = runs if runs is not None else DigitRuns(code_points(text))
    if not len(r.start):
        return
    p = r.start
    before = r.at(p - 1)
    prefix = _national_prefix(region)
    starts_ok = (before == ord("+")) | (before == ord("("))
    if prefix:
        starts_ok |= (r.at(p) == ord(prefix[0])) & ~_BEFORE_BAD[before]
    else:
        starts_ok |= ~_BEFORE_BAD[before]
    # "00" international prefixes start with 0 too; both are taken above.
    cand = p[starts_ok] - PAD_BEFORE
    cand_before = before[starts_ok]
    last_end = -1
    for pos, b in zip(cand.tolist(), cand_before.tolist(), strict=True):
        start = pos - 1 if b in (ord("+"), ord("(")) else pos
        if start < last_end:
            continue
        prefixed = b in (ord("+"), ord("("))
        if start > 0 and prefixed and _BEFORE_BAD[r.at(np.array(pos - 2 + PAD_BEFORE))]:
            continue
        m = _CANDIDATE.match(text, start)
        if not m:
            continue
        hit = _longest_valid(m.group(), region)
        if hit is None:
            continue
        length, e164 = hit
        end = start + length
        if end < len(text) and (text[end].isalnum() or text[end] in "_"):
            continue
        last_end = end
        yield start, end, e164


def _longest_valid(candidate: str, region: str) -> tuple[int, str] | None:
    """The longest prefix of `candidate`, cut at a separator, that is a valid number.

    Two numbers in a row ("040 123 4567 050 765 4321") read as one run of digit
    groups; cutting at group boundaries from the right finds the first number.
    """
    ends = [len(candidate)] + [
        i
        for i in range(len(candidate) - 1, 0, -1)
        if candidate[i] in " -" and candidate[i - 1].isdigit()
    ]
    for e in ends[:5]:
        piece = candidate[:e].rstrip(" -(")
        if piece.count("(") != piece.count(")"):
            continue
        result = _parse(piece, region)
        if result is not None:
            return len(piece), result
    return None
