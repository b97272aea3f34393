"""The privacy check every feature test can use.

`everything_written` gathers all that vahti wrote: the database via the real
`vahti db dump`, every file under the home (logs, config, caches, the embedded
database's own files), and any captured output. `assert_no_plaintext` then
searches it for the plaintext values a test fed in, in the spellings a leak
would use (as given, upper and lower case, UTF-8 and UTF-16 bytes, digits
only), and names where one turned up without printing the value itself.

A plain SHA-256 of fed-in content counts as plaintext too: for a small or
templated content (a file holding one identity code, a "No results for <code>"
page) it is brute-forced back to the identifier without the key. So the check
also looks for the SHA-256 (and MD5 and SHA-1, as servers make ETags) of every
value as a one-line file (bare, with "\n" or
"\r\n"), and of every content passed as `contents` (the bytes of fed-in files and
pages), as hex (whole, or its first `HEX_PREFIX` digits, as a table would cut it),
as raw bytes and as base64.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import ahocorasick


@dataclass(frozen=True)
class Written:
    where: str
    data: bytes


def everything_written(vahti, out_dir: Path, extra: Iterable[tuple[str, str | bytes]] = ()
                       ) -> list[Written]:
    """Dump the database and read every file under vahti's home."""
    dumped = vahti.run("db", "dump", "--out", str(out_dir))
    assert dumped.returncode == 0, dumped.stderr
    found: list[Written] = [Written("db dump output", dumped.stdout.encode())]
    for root in (out_dir, vahti.home):
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.name != "key":  # the key is random bytes, not data
                found.append(Written(str(path), path.read_bytes()))
    for where, data in extra:
        found.append(Written(where, data.encode() if isinstance(data, str) else data))
    return found


def _spellings(value: str) -> set[bytes]:
    forms = {value, value.upper(), value.lower(), value.strip()}
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 6:
        forms.add(digits)
    out: set[bytes] = set()
    for form in forms:
        if len(form) < 4:
            continue
        out.add(form.encode("utf-8"))
        out.add(form.encode("utf-16-le"))
    return out


# 48 bits: enough to confirm a brute-force guess, and never met by chance in test output
HEX_PREFIX = 12


def _hash_forms(content: bytes) -> set[bytes]:
    """How a plain SHA-256 of `content` would show up in what vahti wrote (and the MD5
    and SHA-1 that web servers send as ETags)."""
    digest = hashlib.sha256(content).digest()
    forms = {digest[:8], base64.b64encode(digest)}
    for hexed in (digest.hex(), hashlib.md5(content).hexdigest(),
                  hashlib.sha1(content).hexdigest()):
        forms |= {hexed[:HEX_PREFIX].encode(), hexed[:HEX_PREFIX].upper().encode()}
    return forms


def _one_line_files(value: str) -> list[bytes]:
    """A file holding only this value, as a leak would write it."""
    return [form.encode("utf-8") + end for form in {value, value.strip()}
            for end in (b"", b"\n", b"\r\n")]


def assert_no_plaintext(written: list[Written], values: Iterable[str],
                        contents: Iterable[bytes] = ()) -> None:
    """No value in any spelling, and no plain SHA-256 of a one-value file or of any of
    `contents`, in anything written."""
    values = list(values)
    assert values, "a privacy check needs the plaintext it fed in"
    wanted: dict[bytes, set[str]] = {}  # every form -> what it would reveal
    for index, value in enumerate(values):
        for form in _spellings(value):
            wanted.setdefault(form, set()).add(f"plaintext value #{index}")
        for one_line in _one_line_files(value):
            for form in _hash_forms(one_line):
                wanted.setdefault(form, set()).add(
                    f"plain SHA-256 of a file holding value #{index}")
    for index, content in enumerate(contents):
        for form in _hash_forms(content):
            wanted.setdefault(form, set()).add(f"plain SHA-256 of content #{index}")
    # One Aho-Corasick pass over each thing written, whatever the number of forms (a
    # check of thousands of people's values, each in dozens of forms, over megabytes of
    # database files, must not take minutes). Bytes as latin-1: one character a byte.
    automaton = ahocorasick.Automaton()
    for form, labels in wanted.items():
        automaton.add_word(form.decode("latin-1"), labels)
    automaton.make_automaton()
    leaks: list[str] = []
    for item in written:
        found: set[str] = set()
        for _, labels in automaton.iter(item.data.decode("latin-1")):
            found |= labels
        leaks += [f"{what} found in {item.where}" for what in sorted(found)]
    assert not leaks, "\n".join(leaks[:20])
