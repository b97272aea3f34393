"""What the data-protection officer needs: categories of data, and the Art. 33 clock.

GDPR Art. 33(1): a personal data breach is notified to the supervisory authority
without undue delay and, where feasible, within 72 hours of becoming aware of it.
vahti's first sighting of an exposure is the earliest moment the controller could be
aware of it, so the report counts the 72 hours from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

ART33_HOURS = 72
ART33 = timedelta(hours=ART33_HOURS)


@dataclass(frozen=True)
class Category:
    key: str
    label: str
    id_types: tuple[str, ...]
    special: bool = False  # GDPR Art. 9 special-category data


CATEGORIES: tuple[Category, ...] = (
    Category("national_id", "National identity numbers",
             ("hetu", "personnummer", "fodselsnummer", "cpr")),
    Category("contact", "Contact details", ("email", "phone")),
    Category("customer", "Customer numbers", ("customer_id",)),
    Category("identity", "Names and dates of birth", ("name", "birth_date")),
    Category("health", "Health data: patient record fragments (GDPR Art. 9 special category)",
             ("fragment",), special=True),
)
OTHER = Category("other", "Other identifiers", ())
_BY_TYPE = {t: c for c in CATEGORIES for t in c.id_types}


def category_of(id_type: str) -> Category:
    """The category of an identifier type ("fragment" for record-text matches)."""
    return _BY_TYPE.get(id_type, OTHER)


@dataclass(frozen=True)
class Art33Mark:
    """The 72-hour mark counted from the first sighting, judged at `at`."""

    first_seen: datetime
    deadline: datetime
    at: datetime

    @property
    def passed(self) -> bool:
        return self.at >= self.deadline

    @property
    def hours_left(self) -> float:
        """Hours until the mark (negative: hours since it passed), one decimal."""
        return round((self.deadline - self.at).total_seconds() / 3600, 1)


def art33_mark(first_seen: datetime, at: datetime) -> Art33Mark:
    return Art33Mark(first_seen, first_seen + ART33, at)
