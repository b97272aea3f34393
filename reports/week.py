"""ISO weeks in UTC: `2026-W47` is Monday 2026-11-16 00:00 UTC up to the next Monday."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

WEEK_RE = re.compile(r"(\d{4})-W(\d{2})")


class WeekError(ValueError):
    """A week that is not an ISO week; the message is one line for the user."""


@dataclass(frozen=True, order=True)
class Week:
    year: int
    number: int

    def __post_init__(self) -> None:
        try:
            date.fromisocalendar(self.year, self.number, 1)
        except ValueError:
            last = date(self.year, 12, 28).isocalendar().week if 1 <= self.year <= 9999 else 0
            raise WeekError(f"{self.year} has no ISO week {self.number}"
                            + (f" (weeks 1-{last})" if last else "")) from None

    @classmethod
    def parse(cls, text: str) -> Week:
        """"2026-W47" (case-insensitive W); anything else raises WeekError."""
        match = WEEK_RE.fullmatch(text.strip().upper())
        if not match:
            raise WeekError(f"week {text!r} is not an ISO week like 2026-W47")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def containing(cls, when: datetime) -> Week:
        """The ISO week of `when`, taken in UTC (a naive time counts as UTC)."""
        if when.tzinfo is not None:
            when = when.astimezone(UTC)
        iso = when.date().isocalendar()
        return cls(iso.year, iso.week)

    @property
    def id(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def start(self) -> datetime:
        return datetime.combine(date.fromisocalendar(self.year, self.number, 1), time(), UTC)

    @property
    def end(self) -> datetime:
        """The start of the next week (exclusive)."""
        return self.start + timedelta(days=7)

    def days(self) -> list[date]:
        first = self.start.date()
        return [first + timedelta(days=i) for i in range(7)]

    def previous(self) -> Week:
        return Week.containing(self.start - timedelta(days=1))

    def next(self) -> Week:
        return Week.containing(self.end)

    def __contains__(self, when: datetime) -> bool:
        return self.start <= when < self.end

    def __str__(self) -> str:
        return self.id
