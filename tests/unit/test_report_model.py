"""The weekly report's figures from query results (no database): see report_data.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from tests.unit import report_data as data
from vahti.reports.weekly import top_page_urls


def test_headline_counts_first_sightings_ever():
    h = data.report().headline
    assert (h.new_persons, h.new_persons_previous, h.change) == (3, 2, 1)
    assert (h.total_exposed, h.persons_seen, h.sightings) == (6, 4, 5)
    assert (h.pages, h.sources, h.new_sources, h.fragment_sightings) == (2, 2, 1, 1)
    assert (h.alerts, h.unhealthy_sources) == (3, 1)


def test_breakdowns_by_source_and_identifier_type():
    r = data.report()
    assert [(s.source, s.persons, s.new_persons, s.sightings, s.pages, s.new_source)
            for s in r.by_source] == [("pastes", 3, 2, 4, 1, False),
                                      ("leakforum", 1, 1, 1, 1, True)]
    assert [(t.id_type, t.category, t.persons, t.sightings) for t in r.by_type] == [
        ("hetu", "national_id", 2, 2), ("customer_id", "customer", 1, 1),
        ("fragment", "health", 1, 1), ("phone", "contact", 1, 1)]


def test_top_pages_new_sources_and_fragments():
    r = data.report()
    assert [(p.url, p.source, p.persons, p.sightings, p.first_seen) for p in r.top_pages] == [
        (data.HOSTILE, "pastes", 3, 4, data.MONDAY + timedelta(days=1)),  # the page record's
        (data.NEW_PAGE, "leakforum", 1, 1, data.MONDAY + timedelta(days=4)),  # its sighting's
    ]
    assert [(s.source, s.first_seen, s.persons, s.sightings, s.pages)
            for s in r.new_sources] == [("leakforum", data.MONDAY + timedelta(days=4), 1, 1, 1)]
    f = r.fragments
    assert (f.sightings, f.persons, f.pages, f.best_score) == (1, 1, 1, 0.8234)


def test_top_pages_rank_by_persons_then_sightings_and_keep_ten():
    at = data.MONDAY
    docs = [data.sighting(f"http://p/{i:02d}", f"P{j:06d}", "hetu", at)
            for i in range(12) for j in range(i % 4 + 1)]  # 12 pages with 1-4 persons
    docs += [data.sighting("http://p/07", "P000000", "email", at)]  # 4 persons, 5 sightings
    ranked = top_page_urls(docs)
    assert len(ranked) == 10
    assert ranked[:5] == ["http://p/07", "http://p/03", "http://p/11", "http://p/02",
                          "http://p/06"]
    assert ranked[5:] == ["http://p/10", "http://p/01", "http://p/05", "http://p/09",
                          "http://p/00"]  # p/04 and p/08 (one person each) left out


def test_alerts_and_their_delivery_states():
    a = data.report().alerts
    assert (a.total, a.sighting, a.health, a.persons, a.items_total) == (3, 2, 1, 4, 3)
    assert a.states == {"pending": 1, "sending": 0, "sent": 1, "dead": 1}
    assert a.undelivered == 2  # the health alert (pending) and s-2 (no channel)
    assert [(c.channel, c.states["sent"], c.states["pending"], c.states["dead"])
            for c in a.channels] == [("hook", 1, 1, 0), ("mail", 0, 0, 1)]
    assert [i.created for i in a.items] == sorted((i.created for i in a.items), reverse=True)
    health_item = next(i for i in a.items if i.kind == "health")
    assert (health_item.problem, health_item.url, health_item.persons) == ("canary_missing", "",
                                                                          0)


def test_source_health_rows():
    h = data.report().health
    assert h.unhealthy == 1
    assert [(s.source, s.verdict, s.healthy, s.failed_streak) for s in h.sources] == [
        ("pastes", "ok", True, 0), ("forum-a", "failing", False, 3)]
    assert h.sources[1].errors == {"tor_unavailable": 3, "http_503": 1}


def test_daily_trend_covers_both_weeks():
    trend = data.report().trend
    assert len(trend) == 14 and trend[0].date == date(2026, 11, 9) and not trend[6].in_week
    assert trend[7].date == date(2026, 11, 16) and all(d.in_week for d in trend[7:])
    by_day = {d.date: (d.new_persons, d.persons_seen, d.sightings) for d in trend}
    assert by_day[date(2026, 11, 13)] == (2, 2, 2)
    assert by_day[date(2026, 11, 17)] == (2, 3, 4)  # P000001 seen again, not new
    assert by_day[date(2026, 11, 20)] == (1, 1, 1)
    assert sum(d.new_persons for d in trend) == 5 and sum(d.sightings for d in trend) == 7


def test_dpo_section_categories_subjects_and_the_72_hours():
    now = datetime(2026, 11, 19, 12, 0, tzinfo=UTC)
    d = data.report(now).dpo
    cats = {c.key: (c.persons, c.sightings, c.special) for c in d.categories}
    assert cats == {"national_id": (2, 2, False), "contact": (1, 1, False),
                    "customer": (1, 1, False), "identity": (0, 0, False),
                    "health": (1, 1, True)}
    assert (d.data_subjects, d.new_data_subjects, d.special_category_subjects) == (4, 3, 1)
    assert (d.sightings, d.pages) == (5, 2)
    assert d.first_seen == data.EXPOSURE_START
    assert d.art33_deadline == data.EXPOSURE_START + timedelta(hours=72)
    assert (d.art33_passed, d.art33_hours_left) == (False, 14.0)
    assert d.new_refs == ["P000004", "P000005", "P000006"]
    assert d.refs == ["P000001", "P000004", "P000005", "P000006"]
    later = data.report(data.EXPOSURE_START + timedelta(hours=80)).dpo
    assert (later.art33_passed, later.art33_hours_left) == (True, -8.0)


def test_an_empty_week_is_all_zeros():
    r = data.report(empty=True)
    assert r.empty
    h = r.headline
    assert (h.new_persons, h.total_exposed, h.sightings, h.alerts) == (0, 0, 0, 0)
    assert r.by_source == r.by_type == r.top_pages == r.new_sources == []
    assert r.fragments.best_score is None and r.alerts.items == []
    assert len(r.trend) == 14 and not any(d.sightings for d in r.trend)
    assert r.dpo.first_seen is None and r.dpo.art33_passed is None
    assert [c.persons for c in r.dpo.categories] == [0] * 5


def test_json_form_has_iso_times_and_derived_figures():
    out = data.report().to_dict()
    assert out["schema"] == "vahti.report.weekly" and out["schema_version"] == 2
    assert out["week"] == {"id": "2026-W47", "start": "2026-11-16T00:00:00+00:00",
                           "end": "2026-11-23T00:00:00+00:00"}
    assert out["previous_week"]["id"] == "2026-W46"
    assert out["headline"]["change"] == 1 and out["health"]["unhealthy"] == 1
    assert out["dpo"]["first_seen"] == "2026-11-17T02:00:00+00:00"
    assert out["trend"][0]["date"] == "2026-11-09"
