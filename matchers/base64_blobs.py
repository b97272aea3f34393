"""Dumps pasted as base64, and a database dump's hex blobs: found in a text input and
decoded, to be read as inputs of their own (`matchers.archives`).

A paste site's or forum's filter lets a base64 blob through where it would flag a list
of identity codes, so a dump is often posted encoded (and a zip of one always is). Its
characters hold no identifier; what they encode may. A blob is base64 (or base64url, as
in tokens) of at least MIN_CHARS characters: one line, or lines of one length of at
least MIN_LINE (how encoders wrap, at 64 or 76) and a last, shorter one of whole
four-character quanta (padded with "="), so a short word on the next line is not glued to
it. A blob may
start inside a run of the alphabet: the first line of equal ones starts it, so a word
glued before it on a line of its own does not shift it.

A database dump holds its binary columns as hex literals: MySQL's ``0x4D61...``
(``mysqldump --hex-blob``), PostgreSQL's bytea ``\\x4d61...`` (``COPY``, ``pg_dump``). A
note stored as a BLOB is then hex, never read as text. A run of hex digits after such a
prefix, of at least MIN_HEX digits, is a blob too (`Blob.encoding` "hex"); a run of
hex digits alone (a list of hashes) is not.

Which blobs are read (text, an archive or a document, not an image or a key) is the
caller's decision: every blob that decodes is given.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from . import native

MIN_CHARS = 64  # 48 bytes decoded: shorter runs are keys, hashes and ids
MIN_LINE = 40  # a wrapped blob's full lines; one line alone needs MIN_CHARS

_LINE = re.compile(rb"[^\r\n]+")
_URLSAFE = bytes.maketrans(b"-_", b"+/")
_RUN = re.compile(rb"[A-Za-z0-9+/=_\-][A-Za-z0-9+/=_\-\r\n]*")
_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_\r\n"
_HEX_AND_ENDS = b"0123456789abcdefABCDEF\r\n"
# SQL's hex literals in a run: MySQL's 0x..., PostgreSQL's \x... (the backslash is not in
# the alphabet: its run starts at the x), after the start of a line or a character that
# is no letter or digit (``body=0x...``); standard SQL's X'...' is a run of hex digits
# after "X'".
# From MIN_HEX digits, 19 bytes (a name and a code): with its "0x", the shortest run of
# the alphabet that is looked at (MIN_LINE).
MIN_HEX = MIN_LINE - 2
_HEX_LITERAL = re.compile(rb"(?<![0-9A-Za-z])(?:0x|x)((?:[0-9A-Fa-f]{2}){%d,})(?![0-9A-Za-z])"
                          % (MIN_HEX // 2))
_HEX_DIGITS = re.compile(rb"(?:[0-9A-Fa-f]{2}){%d,}" % (MIN_HEX // 2))
# A literal's MIN_HEX hex digits in a row, looked for first with two passes of C (base64
# holds such a row about once in 10^18: the regular expression then runs on literals only)
_AS_HEX = bytes(ord("h") if chr(c) in "0123456789abcdefABCDEF" else ord(".") for c in range(256))
_HEX_ROW = b"h" * MIN_HEX


@dataclass(frozen=True)
class Blob:
    """A blob at byte `start` of the input (its first encoded character): its decoded
    bytes, or None when they would be over the size given (`too_large`)."""

    start: int
    data: bytes | None
    encoding: str = "base64"  # or "hex": a SQL hex literal


def blobs(data: bytes | memoryview, max_bytes: int) -> Iterator[Blob]:
    """The base64 blobs of `data`, decoded (at most `max_bytes` each), in order."""
    for a, b in _runs(data):
        run = bytes(data[a:b])
        rest = run.translate(None, _HEX_AND_ENDS)
        if ((b"x" in rest and _HEX_ROW in run.translate(_AS_HEX))
                or (not rest and bytes(data[max(0, a - 2):a]).lower() == b"x'")):
            literals = list(_hex_in_run(data, a, b, max_bytes))
            if literals:
                yield from literals
                continue
        if rest:
            yield from _blobs_in_run(data, a, b, max_bytes)
        # else hex digits only: a list of hashes or a hex dump, never base64 of anything
        # (of base64's 64 characters 22 are hex digits: a blob holds the others at once)


def blobs_in_blocks(blocks: Iterable[bytes], max_bytes: int) -> Iterator[Blob]:
    """`blobs` of the concatenated `blocks` (a file read a block at a time): the run of
    the alphabet a block ends in is carried into the next (grown in place: a run as long
    as the file costs no copy per block), up to what `max_bytes` decoded takes; a longer
    one is given as too large once, and skipped to its end."""
    too_long = _too_long(max_bytes)
    carry, at, skipping = bytearray(), 0, False  # `at`: where `carry` starts in the input
    before = b""  # the two bytes before `at` (an "X'" that starts a SQL hex literal)
    for block in blocks:
        if skipping:  # the rest of a run that was too large
            rest = block.lstrip(_CHARS)
            at += len(block) - len(rest)
            block, skipping = rest, not rest
            if skipping:
                continue
        tail = len(block.rstrip(_CHARS))  # where the run the block ends in starts
        if tail:  # the carried run ended in this block: what is before `tail` is whole
            whole = bytes(carry) + block[:tail] if carry else block[:tail]
            yield from _shifted(blobs(before + whole, max_bytes), at - len(before))
            before = (before + whole)[-2:]
            carry, at = bytearray(block[tail:]), at + len(whole)
        else:
            carry += block
        if len(carry) > too_long:
            yield Blob(at + len(carry) - len(carry.lstrip(b"\r\n")), None)
            carry, at, skipping, before = bytearray(), at + len(carry), True, b""
    yield from _shifted(blobs(before + bytes(carry), max_bytes), at - len(before))


def _too_long(max_bytes: int) -> int:
    """The longest run of the alphabet whose blob can decode to at most `max_bytes`: its
    characters, and a line end every 48 bytes (64 characters, as openssl wraps)."""
    return max_bytes * 4 // 3 + 2 * (max_bytes // 48 + 2)


def blobs_in_regions(read: Callable[[int, int], bytes], regions: list[tuple[int, int]],
                     max_bytes: int) -> Iterator[Blob]:
    """`blobs` of an input in the `regions` (`Regions.close`) only, read with
    ``read(start, n)``."""
    for a, b in regions:
        if b - a > _too_long(max_bytes):
            head = read(a, 64)
            yield Blob(a + len(head) - len(head.lstrip(b"\r\n")), None)
            continue
        pre = min(2, a)  # (an "X'" before the region: a SQL hex literal)
        yield from _shifted(blobs(read(a - pre, b - a + pre), max_bytes), a - pre)


class Regions:
    """Where blobs may lie in an input read a block at a time by another reader (the
    thread that hashes a big file, matchers.scanfiles), so that the blobs are then read
    from those regions alone instead of the whole file again: each block's runs of the
    alphabet (`_runs`), and a run a block's end cuts, joined to the next block's start.
    A superset: `blobs` of each region finds what `blobs` of the whole input finds."""

    def __init__(self) -> None:
        self.found: list[tuple[int, int]] = []
        self._at = 0  # where the next block starts in the input
        self._open: int | None = None  # where a run the last block ended in starts

    def feed(self, block: bytes) -> None:
        head = 0
        if self._open is not None:
            head = len(block) - len(block.lstrip(_CHARS))
            if head == len(block):  # the run goes on through the whole block
                self._at += len(block)
                return
            self.found.append((self._open, self._at + head))
            self._open = None
        tail = len(block.rstrip(_CHARS))  # the run the block ends in starts there
        for a, b in _runs(block):
            if head <= a < tail:  # (not the runs joined to the blocks before and after)
                self.found.append((self._at + a, self._at + b))
        if tail < len(block):
            self._open = self._at + max(tail, head)
        self._at += len(block)

    def close(self) -> list[tuple[int, int]]:
        """The regions (start, end), in order; none shorter than a blob can be."""
        if self._open is not None:
            self.found.append((self._open, self._at))
            self._open = None
        return [(a, b) for a, b in self.found if b - a >= MIN_CHARS]


def _shifted(found: Iterator[Blob], by: int) -> Iterator[Blob]:
    for blob in found:
        yield Blob(blob.start + by, blob.data, blob.encoding)


def _runs(data: bytes | memoryview) -> list[tuple[int, int]]:
    """(start, end) of the runs of the alphabet and line ends with a line of MIN_LINE."""
    c_runs = getattr(native.lib, "base64_runs", None)
    if c_runs is not None:
        pairs = np.frombuffer(c_runs(data, MIN_LINE), dtype=np.int64).reshape(-1, 2)
        return [(a, b) for a, b in pairs.tolist()]
    out = []
    for m in _RUN.finditer(data):
        run = bytes(m.group()).rstrip(b"\r\n")
        if any(len(line) >= MIN_LINE for line in _LINE.findall(run)):
            out.append((m.start(), m.start() + len(run)))
    return out


def _blobs_in_run(data: bytes | memoryview, a: int, b: int, max_bytes: int
                  ) -> Iterator[Blob]:
    lines = [(m.start(), bytes(m.group())) for m in _LINE.finditer(data, a, b)]
    i = 0
    while i < len(lines):
        start, first = lines[i]
        width = len(first)
        j = i + 1
        while j < len(lines) and len(lines[j][1]) == width:
            j += 1
        if (j > i + 1 and j < len(lines) and len(lines[j][1]) < width
                and len(lines[j][1]) % 4 == width % 4 == 0):
            j += 1  # the last line of a wrapped blob (encoders pad it to whole quanta)
        if (j > i + 1 and width >= MIN_LINE) or width >= MIN_CHARS:
            chars = sum(len(line) for _, line in lines[i:j])
            if chars * 3 // 4 > max_bytes:
                yield Blob(start, None)
            else:
                decoded = _decoded(b"".join(line for _, line in lines[i:j]))
                if decoded:
                    yield Blob(start, decoded)
        i = j


def _hex_in_run(data: bytes | memoryview, a: int, b: int, max_bytes: int
                ) -> Iterator[Blob]:
    """The SQL hex literals of a run (or the run itself, after "X'")."""
    run = bytes(data[a:b])
    if a >= 2 and bytes(data[a - 2:a]).lower() == b"x'":
        found = [(0, m) for m in [_HEX_DIGITS.fullmatch(run)] if m is not None]
    else:
        found = [(m.start(1) - m.start(), m) for m in _HEX_LITERAL.finditer(run)]
    for shift, m in found:
        digits = m.group(1) if m.re is _HEX_LITERAL else m.group()
        start = a + m.start() + shift
        if len(digits) // 2 > max_bytes:
            yield Blob(start, None, "hex")
        else:
            yield Blob(start, binascii.unhexlify(digits), "hex")


def _decoded(encoded: bytes) -> bytes | None:
    """The bytes of one blob's characters, or None when they are no base64."""
    if b"-" in encoded or b"_" in encoded:
        if b"+" in encoded or b"/" in encoded:
            return None  # two alphabets: no blob
        encoded = encoded.translate(_URLSAFE)
    body = encoded.rstrip(b"=")
    if b"=" in body:
        return None
    body = body[: len(body) - (len(body) % 4 == 1)]  # a lone last character is no byte
    try:
        return binascii.a2b_base64(body + b"=" * (-len(body) % 4), strict_mode=True)
    except binascii.Error:
        return None
