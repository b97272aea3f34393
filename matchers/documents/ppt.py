"""Legacy PowerPoint files (.ppt, PowerPoint 97-2003): the text of every slide, its
notes, its comments and its links, as one part.

A .ppt keeps its content as records in its "PowerPoint Document" stream (OLE2, read
with olefile): containers that hold records, and atoms. Text is in three kinds of
atom, wherever they are (a slide's outline text, a text box in a drawing, the notes, a
comment, a link's target): UTF-16 characters, one-byte characters (Latin-1: the high
byte of each UTF-16 character left out) and strings (MS-PPT 2.3.1, 2.9.42-44). Records
are walked in the order they are stored, without recursion, so a file is read in one
pass whatever its nesting. Old text that an edit replaced may still be stored: it is
read too, it was in the file that leaked. An encrypted file is reported.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from . import ExtractError, Part, TextBudget
from .ole import open_ole, properties_part, read_stream

_CONTAINER = 0xF  # recVer of a container: its body is records
_TEXT_CHARS = 0x0FA0  # UTF-16LE
_TEXT_BYTES = 0x0FA8  # Latin-1
_CSTRING = 0x0FBA  # UTF-16LE
_CRYPT_SESSION = 0x2F14  # an encrypted file's CryptSession10Container
_LINES = str.maketrans({"\r": "\n", "\x0b": "\n"})  # paragraph, line break


def ppt_parts(data: bytes, budget: TextBudget) -> Iterator[Part]:
    """The presentation's text, then its properties (`ole.properties_part`). Raises
    ExtractError for a file that cannot be read."""
    with open_ole(data, "ppt") as ole:
        if ole.exists("EncryptedSummary"):
            raise ExtractError("encrypted: password-protected PowerPoint file (.ppt)")
        stream = read_stream(ole, "PowerPoint Document", "ppt")
        properties = list(properties_part(ole, "ppt"))
    texts = list(_text_atoms(stream, budget))
    yield Part("", "\n".join(texts).translate(_LINES) + ("\n" if texts else ""), "ppt")
    yield from properties


def _text_atoms(stream: bytes, budget: TextBudget) -> Iterator[str]:
    at, end, n = 0, len(stream) - 8, 0
    while at <= end:
        ver_instance, kind, size = struct.unpack_from("<HHI", stream, at)
        at += 8
        if kind == _CRYPT_SESSION:
            raise ExtractError("encrypted: password-protected PowerPoint file (.ppt)")
        if ver_instance & 0xF == _CONTAINER:
            continue  # its records follow
        body = stream[at:at + size]
        at += size
        if kind in (_TEXT_CHARS, _CSTRING):
            text = body[: len(body) & ~1].decode("utf-16-le", "replace")
        elif kind == _TEXT_BYTES:
            text = body.decode("latin-1")
        else:
            continue
        budget.take(len(text) + 1)
        n += 1
        if n % 1024 == 0:
            budget.check_time("ppt")
        yield text
