"""TNEF (``winmail.dat``, application/ms-tnef): the wrapper in which Exchange and Outlook
send a message's body and attachments to other mail systems.

A clinic's mail exported from Exchange holds messages whose attachments are all inside
one ``winmail.dat`` part: a mail reader that does not know TNEF shows none of them.
It is read here into the `msg.Message` an Outlook message is read into (MS-OXTNEF):

* attributes: a level (message or attachment), an id whose high word is its type, a
  length, the data and a checksum (not checked: a damaged file is read as far as it
  goes). An attachment starts with its rendering attribute; its title is its file name
  and its data attribute its bytes. The message's subject and plain body are read;
* the message's and attachments' MAPI properties (`attMsgProps`, `attAttachment`): every
  string, the HTML body, the compressed RTF body (decompressed as in a .msg), an
  attachment's long file name, and an attached message (a TNEF of its own, read the
  same way).

Nothing here raises with content: a broken stream raises ExtractError with fixed words.
"""

from __future__ import annotations

import struct

from . import TNEF_MAGIC, ExtractError, TextBudget, failed, file_name
from .msg import Attachment, Message, decompress_rtf

SIGNATURE = TNEF_MAGIC
_MESSAGE, _ATTACHMENT = 1, 2
_SUBJECT, _BODY = 0x8004, 0x800C  # attribute ids (their low word)
_RENDERING, _TITLE, _DATA = 0x9002, 0x8010, 0x800F
_MSG_PROPS, _ATTACH_PROPS = 0x9003, 0x9005
# MAPI property types and ids
_STRING8, _UNICODE, _BINARY, _OBJECT = 0x001E, 0x001F, 0x0102, 0x000D
_MULTIPLE = 0x1000
_FIXED = {0x0002: 4, 0x0003: 4, 0x0004: 4, 0x0005: 8, 0x0006: 8, 0x0007: 8, 0x000A: 4,
          0x000B: 4, 0x0014: 8, 0x0040: 8, 0x0048: 16}
_HTML, _RTF, _LONG_NAME, _ATTACH_DATA = 0x1013, 0x1009, 0x3707, 0x3701
_MAX_NESTING = 32


def is_tnef(head: bytes) -> bool:
    return head.startswith(SIGNATURE)


def read_tnef(data: bytes, budget: TextBudget, nesting: int = 0) -> Message:
    """The message in a TNEF stream. Raises ExtractError for one that is no TNEF or
    nested too deep."""
    if not is_tnef(data):
        raise ExtractError(failed("tnef", "no TNEF signature"))
    if nesting > _MAX_NESTING:
        raise ExtractError(f"too deep: TNEF messages attached to one another more than "
                           f"{_MAX_NESTING} deep")
    message, lines = Message(""), []
    attachments: list[dict] = []  # each: name, data, message
    current: dict | None = None  # the attachment being read
    at = 6  # signature and legacy key
    while at + 9 <= len(data):
        level, attr, length = struct.unpack_from("<BII", data, at)
        body = data[at + 9:at + 9 + length]
        at += 9 + length + 2
        budget.check_time("tnef")
        kind = attr & 0xFFFF
        if level == _ATTACHMENT and kind == _RENDERING:
            current = {"name": "", "data": None, "message": None}
            attachments.append(current)
        elif level == _ATTACHMENT and current is not None and kind == _TITLE:
            current["name"] = current["name"] or _text8(body)
        elif level == _ATTACHMENT and current is not None and kind == _DATA:
            current["data"] = body
        elif level == _MESSAGE and kind in (_SUBJECT, _BODY):
            lines.append(_text8(body))
        elif kind in (_MSG_PROPS, _ATTACH_PROPS):
            for pid, ptype, value in _properties(body):
                if isinstance(value, str):
                    lines.append(value)
                    if pid == _LONG_NAME and current is not None and kind == _ATTACH_PROPS:
                        current["name"] = value
                elif pid == _HTML and kind == _MSG_PROPS:
                    message.html = value
                elif pid == _RTF and kind == _MSG_PROPS:
                    try:
                        message.rtf = decompress_rtf(value)
                    except ExtractError as exc:
                        message.rtf_reason = exc.reason
                elif pid == _ATTACH_DATA and current is not None and ptype == _OBJECT:
                    current["message"] = _attached(value, budget, nesting)
    message.attachments = [_attachment(a, n) for n, a in enumerate(attachments, 1)]
    message.text = "".join(line + "\n" for line in lines if line)
    budget.take(len(message.text) + sum(len(a.data or b"") for a in message.attachments))
    return message


def _attachment(found: dict, n: int) -> Attachment:
    name = file_name(found["name"]) or f"attachment:{n}"
    if isinstance(found["message"], Message):
        return Attachment(name, message=found["message"])
    if found["data"] is not None:
        return Attachment(name, data=found["data"])
    return Attachment(name, reason="unsupported: TNEF attachment without its data (a link "
                                   "or an OLE object)")


def _attached(value: bytes, budget: TextBudget, nesting: int) -> Message | None:
    """An attached message: an object property holds an interface id (16 bytes), then
    a TNEF stream of its own."""
    inner = value[16:]
    return read_tnef(inner, budget, nesting + 1) if is_tnef(inner) else None


def _text8(body: bytes) -> str:
    raw = body.split(b"\0", 1)[0]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def _properties(block: bytes) -> list[tuple[int, int, str | bytes]]:
    """The string and binary properties of a MAPI property list (MS-OXTNEF 2.1.3.4):
    (id, type, value); numbers, dates and the like are passed over. A damaged list is
    read as far as it goes."""
    found: list[tuple[int, int, str | bytes]] = []
    try:
        (count,) = struct.unpack_from("<I", block)
        at = 4
        for _ in range(min(count, len(block) // 4)):
            ptype, pid = struct.unpack_from("<HH", block, at)
            at += 4
            if pid >= 0x8000:  # a named property: its GUID, then an id or a name
                (named,) = struct.unpack_from("<I", block, at + 16)
                at += 20
                if named == 1:
                    (n,) = struct.unpack_from("<I", block, at)
                    at += 4 + n + (-n % 4)
                else:
                    at += 4
            base = ptype & ~_MULTIPLE
            if base in _FIXED:
                values = 1
                if ptype & _MULTIPLE:
                    (values,) = struct.unpack_from("<I", block, at)
                    at += 4
                at += values * max(4, _FIXED[base])
                continue
            if base not in (_STRING8, _UNICODE, _BINARY, _OBJECT):
                break  # a type this reader does not know: its length is unknown
            (values,) = struct.unpack_from("<I", block, at)
            at += 4
            for _ in range(min(values, len(block))):
                (n,) = struct.unpack_from("<I", block, at)
                raw = block[at + 4:at + 4 + n]
                at += 4 + n + (-n % 4)
                if base == _UNICODE:
                    found.append((pid, base, raw.decode("utf-16-le", "replace").rstrip("\0")))
                elif base == _STRING8:
                    found.append((pid, base, _text8(raw)))
                else:
                    found.append((pid, base, raw))
    except struct.error:
        pass
    return found
