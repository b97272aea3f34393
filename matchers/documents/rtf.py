"""The text of an RTF document: what record systems and WordPad export clinical notes as.

RTF is 7-bit text, but its letters over 0x7F are escapes (``\\'e4`` for "ä" in the
document's code page, ``\\u8364?`` for "€") and its line breaks control words (``\\par``):
read as plain text, "Meikäläinen" is "Meik\\'e4l\\'e4inen", and a note excerpt with such
letters matches nothing. This reads it as a word processor shows it:

* groups (``{...}``) carry their state: the skip after ``\\uN`` (``\\ucN``), and whether
  the group is text at all. Font, colour and style tables, pictures, embedded objects
  and every ignorable destination (``{\\*\\...}``) are not; a field's instruction
  (``HYPERLINK "mailto:..."``) and the document's information (title, author) are;
* ``\\par``, ``\\line``, ``\\row`` end a line, ``\\tab`` and ``\\cell`` are tabs, ``\\~`` a
  no-break space, ``\\_`` a hyphen, ``\\-`` (an optional hyphen) nothing;
* ``\\'hh`` bytes decode in the code page of ``\\ansicpgN`` (cp1252 by default), ``\\uN``
  is the character N (negative: N + 65536; surrogate pairs joined);
* ``\\binN`` skips N bytes of binary data, wherever its braces fall.

A loop over one regular expression's tokens, with the group stack in a list: linear in
the input, no recursion however deep the nesting, and unbalanced or cut input is read
as far as it goes. The text is bounded by `TextBudget`, like every document's.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from typing import NamedTuple

from . import Part, TextBudget

# A control word (and its parameter; one space after it is its delimiter), a \'hh
# byte, a control symbol, a brace, line breaks (ignored: RTF breaks lines anywhere),
# or a run of text.
_TOKEN = re.compile(
    rb"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?|\\'([0-9a-fA-F]{2})|\\(.)|([{}])|[\r\n]+"
    rb"|[^\\{}\r\n]+",
    re.DOTALL,
)
# Destinations whose text is not the document's (tables, pictures, objects, metadata
# that is not text); every {\* ...} group is skipped too, but for _KEEP_IGNORABLE.
_SKIPPED = frozenset((
    "fonttbl", "colortbl", "stylesheet", "listtable", "listoverridetable", "rsidtbl",
    "pict", "object", "objdata", "themedata", "colorschememapping", "datastore",
    "latentstyles", "xmlnstbl", "filetbl", "revtbl", "pgdsctbl", "shppict", "nonshppict",
    "generator", "fldtype", "bkmkstart", "bkmkend", "wgrffmtfilter", "mmathPr",
))
_KEEP_IGNORABLE = frozenset(("fldinst",))
# Fields of the document information: each ends its own line.
_INFO_FIELDS = frozenset((
    "title", "subject", "author", "operator", "keywords", "comment", "doccomm", "company",
    "manager", "category",
))
_WORDS = {
    "par": "\n", "line": "\n", "sect": "\n", "page": "\n", "row": "\n",
    "tab": "\t", "cell": "\t", "emdash": "\u2014", "endash": "\u2013",
    "emspace": " ", "enspace": " ", "qmspace": " ", "lquote": "\u2018", "rquote": "\u2019",
    "ldblquote": "\u201c", "rdblquote": "\u201d", "bullet": "\u2022",
}
_SYMBOLS = {"~": "\u00a0", "-": "", "_": "-", "\\": "\\", "{": "{", "}": "}",
            "\n": "\n", "\r": "\n"}
_CODE_PAGES = {"mac": "mac_roman", "pc": "cp437", "pca": "cp850", "ansi": "cp1252"}
_BUDGET_STEP = 1 << 16  # input bytes between the budget's checks


class _Group(NamedTuple):
    skip: bool = False  # not the document's text
    uc: int = 1  # characters standing in for each \uN, skipped after it
    star: bool = False  # "\*" seen: the next control word names an ignorable destination
    end: str = ""  # written when the group closes (a field's instruction, an info field)


def rtf_parts(data: bytes, budget: TextBudget) -> Iterator[Part]:
    """The document's text as one part."""
    yield Part("", rtf_text(data, budget), "rtf")


def rtf_text(data: bytes, budget: TextBudget) -> str:
    out: list[str] = []
    produced = 0  # characters in out
    pending = bytearray()  # text bytes and \'hh bytes, decoded together in the code page
    codec = "cp1252"
    stack: list[_Group] = []
    group = _Group()
    skip_chars = 0  # fallback characters of a \uN still to skip
    pos, n, checked, taken = 0, len(data), 0, 0

    def emit(text: str) -> None:
        nonlocal produced
        if pending:
            decoded = pending.decode(codec, errors="replace")
            out.append(decoded)
            produced += len(decoded)
            pending.clear()
        out.append(text)
        produced += len(text)

    while pos < n:
        m = _TOKEN.match(data, pos)
        if m is None:  # a lone backslash at the end
            break
        pos = m.end()
        word, param, hexbyte, symbol, brace = m.groups()
        if brace is not None:
            skip_chars = 0
            if brace == b"{":
                stack.append(group)
                if group.star or group.end:
                    group = group._replace(star=False, end="")
            elif stack:
                if not group.skip and group.end:
                    emit(group.end)
                group = stack.pop()
        elif word is not None:
            name = word.decode("ascii")
            if name == "bin":
                pos += max(0, int(param or 0))  # binary data, braces and all
                continue
            if skip_chars:
                skip_chars -= 1
                continue
            if group.star or name in _SKIPPED or name in _KEEP_IGNORABLE:
                keep = name in _KEEP_IGNORABLE
                group = group._replace(skip=group.skip or not keep, star=False,
                                       end=" " if keep else "")
                continue
            if name in _INFO_FIELDS:
                group = group._replace(end="\n")
            elif name == "uc":
                group = group._replace(uc=max(0, int(param or 0)))
            elif name == "ansicpg" or name in _CODE_PAGES:
                codec = _code_page(name, param, codec)
            elif group.skip:
                continue
            elif name == "u" and param is not None:
                emit(chr(int(param) % 65536))
                skip_chars = group.uc
            elif name in _WORDS:
                emit(_WORDS[name])
        elif hexbyte is not None:
            if skip_chars:
                skip_chars -= 1
            elif not group.skip:
                pending.append(int(hexbyte, 16))
        elif symbol is not None:
            if skip_chars:
                skip_chars -= 1
            elif symbol == b"*":
                group = group._replace(star=True)
            elif not group.skip and symbol.decode("latin-1") in _SYMBOLS:
                emit(_SYMBOLS[symbol.decode("latin-1")])
        elif m.group().strip(b"\r\n"):  # a run of text
            run = m.group()
            if skip_chars:
                cut = min(skip_chars, len(run))
                run, skip_chars = run[cut:], skip_chars - cut
            if not group.skip:
                pending += run
        if pos - checked >= _BUDGET_STEP:
            emit("")
            budget.take(produced - taken)
            budget.check_time("RTF")
            checked, taken = pos, produced
    emit("")
    budget.take(produced - taken)
    text = "".join(out)
    # \uN of a character past U+FFFF come as two surrogates: joined here, a lone one replaced
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _code_page(name: str, param: bytes | None, current: str) -> str:
    """The codec of \\ansicpgN (or \\mac, \\pc, \\pca); the current one if Python has none."""
    wanted = _CODE_PAGES.get(name) or f"cp{int(param or 0)}"
    try:
        return codecs.lookup(wanted).name
    except LookupError:
        return current
