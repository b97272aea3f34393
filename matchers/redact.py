"""Redaction of identifier-shaped text, the last line of defence for logs.

vahti's code never hands an identifier to a logger; this catches the mistake
when it happens anyway. Shapes, not checksums: a false redaction in a log
line costs nothing, a leaked identity code costs a person.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote

REDACTED = "[redacted]"

_SHAPES = re.compile(
    r"""
      \b\d{6}\s?[-+A-FU-Ya-fu-y\u2010-\u2015\u2212]\s?\d{3}[0-9A-Ya-y]\b   # HETU
    | \b(?:\d{2})?\d{6}[-+]?\d{4}\b                                      # SE/NO/DK numbers
    | (?<![\w.+-])[\w.+-]+\s?(?:@|\[\ ?(?i:at|@)\ ?\]|\(\ ?(?i:at|@)\ ?\))\s?
      [\w-]+(?:(?:\.|\[\.\]|\(\.\))[\w-]+)+  # e-mail, also defanged: x[@]y[.]fi
    | (?<!\w)\+?\d[\d \-()]{7,}\d\b        # phone-like digit runs, also after "tel:", "," "."
    """,
    re.VERBOSE,
)


# A URL or path in a log line (Scrapy's "<GET https://...>", a failed fetch) may hold
# an identifier percent-encoded ("%40") or glued to a word ("potilas_131052-308T.txt"),
# which the word boundaries above miss. Such a location is read percent-decoded, with
# digit boundaries only; stored locations are redacted with a key (matchers.locations).
_LOCATION = re.compile(r"""(?<![^\s<>"'])[^\s<>"']*[/%][^\s<>"']*""")
_LOCATION_SHAPES = re.compile(
    r"""
      (?<!\d)\d{6}[-+A-FU-Ya-fu-y]\d{3}[0-9A-Ya-y]           # HETU
    | (?<!\d)(?:\d{2})?\d{6}[-+]?\d{4}(?!\d)                 # SE/NO/DK numbers
    | (?<![\w.+-])[\w.+-]+(?:@|\[(?i:at|@)\]|\((?i:at|@)\))[\w-]+(?:(?:\.|\[\.\])[\w-]+)+  # e-mail
    """,
    re.VERBOSE,
)


# Enrolled phones and names have no shape: a process that holds the watchlist (a crawl)
# hands its keyed location redactor (matchers.locations) for logged URLs too.
_keyed: Callable[[str], str] | None = None


def redact_locations_with(redact_location: Callable[[str], str] | None) -> None:
    """Logged locations also go through `redact_location` (None: shapes only)."""
    global _keyed
    _keyed = redact_location


def _redact_location(m: re.Match[str]) -> str:
    location = m.group() if _keyed is None else _keyed(m.group())
    decoded = unquote(unquote(location)) if "%" in location else location
    if _LOCATION_SHAPES.search(decoded) is None:
        return location
    return _LOCATION_SHAPES.sub(REDACTED, decoded)


def redact(text: str) -> str:
    if "/" in text or "%" in text:
        text = _LOCATION.sub(_redact_location, text)
    return _SHAPES.sub(REDACTED, text)
