"""Keyed redaction of identifiers in page URLs and scan locations.

vahti stores where it saw something: a crawled page's URL, a scanned file's
path, an archive member (`dump.zip!potilaat/131052-308T.txt`). Those strings
may themselves hold an identifier: a search URL (`?q=131052-308T`), a dump with
one file per patient named after the identity code, an e-mail address in a
query (`?u=matti%40example.fi`). `LocationRedactor.redact` replaces each such
identifier with a keyed token, `[hetu:1a2b3c4d5e6f7a8b]`: the type and 16 hex
digits of HMAC-SHA256(subkey "location", type || 0x00 || canonical value).

- A location without an identifier comes back unchanged, byte for byte (the
  same string): ordinary URLs keep working exactly as before. A cheap probe
  (a six-digit run or an e-mail anchor, after percent-decoding; with the
  watchlist also its cached per-segment look for enrolled phones and names)
  decides whether the detectors run at all, because this runs on every page.
- Otherwise only the identifier's own characters, however they were written
  in the location (`%2D`, `%40`, `+`, a Unicode dash, full-width digits), are
  replaced; everything else stays as it was. So the redaction of `URL!member`
  is the redaction of `URL`, `!`, and that of `member` (archive members of a
  page share its stored prefix), and a URL's stored tail (`?page=3`) follows
  its stored head.
- The canonical value comes from the detector, so the spellings of one
  identifier give one token; the same location always gives the same string
  (reruns find their own records); two locations that differ only in the
  identifier stay different (64-bit tokens); without the key the token
  cannot be tried against the ~10^8 plausible identity codes.

Covered by shape: the strong identifiers, hetu, personnummer, fodselsnummer
and cpr, with the project's detectors (checksums and dates validated), and
e-mail addresses. Phone numbers and full names only when they are an enrolled
person's (`LocationRedactor(key, index)`, matchers.locations_enrolled): numeric
paste, post and file ids are digit runs of phone length and any two words may
be a name, so only a reading that is in the watchlist becomes a token
(`[phone:…]`, `[name:…]`) and every other URL stays fetchable. It wins over a
shape that covers the same characters ("0401234567" is also a valid CPR
number). Without an index (the baseline) phones and names stay as written.
Customer ids are not covered (no shape of their own in a URL).

A location's stored form depends on the watchlist for phones and names: the
same location gives the same string while the watchlist is the same (reruns
and lookups match). Enrolling someone whose phone or name is in an already
stored location stores it anew, under its token, on the next visit; the
records written before keep the location as it was until retention drops
them (nothing rewrites stored records).

Detection reads the location as a URL, not as prose: the detectors' token
boundaries reject an identifier glued to a word ("potilas_131052-308T",
"hetu131052-308T"), so the numeric detectors see a copy in which path and
word separators and letters not right after a digit read as spaces (a
HETU's century sign and check character follow digits and are kept).
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import hmac
import re
from urllib.parse import unquote

from .detectors import get_detector
from .detectors.phone import DEFAULT_REGION
from .index import WatchlistIndex
from .keys import Key, derive_subkey
from .location_tokens import NUMERIC_TYPES, TOKEN_HEX, TOKEN_RE, TYPES
from .locations_enrolled import EnrolledValues
from .normalize import needs_normalization, normalize

SUBKEY_LABEL = "location"
MEMBER_SEPARATOR = "!"  # archive members: "dump.zip!inner.zip!member"
DECODE_ROUNDS = 2  # "%2540" is a "%40" encoded once more: links get encoded twice

# Worth running the detectors: every numeric type has a run of six digits, every
# e-mail address an anchor ("@", "[at]", "( at )", " at "). Bytes translated to "0" for a digit
# and a space for anything else find the runs ~5x faster than a regular expression.
_DIGITS_ONLY = bytes(48 if 48 <= c <= 57 else 32 for c in range(256))
_SPELLED_AT = ("at]", "at )", "at)", "at ]", "at  )", "at  ]", " at ", "+at+")
_PERCENT_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
# The numeric detectors' view of a location (same length, so offsets hold):
_WORD_LETTER = re.compile(r"(?<![0-9])[A-Za-z]")  # not a HETU sign or check character
_SIGN_AFTER_LETTER = re.compile(r"(?<=[A-Za-z])[-+]")  # "123A-7": the next token
_RUN_THEN_SIGN = re.compile(r"(?<![0-9])([0-9]+)([-+])")
_SEPARATORS = str.maketrans("/_", "  ")

Spans = tuple[list[int], list[int]]  # per character: start and end in the input


class LocationRedactor:
    """Replaces identifiers in locations with keyed tokens (see the module doc).

    With the watchlist `index`, also the enrolled people's phones (read in
    `region`) and full names; without it only the identifiers that have a shape.
    """

    def __init__(self, key: Key, index: WatchlistIndex | None = None, *,
                 region: str = DEFAULT_REGION, cache_size: int = 4096) -> None:
        self._subkey = derive_subkey(key, SUBKEY_LABEL)
        self._finders = [(t, get_detector(t).find) for t in TYPES]
        enrolled = EnrolledValues(key, index, region) if index is not None else None
        self._enrolled = enrolled if enrolled is not None and not enrolled.empty else None
        # one page's findings all carry its location: the same string many times
        self.redact = functools.lru_cache(maxsize=cache_size)(self._redact)

    def __repr__(self) -> str:  # never the subkey
        return "LocationRedactor()"

    def token(self, id_type: str, canonical: str) -> str:
        message = id_type.encode("ascii") + b"\x00" + canonical.encode("utf-8")
        mac = hmac.new(self._subkey, message, hashlib.sha256).hexdigest()
        return f"[{id_type}:{mac[:TOKEN_HEX]}]"

    def _redact(self, location: str) -> str:
        """`location` with every identifier replaced by its token; unchanged without one."""
        if not self._worth_a_look(location):
            return location
        if MEMBER_SEPARATOR not in location:
            return self._redact_part(location)
        # part by part: a member's stored location extends its archive's
        parts = location.split(MEMBER_SEPARATOR)
        redacted = [self._redact_part(p) if self._worth_a_look(p) else p for p in parts]
        if all(r is p for r, p in zip(redacted, parts, strict=True)):
            return location
        return MEMBER_SEPARATOR.join(redacted)

    def _redact_part(self, raw: str) -> str:
        decoded, (dstarts, dends) = decode_location(raw)
        norm = normalize(decoded)
        # the shape detectors find nothing where the probe sees no shape (most of the
        # cost: a location with only an enrolled phone or name skips them)
        found = self._find(norm.text, shapes=worth_a_look(raw))
        if not found:
            return raw
        out, pos = [], 0
        for start, end, id_type, canonical in found:
            ds, de = norm.span(start, end)
            rs, re_ = dstarts[ds], dends[de - 1]
            out += [raw[pos:rs], self.token(id_type, canonical)]
            pos = re_
        out.append(raw[pos:])
        return "".join(out)

    def _worth_a_look(self, location: str) -> bool:
        """Cheap: could the location hold an identifier, or an enrolled phone or name?"""
        if worth_a_look(location):
            return True
        if self._enrolled is None:
            return False
        text = decoded_text(location)
        if needs_normalization(text):
            text = normalize(text).text
        return self._enrolled.may_hold(without_tokens(text))

    def _find(self, text: str, shapes: bool = True) -> list[tuple[int, int, str, str]]:
        """Identifier spans in the decoded, normalised location, overlaps merged
        (an e-mail whose local part is a HETU is one token; an enrolled phone that
        is also a valid CPR number is the phone)."""
        found = []
        if self._enrolled is not None:
            for start, end, id_type, value in self._enrolled.find(without_tokens(text)):
                found.append((start, -end, -1, id_type, value))
        view = numeric_view(text) if shapes else ""
        for rank, (id_type, find) in enumerate(self._finders if shapes else ()):
            for start, end, canonical in find(view if id_type in NUMERIC_TYPES else text):
                found.append((start, -end, rank, id_type, canonical))
        found.sort()
        merged: list[list] = []
        for start, neg_end, _, id_type, canonical in found:
            if merged and start < merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], -neg_end)
            else:
                merged.append([start, -neg_end, id_type, canonical])
        return [tuple(m) for m in merged]


def is_redacted(location: str) -> bool:
    """Does the location hold a token? Then it is no address any more: never fetch it."""
    return TOKEN_RE.search(location) is not None


def worth_a_look(location: str) -> bool:
    """Cheap: could the location hold an identifier at all?"""
    probe = location
    for _ in range(DECODE_ROUNDS):
        if "%" not in probe:
            break
        probe = unquote(probe)
    if not probe.isascii():
        probe = normalize(probe).text  # full-width digits, a full-width "@"
    if "@" in probe or b"000000" in probe.encode("utf-8").translate(_DIGITS_ONLY):
        return True
    low = probe.lower()
    return any(word in low for word in _SPELLED_AT)


def decoded_text(raw: str) -> str:
    """`decode_location(raw)[0]` without the spans (a probe's view)."""
    query = raw.find("?")
    text = raw if query < 0 else raw[:query] + raw[query:].replace("+", " ")
    for _ in range(DECODE_ROUNDS):
        if "%" not in text:
            break
        text = unquote(text)
    return text


def without_tokens(text: str) -> str:
    """Tokens already in a location read as spaces (same length): redacting is idempotent."""
    return TOKEN_RE.sub(lambda m: " " * len(m.group()), text) if "[" in text else text


def decode_location(raw: str) -> tuple[str, Spans]:
    """`raw` percent-decoded (UTF-8, as `unquote`; twice, see DECODE_ROUNDS), with
    '+' read as a space in the query, and each decoded character's span in `raw`."""
    query = raw.find("?")
    text = raw if query < 0 else raw[:query] + raw[query:].replace("+", " ")
    starts, ends = list(range(len(raw))), list(range(1, len(raw) + 1))
    for _ in range(DECODE_ROUNDS):
        if "%" not in text:
            break
        text, (s, e) = _percent_decoded(text)
        starts, ends = [starts[i] for i in s], [ends[i - 1] for i in e]
    return text, (starts, ends)


def _percent_decoded(text: str) -> tuple[str, Spans]:
    """One round of percent-decoding with the span of each output character."""
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []

    def emit(chars: str, start: int, end: int) -> None:
        out.append(chars)
        starts.extend([start] * len(chars))
        ends.extend([end] * len(chars))

    pos = 0
    for m in _PERCENT_RUN.finditer(text):
        out.append(text[pos : m.start()])
        starts.extend(range(pos, m.start()))
        ends.extend(range(pos + 1, m.start() + 1))
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        begin = m.start()
        for i in range(m.start(), m.end(), 3):
            chars = decoder.decode(bytes((int(text[i + 1 : i + 3], 16),)))
            if chars:  # a whole character (or a replacement) ends at this byte
                emit(chars, begin, i + 3)
                begin = i + 3
        emit(decoder.decode(b"", final=True), begin, m.end())
        pos = m.end()
    out.append(text[pos:])
    starts.extend(range(pos, len(text)))
    ends.extend(range(pos + 1, len(text) + 1))
    return "".join(out), (starts, ends)


def numeric_view(text: str) -> str:
    """The location as the numeric detectors should read it (same length): words,
    path and word separators ("/", "_") and tokens already in it read as spaces, and
    a "-" or "+" only joins digit runs that may start an identifier (6 or 8 digits),
    so "potilas_131052-308T", "2024-131052-308T" and "131052-308T-2" all hold one."""
    view = _WORD_LETTER.sub(" ", without_tokens(text))
    view = _SIGN_AFTER_LETTER.sub(" ", view)
    view = _RUN_THEN_SIGN.sub(
        lambda m: m.group(1) + (m.group(2) if len(m.group(1)) in (6, 8) else " "), view)
    return view.translate(_SEPARATORS)
