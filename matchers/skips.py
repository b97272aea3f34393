"""Inputs that were not read: why, counted by kind, and said so the analyst cannot miss it.

A skip reason is "kind: detail" (`archive bomb: compression ratio over 100`); the
kind is one of a fixed vocabulary, so reasons can be counted and stored (`runs`)
while the detail tells which limit or format. Reasons never hold content.

Kinds: binary (no known text format), strings only (binary, but its text strings were
read: `matchers.binary_strings`), encrypted, archive bomb (which limit),
too many members, too large, unreadable (permissions), not a regular file (FIFO,
socket, device), not found, corrupt archive / extraction failed (format errors),
unsupported (a compression method, a form of a format), time limit, incomplete (a
member that goes on in, or began in, another volume of a multi-volume RAR), empty (a RAR
with no file).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .engine import Scanned, Skipped


def skip_reason(event: object) -> str | None:
    """Why an event's input was not read, or None when it was: a `Skipped` input, or a
    `Scanned` one that held no text (binary) or of which only the strings were read."""
    if isinstance(event, Skipped):
        return event.reason
    if isinstance(event, Scanned) and event.status in ("binary", "strings"):
        return event.reason or "binary"
    return None


def reason_kind(reason: str) -> str:
    return reason.split(":", 1)[0].strip()


@dataclass
class SkipTally:
    """Skipped inputs of one command: counts by kind, and each (location, reason)."""

    by_kind: Counter = field(default_factory=Counter)
    inputs: list[tuple[str, str]] = field(default_factory=list)

    def add(self, location: str, reason: str) -> None:
        self.by_kind[reason_kind(reason)] += 1
        self.inputs.append((location, reason))

    @property
    def count(self) -> int:
        return sum(self.by_kind.values())


def summary(by_kind: Counter | dict[str, int]) -> str:
    """"3 inputs skipped (2 encrypted, 1 not a regular file)"."""
    n = sum(by_kind.values())
    ordered = sorted(by_kind.items(), key=lambda kv: (-kv[1], kv[0]))
    parts = ", ".join(f"{c} {k}" for k, c in ordered)
    return f"{n} input{'s' if n != 1 else ''} skipped ({parts})"
