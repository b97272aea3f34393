"""The weekly report's model: plain dataclasses of counts, refs, URLs and times.

Every renderer reads this model; `WeeklyReport.to_dict()` is the JSON form described
by `reports/weekly.schema.json`. Nothing here can hold an identifier value or page
text: the storage queries never return any.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date, datetime
from typing import Any

from vahti.reports.week import Week

SCHEMA_ID = "vahti.report.weekly"
SCHEMA_VERSION = 2  # 2: alert triage (`triage`, the state of each alert item)


@dataclass
class Headline:
    new_persons: int  # first sighting ever falls in the week
    new_persons_previous: int  # the same for the week before
    total_exposed: int  # persons ever seen, up to the end of the week
    persons_seen: int  # persons with a sighting first seen in the week (new or not)
    sightings: int
    pages: int
    sources: int
    new_sources: int
    fragment_sightings: int
    alerts: int
    unhealthy_sources: int

    @property
    def change(self) -> int:
        return self.new_persons - self.new_persons_previous


@dataclass
class SourceRow:
    source: str
    sightings: int
    persons: int
    new_persons: int
    pages: int
    new_source: bool  # its first sighting ever falls in the week


@dataclass
class TypeRow:
    id_type: str
    category: str  # a key of reports.dpo.CATEGORIES, or "other"
    sightings: int
    persons: int


@dataclass
class PageRow:
    url: str
    source: str
    persons: int  # distinct persons on the page among the week's sightings
    sightings: int
    first_seen: datetime  # of the page (its record), else of its first sighting


@dataclass
class Fragments:
    sightings: int = 0
    persons: int = 0
    pages: int = 0
    best_score: float | None = None


@dataclass
class NewSource:
    source: str
    first_seen: datetime
    persons: int
    sightings: int
    pages: int


@dataclass
class HealthRow:
    source: str
    verdict: str
    healthy: bool
    reason: str
    enabled: bool
    last_run: datetime | None
    last_success: datetime | None
    last_new: datetime | None
    failed_streak: int
    errors: dict[str, int] = field(default_factory=dict)  # error kind -> count, recent runs


@dataclass
class Health:
    checked_at: datetime
    sources: list[HealthRow] = field(default_factory=list)
    note: str = ""  # e.g. why no source could be checked

    @property
    def unhealthy(self) -> int:
        return sum(1 for row in self.sources if not row.healthy)


@dataclass
class Delivery:
    channel: str
    mode: str
    state: str
    attempts: int
    sent_at: datetime | None


@dataclass
class AlertRow:
    created: datetime
    kind: str  # sighting | health
    source: str
    persons: int  # sighting alerts: persons new on the page
    url: str  # sighting alerts: the page
    problem: str  # health alerts: failing, stale, canary_missing
    deliveries: list[Delivery] = field(default_factory=list)
    state: str = "new"  # triage: new, acknowledged, false_positive, resolved


@dataclass
class ChannelStates:
    channel: str
    states: dict[str, int]  # pending, sending, sent, dead -> rows


@dataclass
class Alerts:
    total: int = 0
    sighting: int = 0
    health: int = 0
    persons: int = 0  # summed over sighting alerts
    states: dict[str, int] = field(default_factory=dict)  # delivery state -> rows
    channels: list[ChannelStates] = field(default_factory=list)
    undelivered: int = 0  # alerts with no delivery row sent (no channel, or not yet)
    items: list[AlertRow] = field(default_factory=list)  # newest first, at most a limit
    items_total: int = 0


@dataclass
class Triage:
    """How the analysts handled the alerts (`vahti alerts ack|resolve|false-positive`)."""

    states: dict[str, int] = field(default_factory=dict)  # the week's alerts per state now
    open: int = 0  # of the week's alerts: still new or acknowledged
    handled: int = 0  # of the week's alerts: resolved or false positive
    open_older: int = 0  # alerts of earlier weeks still open at report time
    acknowledged: int = 0  # of the week's alerts: looked at (left `new`) so far
    median_ack_s: float | None = None  # created -> first left `new`, the week's alerts
    median_resolve_s: float | None = None  # created -> first resolved, the week's alerts
    false_positives_marked: int = 0  # alerts (of any week) marked false positive this week
    suppressed_repeats: int = 0  # (page, person) pairs not alerted this week: known false positives


@dataclass
class Day:
    date: date
    new_persons: int
    persons_seen: int
    sightings: int
    in_week: bool  # False: a day of the previous week


@dataclass
class CategoryRow:
    key: str
    label: str
    id_types: list[str]
    special: bool
    persons: int
    sightings: int


@dataclass
class Dpo:
    categories: list[CategoryRow]
    data_subjects: int  # distinct refs with a sighting in the week
    new_data_subjects: int
    special_category_subjects: int  # of those, persons with health data exposed
    sightings: int  # records concerned: sightings ...
    pages: int  # ... on this many pages
    first_seen: datetime | None  # the week's first sighting: start of the 72 hours
    art33_deadline: datetime | None
    art33_passed: bool | None
    art33_hours_left: float | None  # negative: passed this many hours ago
    new_refs: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)


@dataclass
class WeeklyReport:
    week: Week
    previous: Week
    generated_at: datetime
    headline: Headline
    by_source: list[SourceRow]
    by_type: list[TypeRow]
    top_pages: list[PageRow]
    fragments: Fragments
    new_sources: list[NewSource]
    health: Health
    alerts: Alerts
    trend: list[Day]
    dpo: Dpo
    triage: Triage = field(default_factory=Triage)

    @property
    def empty(self) -> bool:
        return self.headline.sightings == 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (see reports/weekly.schema.json)."""
        out: dict[str, Any] = {"schema": SCHEMA_ID, "schema_version": SCHEMA_VERSION,
                               "week": _week(self.week), "previous_week": _week(self.previous)}
        for f in fields(self):
            if f.name not in ("week", "previous"):
                out[f.name] = plain(getattr(self, f.name))
        out["headline"]["change"] = self.headline.change
        out["health"]["unhealthy"] = self.health.unhealthy
        return out


def _week(week: Week) -> dict[str, str]:
    return {"id": week.id, "start": week.start.isoformat(), "end": week.end.isoformat()}


def plain(value: Any) -> Any:
    """Dataclasses, lists and dicts with datetimes/dates as ISO 8601 strings."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value
