"""The weekly exposure report: storage queries in, `WeeklyReport` out.

`build_weekly` runs the queries (`storage.exposure`, `storage.outbox`) and judges source
health (`scheduler.health`); `assemble` is the pure part that turns their results into
the model, so it is tested without a database. Weeks are ISO weeks in UTC.

A person (a ref) is *newly exposed* in a week when their first sighting ever falls in
it. Canary refs (CANARY-...) are health signals of sources, not persons: left out.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from statistics import median
from typing import Any

from vahti.reports.dpo import CATEGORIES, OTHER, art33_mark, category_of
from vahti.reports.model import (
    AlertRow,
    Alerts,
    CategoryRow,
    ChannelStates,
    Day,
    Delivery,
    Dpo,
    Fragments,
    Headline,
    Health,
    HealthRow,
    NewSource,
    PageRow,
    SourceRow,
    Triage,
    TypeRow,
    WeeklyReport,
)
from vahti.reports.week import Week
from vahti.storage.alert_states import CLOSED, NEW, RESOLVED, STATES, state_of
from vahti.storage.exposure import FirstSeen

CANARY_PREFIX = "CANARY-"  # as scheduler.alerting: canaries are never persons
TOP_PAGES = 10
ALERT_ITEMS = 50
DELIVERY_STATES = ("pending", "sending", "sent", "dead")


@dataclass(frozen=True)
class TriageCounts:
    """What the triage part needs beyond the week's alerts (storage queries)."""

    open_older: int = 0  # alerts of earlier weeks still open
    false_positives_marked: int = 0  # alerts marked false positive in the week
    suppressed_repeats: int = 0  # (page, person) pairs left unalerted in the week


def is_fragment(doc: Mapping[str, Any]) -> bool:
    return doc.get("kind") == "fragment" or doc.get("id_type") == "fragment"


def in_week(docs: Iterable[Mapping[str, Any]], week: Week) -> list[Mapping[str, Any]]:
    return [d for d in docs if d["first_seen"] in week]


def top_page_urls(docs: Iterable[Mapping[str, Any]], n: int = TOP_PAGES) -> list[str]:
    """The pages with the most persons among these sightings (then most sightings, URL)."""
    persons: dict[str, set[str]] = defaultdict(set)
    count: Counter[str] = Counter()
    for d in docs:
        persons[d["page_url"]].add(d["ref"])
        count[d["page_url"]] += 1
    ranked = sorted(persons, key=lambda url: (-len(persons[url]), -count[url], url))
    return ranked[:n]


# --- the pure part ----------------------------------------------------------------------------


def assemble(week: Week, now: datetime, first: FirstSeen, window: Sequence[Mapping[str, Any]],
             pages: Mapping[str, Mapping[str, Any]], alerts: Sequence[Mapping[str, Any]],
             deliveries: Mapping[str, Sequence[Mapping[str, Any]]],
             health: Health, triage_counts: TriageCounts = TriageCounts()) -> WeeklyReport:
    """The report of `week` from the query results.

    `first`: first sightings of refs and sources before the end of the week; `window`:
    the sightings first seen in the previous week and this one; `pages`: page records
    of (at least) the top pages; `alerts`: alerts created in the week; `deliveries`:
    their outbox rows by alert key; `health`: the sources' health at report time;
    `triage_counts`: the triage figures that are not about the week's alerts.
    """
    previous = week.previous()
    docs = in_week(window, week)
    refs = {d["ref"] for d in docs}
    new_refs = sorted(r for r, seen in first.refs.items() if seen in week)
    new_set = set(new_refs)
    new_previous = sum(1 for seen in first.refs.values() if seen in previous)
    new_source_names = sorted(s for s, seen in first.sources.items() if seen in week)
    fragments = _fragments(docs)
    alert_part = _alerts(alerts, deliveries)
    headline = Headline(
        new_persons=len(new_refs), new_persons_previous=new_previous,
        total_exposed=sum(1 for seen in first.refs.values() if seen < week.end),
        persons_seen=len(refs), sightings=len(docs),
        pages=len({d["page_url"] for d in docs}), sources=len({d["source"] for d in docs}),
        new_sources=len(new_source_names), fragment_sightings=fragments.sightings,
        alerts=alert_part.total, unhealthy_sources=health.unhealthy,
    )
    return WeeklyReport(
        week=week, previous=previous, generated_at=now, headline=headline,
        by_source=_by_source(docs, new_set, set(new_source_names)),
        by_type=_by_type(docs),
        top_pages=_top_pages(docs, pages),
        fragments=fragments,
        new_sources=_new_sources(docs, first, new_source_names),
        health=health, alerts=alert_part,
        trend=_trend(window, first, week),
        dpo=_dpo(docs, now, new_refs),
        triage=_triage(alerts, triage_counts),
    )


def _group(docs: Iterable[Mapping[str, Any]], key: str) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for d in docs:
        out[str(d.get(key, ""))].append(d)
    return out


def _by_source(docs: Sequence[Mapping[str, Any]], new_refs: set[str],
               new_sources: set[str]) -> list[SourceRow]:
    rows = []
    for source, group in _group(docs, "source").items():
        refs = {d["ref"] for d in group}
        rows.append(SourceRow(source=source, sightings=len(group), persons=len(refs),
                              new_persons=len(refs & new_refs),
                              pages=len({d["page_url"] for d in group}),
                              new_source=source in new_sources))
    rows.sort(key=lambda r: (-r.persons, -r.sightings, r.source))
    return rows


def _by_type(docs: Sequence[Mapping[str, Any]]) -> list[TypeRow]:
    rows = []
    for id_type, group in _group(docs, "id_type").items():
        rows.append(TypeRow(id_type=id_type, category=category_of(id_type).key,
                            sightings=len(group), persons=len({d["ref"] for d in group})))
    rows.sort(key=lambda r: (-r.persons, -r.sightings, r.id_type))
    return rows


def _top_pages(docs: Sequence[Mapping[str, Any]],
               pages: Mapping[str, Mapping[str, Any]]) -> list[PageRow]:
    by_page = _group(docs, "page_url")
    rows = []
    for url in top_page_urls(docs):
        group = by_page[url]
        record = pages.get(url) or {}
        rows.append(PageRow(
            url=url, source=str(record.get("source") or group[0].get("source", "")),
            persons=len({d["ref"] for d in group}), sightings=len(group),
            first_seen=record.get("first_seen") or min(d["first_seen"] for d in group)))
    return rows


def _fragments(docs: Sequence[Mapping[str, Any]]) -> Fragments:
    frags = [d for d in docs if is_fragment(d)]
    if not frags:
        return Fragments()
    return Fragments(sightings=len(frags), persons=len({d["ref"] for d in frags}),
                     pages=len({d["page_url"] for d in frags}),
                     best_score=round(max(float(d.get("score") or 0.0) for d in frags), 4))


def _new_sources(docs: Sequence[Mapping[str, Any]], first: FirstSeen,
                 names: Sequence[str]) -> list[NewSource]:
    by_source = _group(docs, "source")
    rows = []
    for name in names:
        group = by_source.get(name, [])
        rows.append(NewSource(source=name, first_seen=first.sources[name],
                              persons=len({d["ref"] for d in group}), sightings=len(group),
                              pages=len({d["page_url"] for d in group})))
    rows.sort(key=lambda r: (r.first_seen, r.source))
    return rows


def _alerts(alerts: Sequence[Mapping[str, Any]],
            deliveries: Mapping[str, Sequence[Mapping[str, Any]]]) -> Alerts:
    out = Alerts(total=len(alerts), items_total=len(alerts))
    states: Counter[str] = Counter()
    channels: dict[str, Counter[str]] = defaultdict(Counter)
    items = []
    for alert in alerts:
        kind = str(alert.get("kind", ""))
        if kind == "sighting":
            out.sighting += 1
            out.persons += int(alert.get("persons") or 0)
        elif kind == "health":
            out.health += 1
        rows = [Delivery(channel=str(d.get("channel", "")), mode=str(d.get("mode", "")),
                         state=str(d.get("state", "")), attempts=int(d.get("attempts") or 0),
                         sent_at=d.get("sent_at"))
                for d in deliveries.get(alert["alert_key"], [])]
        for row in rows:
            states[row.state] += 1
            channels[row.channel][row.state] += 1
        if not any(row.state == "sent" for row in rows):
            out.undelivered += 1
        items.append(AlertRow(created=alert["created"], kind=kind,
                              source=str(alert.get("source", "")),
                              persons=int(alert.get("persons") or 0),
                              url=str(alert.get("url") or ""),
                              problem=str(alert.get("problem") or ""), deliveries=rows,
                              state=state_of(alert)))
    out.states = {s: states.get(s, 0) for s in DELIVERY_STATES}
    for state in sorted(set(states) - set(DELIVERY_STATES)):
        out.states[state] = states[state]
    out.channels = [ChannelStates(ch, {s: channels[ch].get(s, 0) for s in out.states})
                    for ch in sorted(channels)]
    items.sort(key=lambda a: a.created, reverse=True)
    out.items = items[:ALERT_ITEMS]
    return out


def _triage(alerts: Sequence[Mapping[str, Any]], counts: TriageCounts) -> Triage:
    states = Counter(state_of(a) for a in alerts)
    to_ack: list[float] = []
    to_resolve: list[float] = []
    for alert in alerts:
        created = _aware(alert["created"])
        history = alert.get("history") or []
        acked = next((h for h in history if h.get("previous_state") == NEW), None)
        resolved = next((h for h in history if h.get("state") == RESOLVED), None)
        if acked is not None:
            to_ack.append(max((_aware(acked["changed"]) - created).total_seconds(), 0.0))
        if resolved is not None:
            to_resolve.append(max((_aware(resolved["changed"]) - created).total_seconds(), 0.0))
    return Triage(
        states={s: states.get(s, 0) for s in STATES},
        open=sum(n for s, n in states.items() if s not in CLOSED),
        handled=sum(states.get(s, 0) for s in CLOSED),
        open_older=counts.open_older, acknowledged=len(to_ack),
        median_ack_s=float(median(to_ack)) if to_ack else None,
        median_resolve_s=float(median(to_resolve)) if to_resolve else None,
        false_positives_marked=counts.false_positives_marked,
        suppressed_repeats=counts.suppressed_repeats)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _trend(window: Sequence[Mapping[str, Any]], first: FirstSeen, week: Week) -> list[Day]:
    previous = week.previous()
    days = previous.days() + week.days()
    new: Counter = Counter(seen.date() for seen in first.refs.values()
                           if previous.start <= seen < week.end)
    sightings: Counter = Counter()
    persons: dict = defaultdict(set)
    for d in window:
        day = d["first_seen"].date()
        sightings[day] += 1
        persons[day].add(d["ref"])
    return [Day(date=day, new_persons=new.get(day, 0), persons_seen=len(persons.get(day, ())),
                sightings=sightings.get(day, 0), in_week=i >= 7)
            for i, day in enumerate(days)]


def _dpo(docs: Sequence[Mapping[str, Any]], now: datetime, new_refs: list[str]) -> Dpo:
    by_category: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for d in docs:
        by_category[category_of(str(d.get("id_type", ""))).key].append(d)
    categories = []
    for cat in (*CATEGORIES, OTHER):
        group = by_category.get(cat.key, [])
        if cat is OTHER and not group:
            continue
        id_types = list(cat.id_types) or sorted({str(d.get("id_type")) for d in group})
        categories.append(CategoryRow(key=cat.key, label=cat.label, id_types=id_types,
                                      special=cat.special,
                                      persons=len({d["ref"] for d in group}),
                                      sightings=len(group)))
    special = {d["ref"] for cat in CATEGORIES if cat.special
               for d in by_category.get(cat.key, [])}
    first_seen = min((d["first_seen"] for d in docs), default=None)
    mark = art33_mark(first_seen, now) if first_seen is not None else None
    return Dpo(
        categories=categories, data_subjects=len({d["ref"] for d in docs}),
        new_data_subjects=len(new_refs), special_category_subjects=len(special),
        sightings=len(docs), pages=len({d["page_url"] for d in docs}),
        first_seen=first_seen,
        art33_deadline=mark.deadline if mark else None,
        art33_passed=mark.passed if mark else None,
        art33_hours_left=mark.hours_left if mark else None,
        new_refs=new_refs, refs=sorted({d["ref"] for d in docs}),
    )


def health_from(checked_at: datetime, healths: Iterable[Any], note: str = "") -> Health:
    """`scheduler.health.SourceHealth` objects as report rows."""
    rows = [HealthRow(source=h.source, verdict=h.verdict, healthy=not h.unhealthy,
                      reason=h.reason, enabled=h.enabled, last_run=h.last_run,
                      last_success=h.last_success, last_new=h.last_new,
                      failed_streak=h.failed_streak, errors=dict(h.errors))
            for h in healths]
    return Health(checked_at=checked_at, sources=rows, note=note)


# --- from storage -----------------------------------------------------------------------------


def build_weekly(storage: Any, week: Week, sources: Iterable[Any], now: datetime,
                 *, sources_note: str = "") -> WeeklyReport:
    """Query storage and judge source health (`sources`: spiders.sources.Source objects)."""
    from vahti.scheduler.health import evaluate
    from vahti.storage import exposure, false_positives, outbox, triage

    previous = week.previous()
    first = exposure.first_sightings(storage, week.end, skip_ref_prefix=CANARY_PREFIX)
    window = exposure.sightings_between(storage, previous.start, week.end,
                                        skip_ref_prefix=CANARY_PREFIX)
    pages = exposure.pages_by_url(storage, top_page_urls(in_week(window, week)))
    alerts = exposure.alerts_between(storage, week.start, week.end)
    deliveries = outbox.deliveries_for(storage, [a["alert_key"] for a in alerts])
    checked = list(sources)
    note = sources_note or ("" if checked else "no sources configured (sources.toml)")
    health = health_from(now, evaluate(storage, checked, now) if checked else [], note)
    counts = TriageCounts(
        open_older=triage.open_before(storage, week.start),
        false_positives_marked=triage.marked_false_positive_between(storage, week.start,
                                                                    week.end),
        suppressed_repeats=false_positives.suppressed_between(storage, week.start, week.end))
    return assemble(week, now, first, window, pages, alerts, deliveries, health, counts)
