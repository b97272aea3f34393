"""A small, hand-counted exposure history for the weekly report's unit tests.

Week 2026-W47 starts Monday 2026-11-16 00:00 UTC. The sightings, as storage returns
them (`storage.exposure`), are:

- P000001 hetu on an old page, 20 days before the week (exposed long ago)
- P000002 email and P000003 hetu on page PREV, Friday 13.11 of the previous week
- on page X (its URL is hostile on purpose), Tuesday 17.11 02:00: P000001 hetu (seen
  again), P000004 hetu, P000005 phone and a P000005 record fragment (score 0.82)
- P000006 customer_id on page D of the new source `leakforum`, Friday 20.11 00:00

So the week has 3 newly exposed persons (4, 5, 6), the previous week 2 (2, 3), 6 are
exposed to date, 4 seen this week in 5 sightings on 2 pages from 2 sources.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from vahti.reports.model import Health
from vahti.reports.week import Week
from vahti.reports.weekly import assemble, health_from, in_week, top_page_urls
from vahti.scheduler.health import SourceHealth
from vahti.storage.exposure import FirstSeen

WEEK = Week(2026, 47)
MONDAY = datetime(2026, 11, 16, tzinfo=UTC)
OLD = "http://old.example.onion/a"
PREV = "http://prev.example.onion/b"
HOSTILE = 'http://x.example.onion/p?q=<script>alert(1)</script>|`x`"&amp;'
NEW_PAGE = "http://leak.example.onion/d"
EXPOSURE_START = MONDAY + timedelta(days=1, hours=2)


def sighting(page: str, ref: str, id_type: str, at: datetime, source: str = "pastes",
             score: float = 1.0) -> dict[str, Any]:
    kind = "fragment" if id_type == "fragment" else "identifier"
    return {"ref": ref, "id_type": id_type, "kind": kind, "source": source, "page_url": page,
            "first_seen": at, "score": score}


HISTORY = [sighting(OLD, "P000001", "hetu", MONDAY - timedelta(days=20))]
PREVIOUS = [sighting(PREV, "P000002", "email", MONDAY - timedelta(days=3)),
            sighting(PREV, "P000003", "hetu", MONDAY - timedelta(days=3))]
THIS_WEEK = [
    sighting(HOSTILE, "P000001", "hetu", EXPOSURE_START),
    sighting(HOSTILE, "P000004", "hetu", EXPOSURE_START),
    sighting(HOSTILE, "P000005", "phone", EXPOSURE_START),
    sighting(HOSTILE, "P000005", "fragment", EXPOSURE_START, score=0.8234),
    sighting(NEW_PAGE, "P000006", "customer_id", MONDAY + timedelta(days=4),
             source="leakforum"),
]
PAGES = {HOSTILE: {"url": HOSTILE, "source": "pastes",
                   "first_seen": MONDAY + timedelta(days=1)}}


def first_seen_of(docs: list[dict[str, Any]]) -> FirstSeen:
    """What `storage.exposure.first_sightings` answers for these sightings."""
    out = FirstSeen()
    for d in docs:
        for table, key in ((out.refs, d["ref"]), (out.sources, d["source"])):
            if key not in table or d["first_seen"] < table[key]:
                table[key] = d["first_seen"]
    return out


ALERTS = [
    {"alert_key": "s-1", "kind": "sighting", "created": MONDAY + timedelta(days=1, hours=3),
     "source": "pastes", "url": HOSTILE, "persons": 3},
    {"alert_key": "h-1", "kind": "health", "created": MONDAY + timedelta(days=2),
     "source": "forum-a", "problem": "canary_missing"},
    {"alert_key": "s-2", "kind": "sighting", "created": MONDAY + timedelta(days=4, hours=1),
     "source": "leakforum", "url": NEW_PAGE, "persons": 1},
]
DELIVERIES = {
    "s-1": [{"channel": "hook", "mode": "immediate", "state": "sent", "attempts": 1,
             "sent_at": MONDAY + timedelta(days=1, hours=3, minutes=1)},
            {"channel": "mail", "mode": "immediate", "state": "dead", "attempts": 8,
             "sent_at": None}],
    "h-1": [{"channel": "hook", "mode": "immediate", "state": "pending", "attempts": 2,
             "sent_at": None}],
    "s-2": [],
}


def healths(at: datetime) -> Health:
    rows = [
        SourceHealth(source="pastes", verdict="ok", reason="last success 2026-11-21 10:00 UTC",
                     last_run=at - timedelta(hours=1), last_run_state="done",
                     last_success=at - timedelta(hours=1), last_new=at - timedelta(days=2),
                     runs_counted=10),
        SourceHealth(source="forum-a", verdict="failing",
                     reason="3 failed runs in a row since 2026-11-18 09:00 UTC",
                     last_run=at - timedelta(hours=2), last_run_state="failed",
                     failed_streak=3, errors={"tor_unavailable": 3, "http_503": 1},
                     runs_counted=10),
    ]
    return health_from(at, rows)


def report(now: datetime | None = None, *, empty: bool = False):
    """The report of WEEK over the data above (or over nothing)."""
    now = now or MONDAY + timedelta(days=9, hours=12)
    if empty:
        return assemble(WEEK, now, FirstSeen(), [], {}, [], {}, health_from(now, []))
    docs = HISTORY + PREVIOUS + THIS_WEEK
    window = PREVIOUS + THIS_WEEK
    pages = {u: PAGES[u] for u in top_page_urls(in_week(window, WEEK)) if u in PAGES}
    return assemble(WEEK, now, first_seen_of(docs), window, pages, ALERTS, DELIVERIES,
                    healths(now))
