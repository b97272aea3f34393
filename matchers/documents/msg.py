"""Outlook messages (.msg): what a mail client shows of one, and its attachments.

A clinic's mailbox export, or a ransomware dump of its file share, holds mail saved
from Outlook as .msg: an OLE2 file (read with olefile) whose properties are streams
named ``__substg1.0_IIIITTTT`` (property id, type; MS-OXMSG 2.1). Read here:

* every string property of the message, its recipients and its attachments (subject,
  plain-text body, sender and recipient names and addresses, the transport headers,
  attachment names), one a line, in a part of its own;
* the HTML body, and the RTF body (compressed with LZFu, MS-OXRTFCP), as they are
  stored: `matchers.archives` reads them as inputs of their own (``mail.msg!body.html``,
  ``mail.msg!body.rtf``);
* attachments: their bytes (a file: an input of its own, ``mail.msg!lausunto.pdf``), a
  message of their own (a forwarded .msg, read the same way), or an OLE object (a
  workbook, a document: written out as a file of its own, `ole.object_bytes`).

Strings of one-byte characters (older messages) are UTF-8 when they decode so, else
cp1252. Nothing here raises with content: a broken message raises ExtractError with
its exception's type name.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import ExtractError, TextBudget, failed, file_name
from .ole import BROKEN, object_bytes, reading

if TYPE_CHECKING:
    import olefile

_PROPERTY = re.compile(r"__substg1\.0_([0-9A-Fa-f]{4})([0-9A-Fa-f]{4})$")
_UNICODE, _STRING8, _BINARY, _OBJECT = 0x001F, 0x001E, 0x0102, 0x000D
_HTML_BODY, _RTF_BODY, _ATTACH_DATA = 0x1013, 0x1009, 0x3701
_ATTACH_NAMES = (0x3707, 0x3704, 0x3001)  # long file name, short file name, display name
_RECIPIENT, _ATTACHMENT = "__recip_version1.0_#", "__attach_version1.0_#"
_NESTED = "__substg1.0_3701000D"  # an attached message (or OLE object) is this storage
_MAX_NESTING = 32  # messages attached to messages; archives' max_depth cuts sooner


@dataclass
class Attachment:
    name: str  # a file name made safe for a location ("!" and "/" replaced), or "attachment:N"
    data: bytes | None = None  # a file's bytes
    message: Message | None = None  # an attached message
    reason: str | None = None  # why it was not read


@dataclass
class Message:
    text: str  # every string property, one a line
    html: bytes | None = None
    rtf: bytes | None = None  # decompressed
    rtf_reason: str | None = None  # why the RTF body was not read
    attachments: list[Attachment] = field(default_factory=list)


def read_msg(ole: olefile.OleFileIO, budget: TextBudget) -> Message:
    """The message in an open container. Raises ExtractError for one that cannot be
    read."""
    with reading("msg"):
        return _message(ole, [], budget, 0)


def _message(ole, prefix: list[str], budget: TextBudget, nesting: int) -> Message:  # noqa: ANN001
    if nesting > _MAX_NESTING:
        raise ExtractError("too deep: Outlook messages attached to one another "
                           f"more than {_MAX_NESTING} deep")
    own = _properties(ole, prefix)
    lines = [_string(ole, path, kind) for (pid, kind), path in sorted(own.items())
             if kind in (_UNICODE, _STRING8)]
    message = Message("")
    if (_HTML_BODY, _BINARY) in own:
        message.html = _bytes(ole, own[(_HTML_BODY, _BINARY)])
    if (_RTF_BODY, _BINARY) in own:
        try:
            message.rtf = decompress_rtf(_bytes(ole, own[(_RTF_BODY, _BINARY)]))
        except ExtractError as exc:  # the rest of the message is read
            message.rtf_reason = exc.reason
    for storage in _storages(ole, prefix, _RECIPIENT):
        lines += _strings(ole, storage)
    for n, storage in enumerate(_storages(ole, prefix, _ATTACHMENT), 1):
        lines += _strings(ole, storage)
        try:
            message.attachments.append(_attachment(ole, storage, n, budget, nesting))
        except BROKEN as exc:  # this attachment is damaged; the others are read
            message.attachments.append(Attachment(f"attachment:{n}",
                                                  reason=failed("msg", exc)))
        budget.check_time("msg")
    message.text = "".join(line + "\n" for line in lines if line)
    budget.take(len(message.text))
    return message


def _attachment(ole, storage: list[str], n: int, budget: TextBudget,  # noqa: ANN001
                nesting: int) -> Attachment:
    props = _properties(ole, storage)
    name = next((_string(ole, props[(pid, kind)], kind) for pid in _ATTACH_NAMES
                 for kind in (_UNICODE, _STRING8) if (pid, kind) in props), "")
    name = file_name(name) or f"attachment:{n}"
    if (_ATTACH_DATA, _BINARY) in props:
        data = _bytes(ole, props[(_ATTACH_DATA, _BINARY)])
        budget.take(len(data))
        return Attachment(name, data=data)
    nested = [*storage, _NESTED]
    if ole.exists("/".join(nested)):
        if _properties(ole, nested):
            return Attachment(name, message=_message(ole, nested, budget, nesting + 1))
        data = object_bytes(ole, nested).data  # an object: a workbook, a document
        budget.take(len(data))
        return Attachment(name, data=data)
    return Attachment(name, reason="unsupported: Outlook attachment without its data "
                                   "(a link or a reference to a file elsewhere)")


def _entries(ole, prefix: list[str]) -> list[list[str]]:  # noqa: ANN001
    """The streams and storages directly in `prefix`."""
    depth = len(prefix)
    return [path for path in ole.listdir(streams=True, storages=True)
            if len(path) == depth + 1 and path[:depth] == prefix]


def _properties(ole, prefix: list[str]) -> dict[tuple[int, int], list[str]]:  # noqa: ANN001
    found = {}
    for path in _entries(ole, prefix):
        m = _PROPERTY.match(path[-1])
        if m and ole.get_type("/".join(path)) == 2:  # a stream
            found[(int(m.group(1), 16), int(m.group(2), 16))] = path
    return found


def _storages(ole, prefix: list[str], kind: str) -> list[list[str]]:  # noqa: ANN001
    return sorted(path for path in _entries(ole, prefix)
                  if path[-1].startswith(kind) and ole.get_type("/".join(path)) == 1)


def _strings(ole, storage: list[str]) -> list[str]:  # noqa: ANN001
    props = sorted(_properties(ole, storage).items())
    return [_string(ole, path, kind) for (_, kind), path in props if kind in (_UNICODE, _STRING8)]


def _bytes(ole, path: list[str]) -> bytes:  # noqa: ANN001
    return ole.openstream("/".join(path)).read()


def _string(ole, path: list[str], kind: int) -> str:  # noqa: ANN001
    raw = _bytes(ole, path)
    if kind == _UNICODE:
        return raw[: len(raw) & ~1].decode("utf-16-le", "replace").rstrip("\0")
    raw = raw.rstrip(b"\0")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


# --- the RTF body: LZFu (MS-OXRTFCP) ----------------------------------------------------

_PREBUFFER = (b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss "
              b"\\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier"
              b"{\\colortbl\\red0\\green0\\blue0\r\n\\par "
              b"\\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx")
_LZFU, _MELA = 0x75465A4C, 0x414C454D  # compressed, stored as it is


def decompress_rtf(data: bytes) -> bytes:
    """The RTF of a compressed RTF body (its CRC is not checked: a damaged body is read
    as far as it goes). Raises ExtractError for an unknown compression."""
    if len(data) < 16:
        raise ExtractError(failed("msg", "RTF body too short"))
    comp_size, raw_size, kind = struct.unpack_from("<III", data)
    body = data[16:4 + comp_size]
    if kind == _MELA:
        return body[:raw_size]
    if kind != _LZFU:
        raise ExtractError("unsupported: Outlook RTF body compression")
    window = bytearray(4096)
    window[: len(_PREBUFFER)] = _PREBUFFER
    put = len(_PREBUFFER)
    out = bytearray()
    at = 0
    while at < len(body) and len(out) < raw_size:
        control = body[at]
        at += 1
        for bit in range(8):
            if at >= len(body):
                break
            if not control >> bit & 1:
                out.append(body[at])
                window[put] = body[at]
                put = (put + 1) & 0xFFF
                at += 1
                continue
            if at + 2 > len(body):
                at = len(body)
                break
            (token,) = struct.unpack_from(">H", body, at)
            at += 2
            offset, length = token >> 4, (token & 0xF) + 2
            if offset == put:  # the end
                return bytes(out[:raw_size])
            for k in range(length):
                byte = window[(offset + k) & 0xFFF]
                out.append(byte)
                window[put] = byte
                put = (put + 1) & 0xFFF
    return bytes(out[:raw_size])
