"""The text strings of a binary input, as strings(1) finds them: what is read of a file
whose format vahti does not know.

An unknown binary was "binary" and nothing of it read. Yet database files (SQL Server
backups and data files, InnoDB tablespaces, PostgreSQL's own files), memory and core
dumps, swap, and many an application's own format keep their text as text among the
binary. So a binary input's strings are scanned, and the input is still reported, as
"strings only: 26% NUL bytes in sample; its text strings were read, not its format":
what a format packs or compresses is not there, and text packed against other text with
nothing between (two columns of a row side by side) reads as one word. In it an identity
code is told apart (`_codes_apart`), and so is a phone number glued to a letter
(`detectors.phone.glued_to_letters`, reported when its person is confirmed beside it), and
an e-mail address right after either; an address right after other text is not.

A string is a run of at least `MIN_RUN` characters:
- 8-bit: printable ASCII or a tab, a 2-byte UTF-8 sequence (ä, ö, å and the rest of
  Latin-1 in UTF-8), or a Latin-1 letter right after an ASCII letter (Finnish text in
  cp1252, as a SQL Server varchar column holds it; random bytes seldom make one);
- UTF-16LE (SQL Server nvarchar, Windows): Latin-1 characters, each followed by a NUL.
The runs come in the order they start, each a line. The C extension finds them (about
130 MB/s over random bytes, the worst case); this module has the same in Python, at a
fifth of that.
"""

from __future__ import annotations

import re

from . import decode, native
from .detectors import hetu

MIN_RUN = 6  # characters: an identity code has 11, a phone number 7 and more
ENCODING = "strings"  # how a Scanned input read this way names its encoding

_RUN8 = re.compile(rb"(?:[\t\x20-\x7e]|[\xc2-\xdf][\x80-\xbf]"
                   rb"|(?<=[A-Za-z])[\xc0-\xd6\xd8-\xf6\xf8-\xff]){%d,}" % MIN_RUN)
_RUN16 = re.compile(rb"(?:[\t\x20-\x7e\xa0-\xff]\x00){%d,}" % MIN_RUN)


EDGE = 1 << 20  # of a compressed format, the strings of this much of its head and tail


def strings_read(data: bytes, reason: str | None) -> tuple[str, str]:
    """The strings of a binary input, and its reason once they were read. Of a format
    whose body is compressed (`decode.COMPRESSED_LABELS`: images, audio and video,
    archives) only its first and last `EDGE` bytes: metadata (EXIF, XMP, tags) is there,
    and the body's strings are chance runs of bytes that cost time and find nothing."""
    if len(data) > 2 * EDGE and decode.magic_label(data) in decode.COMPRESSED_LABELS:
        text = strings_text(data[:EDGE]) + strings_text(data[-EDGE:])
        return text, read_reason(reason, "the text strings of its first and last MiB")
    return strings_text(data), read_reason(reason)


def strings_text(data: bytes) -> str:
    """The strings of `data`, each a line, identity codes set apart (`_codes_apart`)."""
    lib = native.lib
    if lib is not None:
        return _codes_apart(lib.binary_strings(data, MIN_RUN).decode("utf-8"))
    runs = sorted([(m.start(), m.end(), 8) for m in _RUN8.finditer(data)]
                  + [(m.start(), m.end(), 16) for m in _RUN16.finditer(data)])
    # an 8-bit run's single Latin-1 letters (no whole UTF-8 sequence) go to decode's
    # "vahti-latin1" handler
    return _codes_apart("".join(
        (data[a:b].decode("utf-8", "vahti-latin1") if kind == 8
         else data[a:b].decode("utf-16-le")) + "\n"
        for a, b, kind in runs))


# In a binary, text packed against other text is the rule: a row's columns side by side
# ("Lehtonen110378-566Wlaura@..."). The scan reads a code glued to letters (and the
# address glued to its end), but not one after a digit, where a text's code would be
# part of a longer number; in a binary that digit is a length or the column before it.
# Its shape and check character are exact enough to set it apart here, with a space on
# each side (codes only: where an e-mail address or a phone number begins in packed text
# is not known).
_HETU_SHAPE = re.compile(r"[0-9]{6}[-+A-FU-Y][0-9]{3}[0-9A-FHJ-NPR-Y]")


def _codes_apart(text: str) -> str:
    return _HETU_SHAPE.sub(
        lambda m: f" {m.group()} " if hetu.is_valid(m.group()) else m.group(), text)


KIND = "strings only"  # the reason's kind (`matchers.skips`)


def read_reason(reason: str | None, what: str = "its text strings") -> str:
    """A binary input's reason ("binary: PNG image") once its strings were read: "strings
    only: PNG image; ..." (a kind of its own, so the NOT READ line can say it)."""
    detail = (reason or "binary").removeprefix("binary").lstrip(": ") or "binary"
    return f"{KIND}: {detail}; {what} were read, not its format"
