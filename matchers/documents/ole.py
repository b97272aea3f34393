"""OLE2 (Compound File) containers of the legacy Office formats, opened with olefile.

What a damaged or hostile container makes olefile raise is turned into ExtractError
with the exception's type name only: olefile's messages may quote stream names.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import ExtractError, Part, failed, file_name
from .cfb import compound_file

if TYPE_CHECKING:
    import olefile

# What olefile raises on a broken container or stream.
BROKEN = (OSError, struct.error, IndexError, KeyError, ValueError, TypeError,
          AssertionError, EOFError, OverflowError, RecursionError, UnicodeDecodeError,
          AttributeError, MemoryError)


@contextmanager
def open_ole(data: bytes, fmt: str) -> Iterator[olefile.OleFileIO]:
    """The container, opened once for all that is read of it; a failure in it, or in the
    reading of its streams, raises ExtractError ("extraction failed: FMT (TYPE)")."""
    import olefile  # only when a legacy Office file is read

    with reading(fmt):
        ole = olefile.OleFileIO(data)
    try:
        with reading(fmt):
            yield ole
    finally:
        ole.close()


@contextmanager
def reading(fmt: str) -> Iterator[None]:
    """What olefile raises while a format's streams are read, as ExtractError
    ("extraction failed: FMT (TYPE)"): each reader names its own format."""
    try:
        yield
    except BROKEN as exc:
        raise ExtractError(failed(fmt, exc)) from None


@dataclass(frozen=True)
class Embedded:
    """An object embedded in a legacy Office file or attached to a message as an object:
    its bytes (a file of its own: an xlsx, a compound file, a packaged CSV), read like
    any input. `name` is the file name it was packaged with, or "" (then it is known by
    its number). An object that could not be read has a `reason` instead."""

    name: str
    data: bytes
    reason: str | None = None


# An embedded object's storage: an Office Open XML file whole ("Package"), any file
# packaged by Windows' Object Packager ("\x01Ole10Native"), a PDF ("CONTENTS"), or else
# an OLE document (a workbook, a Word file), which is written out as a compound file.
_PACKAGE, _NATIVE, _CONTENTS = "Package", "\x01Ole10Native", "CONTENTS"


def ole2_kind(ole: olefile.OleFileIO) -> str:
    """What an OLE2 file is, by the streams at its root: "msg" (an Outlook message),
    "doc", "xls", "ppt", "object" (an embedded object's wrapper around a file:
    `object_bytes`), "encrypted" (a password-protected docx/xlsx/pptx is an OLE2 file
    too) or "other"."""
    root = {path[0] for path in ole.listdir(streams=True, storages=True) if len(path) == 1}
    if "EncryptedPackage" in root:
        return "encrypted"
    if any(name.startswith("__substg1.0_") for name in root):
        return "msg"
    for kind, names in (("doc", ("WordDocument",)), ("xls", ("Workbook", "Book")),
                        ("ppt", ("PowerPoint Document",)),
                        ("object", (_PACKAGE, _NATIVE, _CONTENTS))):
        if root.intersection(names):
            return kind
    return "other"


OLE2_REASONS = {
    "encrypted": "encrypted: password-protected Office document",
    "other": "binary: OLE2 file that is no Word, Excel, PowerPoint or Outlook file, not read",
}


def embedded_objects(ole: olefile.OleFileIO, kind: str) -> list[Embedded]:
    """The objects embedded in a Word document (its "ObjectPool") or a workbook (its
    "MBD..." storages); one that cannot be read, with its reason. Raises ExtractError
    for a container whose objects cannot be listed."""
    with reading(kind):
        paths = ole.listdir(streams=False, storages=True)
    if kind == "doc":
        found = [p for p in paths if len(p) == 2 and p[0] == "ObjectPool"]
    elif kind == "xls":
        found = [p for p in paths if len(p) == 1 and p[0].startswith("MBD")]
    else:
        found = []
    objects = []
    for path in sorted(found):
        try:
            objects.append(object_bytes(ole, path))
        except BROKEN as exc:  # this object is damaged; the others are read
            objects.append(Embedded("", b"", failed(f"{kind} object", exc)))
    return objects


def object_bytes(ole: olefile.OleFileIO, storage: list[str]) -> Embedded:
    """An embedded object's storage as the file it holds (see `_PACKAGE`); with
    `storage` [], the file that an embedded object's compound file wraps (an OLE object
    in an Office Open XML file's embeddings, ``oleObject1.bin``)."""
    inside = {tuple(p[len(storage):]): p for p in ole.listdir(streams=True, storages=True)
              if len(p) > len(storage) and p[: len(storage)] == storage}
    for name in (_PACKAGE, _CONTENTS):
        if (name,) in inside and ole.get_type("/".join(inside[(name,)])) == 2:
            return Embedded("", ole.openstream("/".join(inside[(name,)])).read())
    if (_NATIVE,) in inside:
        return _native(ole.openstream("/".join(inside[(_NATIVE,)])).read())
    return Embedded("", compound_file(storage_tree(ole, storage)))


def storage_tree(ole: olefile.OleFileIO, storage: list[str]) -> dict:
    """A storage's streams and storages as a tree (`cfb.compound_file` writes it)."""
    tree: dict = {}
    for path in sorted(ole.listdir(streams=True, storages=True)):
        if len(path) <= len(storage) or path[: len(storage)] != storage:
            continue
        node = tree
        for part in path[len(storage):-1]:
            node = node.setdefault(part, {})
        if ole.get_type("/".join(path)) == 2:
            node[path[-1]] = ole.openstream("/".join(path)).read()
        else:
            node.setdefault(path[-1], {})
    return tree


def _native(stream: bytes) -> Embedded:
    """An Ole10Native stream: its size, then (Object Packager's form) a label, the
    original path, a temporary path and the file's bytes; or the bytes alone."""
    (size,) = struct.unpack_from("<I", stream)
    body = stream[4:4 + size]
    try:
        at = 2
        label_end = body.index(b"\0", at)
        label = body[at:label_end].decode("cp1252", "replace")
        at = body.index(b"\0", label_end + 1) + 1 + 4  # the original path, 4 bytes
        (n,) = struct.unpack_from("<I", body, at)
        at += 4 + n  # the temporary path
        (n,) = struct.unpack_from("<I", body, at)
        data = body[at + 4:at + 4 + n]
        if len(data) == n and body[:2] == b"\x02\x00":
            return Embedded(file_name(label), data)
    except (ValueError, struct.error):
        pass
    return Embedded("", body)


def read_stream(ole: olefile.OleFileIO, name: str, fmt: str) -> bytes:
    """A stream's bytes; its absence is "extraction failed: FMT (no NAME stream)"."""
    if not ole.exists(name) or ole.get_type(name) != 2:  # 2: STGTY_STREAM
        raise ExtractError(failed(fmt, f"no {name} stream"))
    return ole.openstream(name).read()


# The summary information's text properties (a letter's title is often its patient's
# name; a custom property may be a record's code), read by this bounded parser of
# MS-OLEPS: olefile's loops as often as a damaged stream's count says.
_SUMMARY_STREAMS = ("\x05SummaryInformation", "\x05DocumentSummaryInformation")
_SUMMARY_FMTID = bytes.fromhex("e0859ff2f94f6810ab9108002b27b3d9")
_NOT_TEXT = {7, 9, 18}  # the summary's template, revision number, program: no one's data
_LPSTR, _LPWSTR, _CODEPAGE = 0x1E, 0x1F, 1
_MAX_PROPERTIES = 1000  # a set's; Office writes a few dozen
_MAX_SETS = 4


def properties_part(ole: olefile.OleFileIO, fmt: str) -> Iterator[Part]:
    """The file's summary information's text as a part (``!properties``), when it has
    any; a damaged one is reported at that location."""
    lines: list[str] = []
    for name in _SUMMARY_STREAMS:
        if not ole.exists(name):
            continue
        try:
            lines += _property_strings(ole.openstream(name).read())
        except BROKEN as exc:
            yield Part("!properties", "", fmt, reason=failed(f"{fmt} properties", exc))
            return
    text = "".join(f"{line}\n" for line in lines if line)
    if text:
        yield Part("!properties", text, fmt)


def _property_strings(data: bytes) -> list[str]:
    """The string values of every property set in a property set stream."""
    (n_sets,) = struct.unpack_from("<I", data, 24)
    found = []
    for k in range(min(n_sets, _MAX_SETS)):
        fmtid = data[28 + 20 * k:44 + 20 * k]
        (at,) = struct.unpack_from("<I", data, 44 + 20 * k)
        size, count = struct.unpack_from("<II", data, at)
        block = data[at:at + size]
        count = min(count, _MAX_PROPERTIES, max(0, (len(block) - 8) // 8))
        ids = [struct.unpack_from("<II", block, 8 + 8 * i) for i in range(count)]
        codec = "cp1252"
        for pid, offset in ids:
            if pid == _CODEPAGE and struct.unpack_from("<H", block, offset)[0] == 0x02:
                codec = _codec(struct.unpack_from("<H", block, offset + 4)[0])
        for pid, offset in ids:
            if pid <= _CODEPAGE or (fmtid == _SUMMARY_FMTID and pid in _NOT_TEXT):
                continue  # (0: a custom set's dictionary of names)
            kind, length = struct.unpack_from("<H2xI", block, offset)
            if kind == _LPSTR:
                raw = block[offset + 8:offset + 8 + length]
                try:
                    value = raw.decode(codec)
                except (UnicodeDecodeError, LookupError):
                    value = raw.decode("cp1252", "replace")
            elif kind == _LPWSTR:
                value = block[offset + 8:offset + 8 + 2 * length].decode("utf-16-le", "replace")
            else:
                continue
            found.append(value.strip("\0 \t\r\n"))
    return found


def _codec(codepage: int) -> str:
    page = codepage & 0xFFFF
    return {65001: "utf-8", 1200: "utf-16-le", 10000: "mac_roman"}.get(page, f"cp{page}")
