"""Text out of the binary document formats leaks come in.

A stolen patient database is as often a SQLite file, a PDF export or a
spreadsheet as it is a CSV. Each format here turns into one or more *parts*
of plain text that the normal scan reads:

* SQLite (`sqlite.py`): one part per table, ``db!table:visits``; every cell,
  numbers too (phone numbers are stored as integers), blobs that decode as text;
* PDF (`pdf.py`): the document's text, extracted by pypdf in a child process
  that a time and a memory limit can end;
* Office Open XML and OpenDocument (`office.py`): docx/pptx/odt as one text,
  xlsx/ods one part per sheet, ``book.xlsx!sheet:Potilaat``; the XML is parsed
  by expat with DTDs refused, so no entity can expand;
* RTF (`rtf.py`): the text a word processor shows, its escapes and code page read;
* legacy Excel (`xls.py`): .xls workbooks one part per sheet, read with xlrd. Other
  OLE2 files (.doc, .ppt, Outlook .msg) are reported by name, not read.

Parts come with a location suffix (``""`` for the document itself) that names
a table or a sheet, never a value. What cannot be extracted raises
`ExtractError` with a reason of the scan's vocabulary (`matchers.skips`), and a
document whose text outgrows `TextBudget` is cut there and reported. Nothing
here logs or raises with content: reasons hold fixed phrases, sizes and
exception type names.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# An encrypted docx/xlsx/pptx is an OLE2 file holding a stream of this name (UTF-16).
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
# An Outlook message (.msg) keeps its properties in streams named so.
_OUTLOOK_STREAM = "__substg1.0_".encode("utf-16-le")
# The main streams of Excel 97-2003 (BIFF8), Excel 5/95 (BIFF5), Word and PowerPoint files.
_WORKBOOK_STREAM = "Workbook".encode("utf-16-le")
_BOOK_STREAM = "Book\x00".encode("utf-16-le")  # (the name ends there: not "Bookmarks")
_WORD_STREAM = "WordDocument".encode("utf-16-le")
_POWERPOINT_STREAM = "PowerPoint Document".encode("utf-16-le")


@dataclass(frozen=True)
class Part:
    """Text of one table, sheet or whole document; `suffix` is appended to the
    document's location ("" for the document itself)."""

    suffix: str
    text: str
    fmt: str  # the format it came from: sqlite, pdf, docx, xlsx, ...
    reason: str | None = None  # set when this part alone could not be read (text is "")


class ExtractError(Exception):
    """The document cannot be read; `reason` is a skip reason ("kind: detail")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TextBudget:
    """Bounds one document's extraction: characters of text produced and seconds spent."""

    def __init__(self, max_chars: int, timeout_s: float) -> None:
        self.max_chars = max_chars
        self.timeout_s = timeout_s
        self.used = 0
        self.deadline = time.monotonic() + timeout_s

    def take(self, n: int) -> None:
        self.used += n
        if self.used > self.max_chars:
            raise ExtractError(f"too large: more than {self.max_chars} characters of text "
                               "from one document (the rest was not read)")

    def check_time(self, what: str) -> None:
        if time.monotonic() > self.deadline:
            raise ExtractError(time_limit(what, self.timeout_s))


def time_limit(what: str, seconds: float) -> str:
    return f"time limit: {what} text extraction over {seconds:g} s"


def failed(fmt: str, exc: BaseException | str) -> str:
    name = exc if isinstance(exc, str) else type(exc).__name__
    return f"extraction failed: {fmt} ({name})"


def document_kind(head: bytes) -> str | None:
    """"sqlite", "pdf", "rtf" or "ole2" by magic bytes; Office zips are told by their
    members (`office.office_kind`)."""
    if head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"{\\rtf"):
        return "rtf"
    if head.startswith(b"SQLite format 3\x00"):
        return "sqlite"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(OLE2_MAGIC):
        return "ole2"
    return None


def _directory_names(data: bytes, *names: bytes) -> bool:
    """Does an OLE2 file's directory name one of the streams `names` (UTF-16)? It is
    looked for in the file's first and last MiB, where writers put it."""
    ends = (data[: 1 << 20], data[-(1 << 20):])
    return any(name in end for name in names for end in ends)


def is_workbook(data: bytes) -> bool:
    """Is an OLE2 file a legacy Excel workbook (.xls: a "Workbook" or "Book" stream), not
    an encrypted docx/xlsx (which also is OLE2), nor a Word or PowerPoint file (which
    may hold a workbook as an embedded object)?"""
    return (_directory_names(data, _WORKBOOK_STREAM, _BOOK_STREAM)
            and not _directory_names(data, _ENCRYPTED_PACKAGE, _WORD_STREAM,
                                     _POWERPOINT_STREAM))


def ole2_reason(data: bytes) -> str:
    """Why an OLE2 file that is no workbook is not read: an encrypted Office file, an
    Outlook message, a legacy Word or PowerPoint file."""
    if _directory_names(data, _ENCRYPTED_PACKAGE):
        return "encrypted: password-protected Office document"
    if _directory_names(data, _OUTLOOK_STREAM):
        return ("binary: Outlook message (.msg, OLE2), not extracted (export it as .eml to "
                "have it read)")
    if _directory_names(data, _WORD_STREAM):
        return ("binary: legacy Word document (.doc), not extracted (save it as .docx to "
                "have it read)")
    if _directory_names(data, _POWERPOINT_STREAM):
        return ("binary: legacy PowerPoint file (.ppt), not extracted (save it as .pptx to "
                "have it read)")
    return "binary: legacy Office (OLE2) document, not extracted"
