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
* legacy Office, OLE2 files (`ole.py` tells them apart): Excel .xls workbooks one part
  per sheet, read with xlrd (`xls.py`); Word .doc (`doc.py`) and PowerPoint .ppt
  (`ppt.py`) as one text; Outlook .msg (`msg.py`): its text, bodies and attachments;
* TNEF (`tnef.py`, winmail.dat: how Exchange sends a message's attachments to other
  mail systems): read like an Outlook message;
* DICOM (`dicom.py`, medical images): the text of its data elements (the patient's
  name, ID and birth date among them), not its pixels;
* MongoDB dumps (`mongo.py`): mongodump's collection files (.bson, told by their
  structure: `mongo.is_bson`) and archives, each document a line of JSON.

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
TNEF_MAGIC = b"\x78\x9f\x3e\x22"  # winmail.dat (`tnef.py`)
DICOM_MAGIC = b"DICM"  # after a 128-byte preamble (`dicom.py`)
MONGO_ARCHIVE_MAGIC = b"\x6d\xe2\x99\x81"  # mongodump --archive (`mongo.py`)
KIND_HEAD = 132  # the bytes `document_kind` looks at


@dataclass(frozen=True)
class Part:
    """Text of one table, sheet or whole document, or a file embedded in it (`data`);
    `suffix` is appended to the document's location ("" for the document itself)."""

    suffix: str
    text: str
    fmt: str  # the format it came from: sqlite, pdf, docx, xlsx, ...
    reason: str | None = None  # set when this part alone could not be read (text is "")
    data: bytes | None = None  # a file embedded in the document: read as an input of its own


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


def file_name(name: object) -> str:
    """A file name that a document gives an attached or embedded file, fit to end a
    location: its last path component ("/" or "\\"), "!" (the location separator)
    replaced; "" when there is none."""
    return str(name).replace("!", "_").replace("\\", "/").rsplit("/", 1)[-1].strip()


def time_limit(what: str, seconds: float) -> str:
    return f"time limit: {what} text extraction over {seconds:g} s"


def failed(fmt: str, exc: BaseException | str) -> str:
    name = exc if isinstance(exc, str) else type(exc).__name__
    return f"extraction failed: {fmt} ({name})"


def document_kind(head: bytes) -> str | None:
    """"sqlite", "pdf", "rtf", "ole2", "tnef", "dicom" or "mongo archive" by magic bytes in
    the first `KIND_HEAD` bytes; Office zips are told by their members
    (`office.office_kind`), MongoDB collection files by their structure (`mongo.is_bson`)."""
    head = head[:KIND_HEAD]
    if head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"{\\rtf"):
        return "rtf"
    if head.startswith(b"SQLite format 3\x00"):
        return "sqlite"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(OLE2_MAGIC):
        return "ole2"
    if head.startswith(TNEF_MAGIC):
        return "tnef"
    if head[128:132] == DICOM_MAGIC:
        return "dicom"
    if head.startswith(MONGO_ARCHIVE_MAGIC):
        return "mongo archive"
    return None
