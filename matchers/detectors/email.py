"""E-mail addresses, also written as ``name [at] example [dot] fi`` and the like.

Canonical form: trimmed and lower-cased (``local@domain``). The local part is
lower-cased too: real providers treat it case-insensitively, and a leak
writes addresses in whatever case it likes.

`find` does not run one big regular expression over the text (that tries a
match at every position, ~50 ms/MB): it looks for the anchors (``@``,
``[at]``, ``(at)``, `` at ``) with `str.find` and reads the local part backwards and the
domain forwards from each.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from stdnum.exceptions import InvalidFormat, ValidationError

from ..normalize import normalize

ID_TYPE = "email"

_DOT = r"(?:\.|\s*[\[(]\s*dot\s*[\])]\s*|\s+dot\s+)"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_AT_DOMAIN = re.compile(
    r"(?:\s*@\s*|\s*[\[(]\s*at\s*[\])]\s*|\s+at\s+)"
    rf"(?P<domain>{_LABEL}(?:{_DOT}{_LABEL})*{_DOT}[a-z]{{2,24}})(?![\w-])",
    re.IGNORECASE,
)
_DOT_RE = re.compile(_DOT, re.IGNORECASE)
_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-'")
_MAX_LOCAL = 64
_FULL = re.compile(r"^[^@\s]{1,64}@" + rf"{_LABEL}(?:\.{_LABEL})*\.[a-z]{{2,24}}$", re.IGNORECASE)


def compact(address: str) -> str:
    text = normalize(address).text.strip()
    m = re.fullmatch(r"(?P<local>\S+?)" + _AT_DOMAIN.pattern, text, re.IGNORECASE)
    if m:
        text = m.group("local") + "@" + _DOT_RE.sub(".", m.group("domain"))
    return text.lower()


def validate(address: str) -> str:
    """Canonical form, or a stdnum `InvalidFormat` (which never holds the value)."""
    value = compact(address)
    if not _FULL.match(value):
        raise InvalidFormat()
    local = value.split("@", 1)[0]
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidFormat()
    return value


canonical = validate


def is_valid(address: str) -> bool:
    try:
        validate(address)
    except ValidationError:
        return False
    return True


def _anchors(text: str) -> list[int]:
    found = []
    i = text.find("@")
    while i >= 0:
        found.append(i)
        i = text.find("@", i + 1)
    low = None
    for word in ("[at]", "(at)", " at ", "[AT]", "(AT)", " AT "):
        if word[1] not in text:  # cheap exit: no 'a'/'A' at all
            continue
        if low is None:
            low = text
        i = low.find(word)
        while i >= 0:
            found.append(i)
            i = low.find(word, i + 1)
    return sorted(set(found))


def find(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, canonical) of every e-mail address in normalised `text`."""
    last_end = -1
    for a in _anchors(text):
        if a < last_end:
            continue
        # The local part ends at the anchor, maybe after some spaces ("x [at] y").
        j = a
        while j > 0 and j > a - 8 and text[j - 1] in " \t":
            j -= 1
        if j < a and text[a] == "@":
            continue  # "x @ y" with spaces around a bare @ is not taken as an address
        k = j
        while k > 0 and j - k < _MAX_LOCAL and text[k - 1] in _LOCAL_CHARS:
            k -= 1
        if k == j or (k > 0 and (text[k - 1] in _LOCAL_CHARS or text[k - 1].isalnum())):
            continue
        local = text[k:j].strip(".'")
        k += text[k:j].index(local) if local else 0
        if not local:
            continue
        m = _AT_DOMAIN.match(text, j)
        if not m:
            continue
        value = f"{local}@{_DOT_RE.sub('.', m.group('domain'))}".lower()
        if not _FULL.match(value) or ".." in local:
            continue
        last_end = m.end()
        yield k, m.end(), value
