"""ISO weeks, identifier categories and the GDPR Art. 33 72-hour mark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from vahti.reports.dpo import ART33_HOURS, art33_mark, category_of
from vahti.reports.week import Week, WeekError


def test_parse_gives_monday_to_monday_in_utc():
    week = Week.parse("2026-W47")
    assert (week.year, week.number, week.id, str(week)) == (2026, 47, "2026-W47", "2026-W47")
    assert week.start == datetime(2026, 11, 16, tzinfo=UTC)
    assert week.end == datetime(2026, 11, 23, tzinfo=UTC)
    assert [d.isoformat() for d in week.days()][::6] == ["2026-11-16", "2026-11-22"]
    assert Week.parse(" 2026-w47 ") == week


@pytest.mark.parametrize("text, message", [
    ("2026-W99", "2026 has no ISO week 99 (weeks 1-53)"),
    ("2025-W53", "2025 has no ISO week 53 (weeks 1-52)"),
    ("2026-W00", "2026 has no ISO week 0 (weeks 1-53)"),
    ("2026-47", "not an ISO week like 2026-W47"),
    ("2026-W4", "not an ISO week like 2026-W47"),
    ("W47", "not an ISO week like 2026-W47"),
    ("", "not an ISO week like 2026-W47"),
])
def test_bad_weeks_are_refused_with_one_line(text, message):
    with pytest.raises(WeekError) as err:
        Week.parse(text)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_year_boundaries_follow_iso_8601():
    assert Week.parse("2026-W53").end == datetime(2027, 1, 4, tzinfo=UTC)  # 2026 has 53 weeks
    assert Week.containing(datetime(2027, 1, 1, 12, tzinfo=UTC)).id == "2026-W53"
    assert Week.containing(datetime(2024, 12, 30, tzinfo=UTC)).id == "2025-W01"
    assert Week.parse("2027-W01").previous().id == "2026-W53"
    assert Week.parse("2026-W53").next().id == "2027-W01"
    assert Week.parse("2026-W01").previous().id == "2025-W52"


def test_containing_takes_the_time_in_utc():
    helsinki = timezone(timedelta(hours=2))
    # Monday 01:00 in Helsinki is still Sunday in UTC: the week before
    assert Week.containing(datetime(2026, 11, 16, 1, tzinfo=helsinki)).id == "2026-W46"
    assert Week.containing(datetime(2026, 11, 16, 1)).id == "2026-W47"  # naive: UTC
    week = Week.parse("2026-W47")
    assert week.start in week and week.end not in week
    assert week.end - timedelta(microseconds=1) in week


def test_art33_mark_is_72_hours_after_the_first_sighting():
    first = datetime(2026, 11, 17, 2, 0, tzinfo=UTC)
    deadline = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    before = art33_mark(first, datetime(2026, 11, 19, 12, 0, tzinfo=UTC))
    assert ART33_HOURS == 72 and before.deadline == deadline
    assert not before.passed and before.hours_left == 14.0
    assert art33_mark(first, deadline).passed  # at the mark it has passed
    late = art33_mark(first, deadline + timedelta(hours=5, minutes=30))
    assert late.passed and late.hours_left == -5.5


def test_identifier_types_map_to_data_categories():
    for id_type in ("hetu", "personnummer", "fodselsnummer", "cpr"):
        assert category_of(id_type).key == "national_id"
    assert category_of("email").key == category_of("phone").key == "contact"
    assert category_of("customer_id").key == "customer"
    health = category_of("fragment")
    assert health.key == "health" and health.special and "Art. 9" in health.label
    assert not category_of("hetu").special
    assert category_of("passport").key == "other"
