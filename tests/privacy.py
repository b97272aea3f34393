"""The privacy check every feature test can use.

`everything_written` gathers all that vahti wrote: the database via the real
`vahti db dump`, every file under the home (logs, config, caches, the embedded
database's own files), and any captured output. `assert_no_plaintext` then
searches it for the plaintext values a test fed in, in the spellings a leak
would use (as given, upper and lower case, UTF-8 and UTF-16 bytes, digits
only), and names where one turned up without printing the value itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


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


def assert_no_plaintext(written: list[Written], values: Iterable[str]) -> None:
    leaks: list[str] = []
    values = list(values)
    assert values, "a privacy check needs the plaintext it fed in"
    for item in written:
        for index, value in enumerate(values):
            if any(form in item.data for form in _spellings(value)):
                leaks.append(f"plaintext value #{index} found in {item.where}")
    assert not leaks, "\n".join(leaks[:20])
