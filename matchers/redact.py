"""Redaction of identifier-shaped text, the last line of defence for logs.

vahti's code never hands an identifier to a logger; this catches the mistake
when it happens anyway. Shapes, not checksums: a false redaction in a log
line costs nothing, a leaked identity code costs a person.
"""

from __future__ import annotations

import re

REDACTED = "[redacted]"

_SHAPES = re.compile(
    r"""
      \b\d{6}\s?[-+A-FU-Ya-fu-y\u2010-\u2015\u2212]\s?\d{3}[0-9A-Ya-y]\b   # HETU
    | \b(?:\d{2})?\d{6}[-+]?\d{4}\b                                      # SE/NO/DK numbers
    | [\w.+-]+\s?(?:@|\[at\]|\(at\))\s?[\w-]+(?:\.[\w-]+)+               # e-mail
    | (?<![\w.:/-])\+?\d[\d \-()]{7,}\d\b                                 # phone-like digit runs
    """,
    re.VERBOSE,
)


def redact(text: str) -> str:
    return _SHAPES.sub(REDACTED, text)
