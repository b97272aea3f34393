"""Legacy Word documents (.doc, Word 97-2003 and Word 6/95): their text, as one part.

Ransomware dumps of a clinic's file share are full of .doc referrals and letters. Word
keeps a document's text in its "WordDocument" stream (OLE2, read with olefile), in
*pieces* that its piece table (in the "0Table" or "1Table" stream) lists in order: each
piece is cp1252, one byte a character ("compressed"), or UTF-16. The text of the body,
the footnotes, the headers and footers, the comments and the text boxes follows one
another in that order, and all of it is read (MS-DOC 2.4.1, "Retrieving Text").

Word's control characters become what they stand for: a paragraph or a line end a
newline, a table cell's end a tab and a row's a newline, a non-breaking hyphen "-" (a
code is often written with one), an optional hyphen nothing; a field's code
(``HYPERLINK "mailto:..."``) is kept between spaces. A Word 6/95 file that was saved
whole (not "fast saved") keeps its text in one run of cp1252; a fast-saved one is
reported, as is an encrypted document.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING

from . import ExtractError, Part, TextBudget, failed
from .ole import properties_part, read_stream, reading

if TYPE_CHECKING:
    import olefile

_WORD_MAGIC = 0xA5EC
_WORD97_NFIB = 0xC1  # Word 97 and later; 101-105 are Word 6 and Word 95
_ENCRYPTED = 0x0100
_COMPLEX = 0x0004  # fast-saved: the text is in pieces (always so from Word 97 on)
_TABLE_1 = 0x0200  # the piece table is in "1Table", else in "0Table"
_OBFUSCATED = 0x8000
_FC_CLX = 33  # the piece table's place in FibRgFcLcb97 (MS-DOC 2.5.6)
_LONG_COUNTS = 22  # FibRgLw97: 22 longs; ccpText is the fourth

# Word's own characters, by what they stand for in text that is read for identifiers.
_CONTROLS = str.maketrans({
    "\r": "\n", "\x0b": "\n", "\x0c": "\n", "\x0e": "\n",  # paragraph, line, page, column
    "\x07": "\t",  # the end of a table cell (a row's end is one more)
    "\x1e": "-",  # non-breaking hyphen
    "\x1f": None,  # optional hyphen: shown only where a line breaks
    "\x13": " ", "\x14": " ", "\x15": " ",  # a field's start, separator, end
    "\x01": None, "\x02": None, "\x05": None, "\x08": None,  # a picture, note marks, a drawing
})


def doc_parts(ole: olefile.OleFileIO, budget: TextBudget) -> Iterator[Part]:
    """The document's text, then its properties (`ole.properties_part`), from its open
    container. Raises ExtractError for a document that cannot be read."""
    with reading("doc"):
        word = read_stream(ole, "WordDocument", "doc")
        if len(word) < 0x20 or struct.unpack_from("<H", word)[0] != _WORD_MAGIC:
            raise ExtractError(failed("doc", "not a Word document"))
        n_fib, flags = struct.unpack_from("<H", word, 2)[0], struct.unpack_from("<H", word, 10)[0]
        if flags & (_ENCRYPTED | _OBFUSCATED):
            raise ExtractError("encrypted: password-protected Word document (.doc)")
        if n_fib < _WORD97_NFIB:
            text = _word95_text(word, flags, budget)
        else:
            table = read_stream(ole, "1Table" if flags & _TABLE_1 else "0Table", "doc")
            text = "".join(_word97_pieces(word, table, budget))
        properties = list(properties_part(ole, "doc"))
    # a row's end is a second cell mark: the row is a line
    yield Part("", text.replace("\x07\x07", "\n").translate(_CONTROLS), "doc")
    yield from properties


def _word95_text(word: bytes, flags: int, budget: TextBudget) -> str:
    """Word 6/95: the text of a document saved whole is the cp1252 run fcMin..fcMac."""
    if flags & _COMPLEX:
        raise ExtractError("unsupported: fast-saved Word 6/95 document (.doc), not "
                           "extracted (save it again to have it read)")
    fc_min, fc_mac = struct.unpack_from("<II", word, 0x18)
    if not 0 < fc_min <= fc_mac <= len(word):
        raise ExtractError(failed("doc", "text outside its stream"))
    budget.take(fc_mac - fc_min)
    return word[fc_min:fc_mac].decode("cp1252", "replace")


def _word97_pieces(word: bytes, table: bytes, budget: TextBudget) -> Iterator[str]:
    """Each piece of the text in order (MS-DOC 2.4.1)."""
    cps, pieces = _piece_table(table, _clx_place(word))
    total = _text_length(word) + 1  # and the paragraph mark that ends the last part
    for i, (flags_fc,) in enumerate(pieces):
        start, end = cps[i], min(cps[i + 1], total)
        if end <= start:
            break
        n = end - start
        budget.take(n)
        if flags_fc & 0x40000000:  # compressed: one byte a character, at fc / 2
            at = (flags_fc & 0x3FFFFFFF) // 2
            raw, text = word[at:at + n], None
            if len(raw) == n:
                text = raw.decode("cp1252", "replace")
        else:
            at = flags_fc & 0x3FFFFFFF
            raw = word[at:at + 2 * n]
            text = raw.decode("utf-16-le", "replace") if len(raw) == 2 * n else None
        if text is None:
            raise ExtractError(failed("doc", "text outside its stream"))
        yield text
        if i % 256 == 0:
            budget.check_time("doc")


def _clx_place(word: bytes) -> tuple[int, int]:
    """Where the piece table (Clx) is in the table stream, from the FIB."""
    at = 0x20
    (csw,) = struct.unpack_from("<H", word, at)
    at += 2 + 2 * csw
    (cslw,) = struct.unpack_from("<H", word, at)
    at += 2 + 4 * cslw
    (pairs,) = struct.unpack_from("<H", word, at)
    if pairs <= _FC_CLX:
        raise ExtractError(failed("doc", "no piece table"))
    return struct.unpack_from("<II", word, at + 2 + 8 * _FC_CLX)


def _text_length(word: bytes) -> int:
    """Characters of text in all the document's parts (the sum of FibRgLw97's counts of
    the body, footnotes, headers, macros, comments, endnotes and text boxes)."""
    at = 0x20 + 2 + 2 * struct.unpack_from("<H", word, 0x20)[0]
    (cslw,) = struct.unpack_from("<H", word, at)
    counts = struct.unpack_from(f"<{min(cslw, _LONG_COUNTS)}i", word, at + 2)
    return sum(max(0, c) for c in counts[3:11])


def _piece_table(table: bytes, place: tuple[int, int]) -> tuple[tuple[int, ...], list]:
    """The character positions and the pieces' file offsets of the Clx at `place`:
    formatting (Prc, 0x01) is passed over to the piece table (Pcdt, 0x02)."""
    fc, lcb = place
    clx = table[fc:fc + lcb]
    if lcb == 0 or len(clx) != lcb:
        raise ExtractError(failed("doc", "no piece table"))
    at = 0
    while at < len(clx) and clx[at] == 0x01:
        (size,) = struct.unpack_from("<h", clx, at + 1)
        at += 3 + max(0, size)
    if at >= len(clx) or clx[at] != 0x02:
        raise ExtractError(failed("doc", "no piece table"))
    (size,) = struct.unpack_from("<I", clx, at + 1)
    plc = clx[at + 5:at + 5 + size]
    n = (len(plc) - 4) // 12  # n + 1 positions of 4 bytes, n descriptors of 8
    if n <= 0:
        raise ExtractError(failed("doc", "no piece table"))
    cps = struct.unpack_from(f"<{n + 1}I", plc)
    pieces = [struct.unpack_from("<I", plc, 4 * (n + 1) + 8 * i + 2) for i in range(n)]
    return cps, pieces
