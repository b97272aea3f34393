"""Host names as a resolver would read them, for the checks that keep `.onion` off it.

A name that only Tor can reach must never be looked up by the local resolver: that
tells the network (and the DNS provider) which onion a monitor visits, and for a
direct source nothing else would stop it. A check on the name as written is easy to
slip past: `X.onion.` (the root's trailing dot), `x。onion` with an ideographic or a
full-width full stop (IDNA treats U+3002, U+FF0E and U+FF61 as dots), `x.ONION`,
full-width letters (`ｏｎｉｏｎ`), `x%2Eonion`, or an `xn--` label. `normalise_host`
maps all of those to the one form the checks compare (lower case, ASCII dots, no
trailing dot, percent-decoded, NFKC/UTS-46 mapped, A-labels decoded), and
`never_direct` names the special-use suffix of a host, if it has one.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote, urlsplit

import idna

# special-use names no public resolver can answer: Tor's onion services and its
# `.exit` notation (RFC 7686, tor's address-spec), and I2P
NEVER_DIRECT = ("onion", "exit", "i2p")
# every code point IDNA reads as a label separator, and what NFKC leaves of them
_DOTS = re.compile("[\u002e\u3002\uff0e\uff61]")


def _mapped(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    try:
        text = idna.uts46_remap(text, std3_rules=False, transitional=False)
    except (idna.IDNAError, ValueError):
        pass  # not a valid IDNA name: NFKC and lower case below still apply
    return _DOTS.sub(".", text).casefold()


def _decoded_label(label: str) -> str:
    if not label.startswith("xn--"):
        return label
    try:
        return label[4:].encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return label


def normalise_host(host: str) -> str:
    """The form of `host` every check compares: see the module docstring."""
    text = host.strip()
    for _ in range(3):  # %2E, and %252E that a second decoder would turn into one
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    text = _mapped(text)
    text = _mapped(".".join(_decoded_label(label) for label in text.split(".")))
    return text.strip().rstrip(".")


def host_of(url: str) -> str:
    """The normalised host of a URL ("" when it has none or cannot be parsed)."""
    try:
        return normalise_host(urlsplit(url.strip()).hostname or "")
    except ValueError:
        return ""


def never_direct(host: str) -> str:
    """"onion" (or "exit", "i2p") when `host` is a name no direct connection may
    resolve, else ""."""
    name = normalise_host(host)
    for suffix in NEVER_DIRECT:
        if name == suffix or name.endswith("." + suffix):
            return suffix
    return ""
