"""Everything vahti prints to a terminal goes through here: text from outside is
shown, never interpreted, and never shows an identifier.

File and archive member names, URLs, source names, refs, HTTP reasons and tor
messages may hold anything. A terminal interprets some of it: escape sequences
(`ESC [2J` clears the screen, `ESC ]0;` sets the window title), `\\r` and `\\b`
overwrite what was printed, bidi controls (U+202E) reorder the line, zero-width
characters hide text inside a name. `clean` shows each such character as a
visible escape instead (`\\x1b`, `\\u202e`), the way Python's repr does. A
backslash itself is left as it is: the escapes are for reading, not for parsing.

Rich markup is the other interpreter: `[/]` in a stored URL made every `vahti
alerts list` fail, `[red]` or a location token (`[hetu:1a2b...]`) silently
vanished. The console made here has markup (and emoji codes, highlighting) off
and cleans every string it renders, so a table cell or a printed line is always
literal; colour is asked for explicitly with `styled`, whose text is cleaned too.
`echo` is click.echo through `clean`, for plain lines and JSON.

Identifiers: a location is shown as it is stored, with each identifier replaced
by its keyed token (`shown_location`, with the command's LocationRedactor), so the
analyst can match the terminal against search and report output. Error lines
are also passed through the keyless log redactor (`error_text`), for values that
reach an error before any key is loaded (click's usage errors).
"""

from __future__ import annotations

import io
import json
import re
import sys
import unicodedata
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import click

from vahti.matchers.location_tokens import TOKEN_RE
from vahti.matchers.redact import redact

if TYPE_CHECKING:  # rich is imported when something is printed with it (vahti.safe_console)
    from rich.console import Console
    from rich.text import Text

# Shown escaped although not controls or format characters: invisible letters used
# to hide or pad text (Hangul fillers, the combining grapheme joiner).
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u034f")
_LINE_BREAKS = frozenset("\n\t")


@lru_cache(maxsize=4096)
def _interpreted(ch: str) -> bool:
    """Would a terminal act on the character, or show nothing for it?"""
    if " " <= ch <= "~":
        return False
    # Cc controls (C0, DEL, C1), Cf format (bidi, zero-width, soft hyphen, BOM, tags),
    # Zl/Zp line and paragraph separators, Cs lone surrogates (undecodable file names)
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs") or ch in _INVISIBLE


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(ch: str) -> str:
    if ch in _SHORT:
        return _SHORT[ch]
    cp = ord(ch)
    if cp < 0x100:
        return f"\\x{cp:02x}"
    return f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}"


def clean(text: object, one_line: bool = True) -> str:
    """`text` with every character a terminal would interpret shown as an escape.

    one_line: newlines and tabs are escaped too (a value: a name, a URL, a ref); off
    for whole messages and blocks vahti composed itself.
    """
    s = str(text)
    if s.isascii() and s.isprintable():  # the common case, fast
        return s
    return "".join(
        _escaped(ch) if _interpreted(ch) and not (not one_line and ch in _LINE_BREAKS) else ch
        for ch in s
    )


def json_visible(dumped: str) -> str:
    """JSON text (json.dumps with ensure_ascii=False) with the characters `clean`
    escapes written as JSON escapes: the same JSON value, inert on a terminal."""
    if dumped.isascii() and dumped.isprintable():
        return dumped
    out = []
    for ch in dumped:
        if ch in _LINE_BREAKS or not _interpreted(ch):
            out.append(ch)
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:  # outside the BMP: a surrogate pair, as json.dumps writes it
            out.append(json.dumps(ch)[1:-1])
    return "".join(out)


def console(stderr: bool = False) -> Console:
    """The console commands print tables and styled lines with (vahti.safe_console)."""
    from vahti.safe_console import SafeConsole

    return SafeConsole(soft_wrap=True, stderr=stderr)


def styled(text: object, style: str) -> Text:
    """`text` (cleaned) in a rich style: the one way to colour a cell or a line."""
    from rich.text import Text

    return Text(clean(text, one_line=False), style=style)


def echo(message: object = "", err: bool = False, nl: bool = True) -> None:
    """click.echo of a line or block vahti composed, with any outside text in it inert."""
    click.echo(clean(message, one_line=False), err=err, nl=nl)


def shown_location(text: str, redactor: Any) -> str:
    """A location (path, URL, archive member) as stored: identifiers as keyed tokens
    (`redactor` is a matchers.locations.LocationRedactor), then cleaned."""
    return clean(redactor.redact(text))


# Kept whole by `error_text`: keyed tokens, and key ids (16 hex digits, public names of
# keys), which are all decimal digits often enough to be taken for an identifier.
KEPT_WHOLE = re.compile(rf"{TOKEN_RE.pattern}|(?<=key id |has id )[0-9a-f]{{16}}\b")


def error_text(message: object) -> str:
    """An error, usage or log message: identifier-shaped text redacted without a key
    (the log redactor), then cleaned; line breaks kept (click's usage block). Keyed
    tokens already in it are kept whole: the shapes would take a digit run inside one's
    hex for an identifier (in about 1 of 30 tokens in a path); key ids are kept too."""
    text = str(message)
    out, pos = [], 0
    for m in KEPT_WHOLE.finditer(text) if "[" in text or "key id" in text else ():
        out += [redact(text[pos:m.start()]), m.group()]
        pos = m.end()
    out.append(redact(text[pos:]))
    return clean("".join(out), one_line=False)


def show_error(exc: click.ClickException) -> None:
    """click's own error output (usage, hint, message) through `error_text`: click
    repeats the argument it refused, which may be an identifier."""
    buffer = io.StringIO()
    exc.show(file=buffer)
    sys.stderr.write(error_text(buffer.getvalue()))
    sys.stderr.flush()


IDENTIFIER_AS_REF = (
    "--ref: that looks like an identifier (an identity code or an e-mail address), not "
    "a ref, and is not enrolled as one; to look a person up by identifier, give it on "
    "stdin, never as an argument: `vahti search` (type it, then Ctrl-D) or "
    "`vahti search --file FILE`")


def looks_like_identifier(text: str) -> bool:
    """Is `text` (a ref given on the command line) or does it hold an identity code or
    an e-mail address? The same check that refuses such refs at enrolment
    (matchers.identifier_check), without its phone reading: a numeric ref must stay
    usable."""
    from vahti.matchers.identifier_check import identifier_in

    found = identifier_in(text)
    return found is not None and found[0] != "phone"
