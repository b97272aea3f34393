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
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from . import ExtractError, Part, TextBudget, failed
from .ole import properties_part, read_stream, reading

if TYPE_CHECKING:
    import olefile

_CONTAINER = 0xF  # recVer of a container: its body is records
_TEXT_CHARS = 0x0FA0  # UTF-16LE
_TEXT_BYTES = 0x0FA8  # Latin-1
_CSTRING = 0x0FBA  # UTF-16LE
_OLE_OBJECT = 0x1011  # ExOleObjStg: an embedded object's storage
_CRYPT_SESSION = 0x2F14  # an encrypted file's CryptSession10Container
_LINES = str.maketrans({"\r": "\n", "\x0b": "\n"})  # paragraph, line break


def ppt_parts(ole: olefile.OleFileIO, budget: TextBudget) -> Iterator[Part]:
    """The presentation's text, then its properties (`ole.properties_part`), then the
    objects embedded in it (``!object:N``, a compound file each: a workbook, a document).
    From its open container; raises ExtractError for a file that cannot be read."""
    with reading("ppt"):
        if ole.exists("EncryptedSummary"):
            raise ExtractError("encrypted: password-protected PowerPoint file (.ppt)")
        stream = read_stream(ole, "PowerPoint Document", "ppt")
        properties = list(properties_part(ole, "ppt"))
    texts: list[str] = []
    objects: list[Part] = []
    for kind, instance, body in _atoms(stream, budget):
        if kind == _OLE_OBJECT:
            objects.append(_object(body, instance, len(objects) + 1, budget))
            continue
        if kind in (_TEXT_CHARS, _CSTRING):
            text = body[: len(body) & ~1].decode("utf-16-le", "replace")
        elif kind == _TEXT_BYTES:
            text = body.decode("latin-1")
        else:
            continue
        budget.take(len(text) + 1)
        texts.append(text)
    yield Part("", "\n".join(texts).translate(_LINES) + ("\n" if texts else ""), "ppt")
    yield from properties
    yield from objects


def _atoms(stream: bytes, budget: TextBudget) -> Iterator[tuple[int, int, bytes]]:
    """(record type, instance, body) of every atom, in the order they are stored."""
    at, end, n = 0, len(stream) - 8, 0
    while at <= end:
        ver_instance, kind, size = struct.unpack_from("<HHI", stream, at)
        at += 8
        if kind == _CRYPT_SESSION:
            raise ExtractError("encrypted: password-protected PowerPoint file (.ppt)")
        if ver_instance & 0xF == _CONTAINER:
            continue  # its records follow
        n += 1
        if n % 1024 == 0:
            budget.check_time("ppt")
        yield kind, ver_instance >> 4, stream[at:at + size]
        at += size


def _object(body: bytes, instance: int, n: int, budget: TextBudget) -> Part:
    """An embedded object's storage (ExOleObjStg): a compound file, zlib-compressed
    after its size (instance 1) or stored; over the budget it is reported."""
    suffix = f"!object:{n}"
    if instance != 1:
        return Part(suffix, "", "ppt", data=body)
    inflate = zlib.decompressobj()
    try:
        data = inflate.decompress(body[4:], budget.max_chars + 1)
    except zlib.error as exc:
        return Part(suffix, "", "ppt", reason=failed("ppt object", exc))
    if len(data) > budget.max_chars:
        return Part(suffix, "", "ppt", reason=f"too large: an object in a PowerPoint file "
                                              f"over {budget.max_chars} bytes")
    return Part(suffix, "", "ppt", data=data)
