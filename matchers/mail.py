"""The encoded parts of e-mail messages: a single message (.eml, a maildir file) or an mbox.

A stolen mailbox is a common leak: a clinic's mail, with the patient list attached. Its
text reads as it is, but an attachment is base64 and a body often quoted-printable: the
CSV attached to a message is not a single identity code to a scan of the message's
bytes, and "M=C3=A4kel=C3=A4" is no name. So the message's own bytes are scanned as
they are (as before: nothing moves, nothing is lost), and each part whose
Content-Transfer-Encoding is base64, quoted-printable or uuencode is decoded and read
as an input of its own (`matchers.archives`: an attached zip is expanded, a PDF's text
extracted), at ``mail.eml!potilaat.csv`` or ``box.mbox!msg:12!potilaat.csv``.

An input is mail when its first line is an mbox "From " line or a header that mail
starts with, and its first KiB holds nothing but header lines. An mbox is cut into
messages at each "From " line after an empty line, read a block at a time, so a big
mailbox is never in memory whole: a message at a time is. A quoted-printable part with
no "=" in it decodes to itself and is left to the message's own scan.
"""

from __future__ import annotations

import email
import email.errors
import email.policy
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .documents import failed

# Headers a message starts with (a maildir file, an .eml saved by a client, a raw spool).
_FIRST_HEADERS = frozenset((
    b"return-path", b"received", b"delivered-to", b"from", b"to", b"date", b"subject",
    b"message-id", b"mime-version", b"content-type", b"reply-to", b"sender", b"envelope-to",
    b"dkim-signature", b"arc-seal", b"arc-message-signature", b"arc-authentication-results",
    b"authentication-results",
))  # and any X- header
_HEADER_LINE = re.compile(rb"([A-Za-z][A-Za-z0-9-]{0,76}):")
_MESSAGE_START = re.compile(rb"\n\r?\nFrom [^\n]*\n")
ENCODED = frozenset(("base64", "quoted-printable", "x-uuencode", "uuencode", "x-uue"))
# A message without this is not parsed: nothing in it is encoded (most of a mailbox).
_ENCODING_HEADER = re.compile(rb"(?i)content-transfer-encoding:[ \t]*(?:%s)" % b"|".join(
    re.escape(e).encode() for e in sorted(ENCODED, key=len, reverse=True)))
# What a hostile message may raise while it is parsed (nesting past the recursion limit).
BROKEN = (RecursionError, ValueError, LookupError, IndexError, KeyError, TypeError,
          AttributeError, email.errors.MessageError)
BLOCK = 1 << 20  # an mbox is read this much at a time


@dataclass(frozen=True)
class EncodedPart:
    """One decoded part: `name` is appended to the message's location, `data` its bytes
    (text parts re-encoded as UTF-8 from their declared charset); or why it is not read."""

    name: str
    data: bytes | None
    reason: str | None = None


def mail_kind(head: bytes) -> str | None:
    """"mbox", "eml" or None, by the first KiB of an input."""
    lines = head[:1024].split(b"\n")
    kind = "eml"
    if lines[0].startswith(b"From "):
        kind, lines = "mbox", lines[1:]
    complete = lines[:-1] if len(head) >= 1024 else lines  # the last may be cut
    first = True
    for line in complete:
        line = line.rstrip(b"\r")
        if not line:
            break  # the end of the headers
        if line[:1] in (b" ", b"\t") and not first:
            continue  # a folded header
        m = _HEADER_LINE.match(line)
        if m is None or (first and kind == "eml" and m.group(1).lower() not in _FIRST_HEADERS
                         and not m.group(1).lower().startswith(b"x-")):
            return None
        first = False
    return None if first else kind


def messages(blocks: Iterable[bytes], kind: str, max_bytes: int) -> Iterator[bytes | None]:
    """The messages of an mbox (or the one of an .eml) from its bytes in blocks; None for
    one over `max_bytes`, which is not held whole."""
    buf = bytearray()
    searched = 0  # no message starts in buf before this
    over = False  # inside a message that outgrew max_bytes: dropped up to the next
    for block in blocks:
        buf += block
        while kind == "mbox":
            m = _MESSAGE_START.search(buf, max(0, searched - 8))
            if m is None:
                searched = len(buf)
                break
            cut = m.start() + m.group().index(b"From ")
            if not over:
                yield None if cut > max_bytes else bytes(buf[:cut])
            del buf[:cut]
            searched, over = 0, False
        if len(buf) > max_bytes:
            if not over:
                yield None
            over = True
            del buf[:-64]  # enough to find the next message's start
            searched = 0
    if buf and not over:
        yield bytes(buf)


def encoded_parts(message: bytes) -> Iterator[EncodedPart]:
    """The parts of one message (forwarded messages inside it too) whose transfer
    encoding hides their bytes, decoded. Raises one of `BROKEN` for a message that
    cannot be parsed."""
    if _ENCODING_HEADER.search(message) is None:
        return
    msg = email.message_from_bytes(message, policy=email.policy.compat32)
    for k, part in enumerate(msg.walk(), 1):
        if part.is_multipart():
            continue
        cte = str(part.get("content-transfer-encoding", "")).strip().lower()
        if cte not in ENCODED:
            continue
        raw = part.get_payload()
        if cte == "quoted-printable" and isinstance(raw, str) and "=" not in raw:
            continue
        name = _name(part, k)
        try:
            data = part.get_payload(decode=True)
        except (ValueError, LookupError) as exc:
            yield EncodedPart(name, None, failed("mail", exc))
            continue
        if not isinstance(data, bytes):
            continue
        charset = part.get_content_charset()
        if part.get_content_maintype() == "text" and charset:
            data = _utf8(data, charset)
        yield EncodedPart(name, data)


def _name(part: email.message.Message, k: int) -> str:
    """The part's file name, else its number in the message ("part:3")."""
    try:
        filename = part.get_filename()
    except (ValueError, LookupError):
        filename = None
    filename = str(filename or "").replace("!", "_").strip()
    return filename.rsplit("/", 1)[-1] or f"part:{k}"


def _utf8(data: bytes, charset: str) -> bytes:
    """Text of a declared charset as UTF-8; as it is when Python has no such codec."""
    try:
        return data.decode(charset, errors="replace").encode("utf-8")
    except LookupError:
        return data
