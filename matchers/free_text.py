"""Free text an analyst types into vahti (a triage comment, a `--by` name): kept only when
it holds nothing identifier-shaped.

Such text is typed in a hurry and may hold a pasted identity code or e-mail address.
Two checks, the stricter wins: the log redactor's shapes (matchers/redact.py: any
identity-code, Nordic-number, e-mail or phone-like digit run, no checksum needed) and
the detectors' reading (matchers/identifier_check.py: a valid code glued to other
text, a customer number of the configured pattern). A false refusal costs a retype
("ticket 2024-123456" reads as a number: write "ticket #2024/123456" or leave it out);
a stored identity code costs a person. Enrolled names and phone numbers without a
shape cannot be told from words here; that is said where the comment is asked for.
"""

from __future__ import annotations

import re

from vahti.matchers.identifier_check import identifier_in
from vahti.matchers.redact import redact

# an ISO date (and time): the redactor's phone-like digit run would refuse "2026-12-04",
# which a triage note often holds; no identifier has this shape
_ISO_DATE = re.compile(r"(?<![\d-])\d{4}-[01]\d-[0-3]\d(?:[T ][0-2]\d:[0-5]\d(?::[0-5]\d)?Z?)?"
                       r"(?![\d-])")


def holds_identifier(text: str, *, region: str = "FI", customer_id_pattern: str = "") -> bool:
    text = _ISO_DATE.sub("date", text)
    if redact(text) != text:
        return True
    return identifier_in(text, region=region,
                         customer_id_pattern=customer_id_pattern or None) is not None
