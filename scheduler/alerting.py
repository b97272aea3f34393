"""Raising alerts from sightings (and for source health), idempotently.

A sighting alert says: on this page, these of the controller's people (by their
pseudonymous refs) turned up for the first time. It holds only `alert_key`,
`kind`, `created`, `source`, `url`, `page_content_id` (keyed: matchers/contentid.py),
`counts` (identifier hits per id_type), `fragment_scores` (per ref the best
record-fragment score), `persons`, `refs` and `first_seen`: never an identifier, a
name, page text or a plain hash of it.

Writes go alert (upsert on its key) -> outbox rows (upsert on delivery key) ->
sightings marked `alerted`. The key is a hash of the page URL, the sightings'
occurrence keys and the page's keyed content ids, so a pass that dies anywhere is
simply run again: it computes the same key, writes nothing twice and finishes the
job (at least once, never lost). The content ids make it unguessable: an e-mail
shows the key but not the URL, and a hash of a guessable URL (a forum's sequential
thread ids) and offsets alone would give the URL back by enumeration.

A person an analyst marked false positive on a page's content (storage/false_positives.py)
is not alerted again for that same content: their sightings there are marked alerted
with `fp_suppressed` (the time), which the weekly report counts.

Only one raise pass runs at a time across every process and host on the database
(the pass lease "pass:raise-alerts"): two passes at once would each group what they
read into an alert per page, and a sighting stored between their reads makes the keys
differ, so one page would get overlapping alerts.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from vahti.scheduler.channels.config import as_channels
from vahti.scheduler.channels.message import plain
from vahti.scheduler.delivery import enqueue_deliveries
from vahti.storage import alerts as alerts_repo
from vahti.storage import false_positives, leases
from vahti.storage.clock import now as clock_now
from vahti.storage.connection import Storage

log = logging.getLogger("vahti.alerts")

CANARY_PREFIX = "CANARY-"  # canaries are health signals, never person alerts
RAISE_LEASE = "raise-alerts"
RAISE_LEASE_S = 60.0  # renewed while a pass runs; a holder that died frees it after this
RAISE_WAIT_S = 60.0  # a pass normally takes well under a second: wait for the other one
ALERT_FIELDS = ("alert_key", "kind", "created", "source", "url", "page_content_id", "key_id",
                "counts", "fragment_scores", "persons", "refs", "first_seen")


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:40]


def occurrence_key(sighting: dict[str, Any]) -> str:
    return json.dumps([sighting["page_url"], sighting["ref"], sighting["id_type"],
                       sighting["start"]], ensure_ascii=False, separators=(",", ":"))


def sighting_alert_key(page_url: str, sightings: Iterable[dict[str, Any]]) -> str:
    """Deterministic: the page, the sorted occurrence keys the alert covers and the
    page's keyed content ids (128 secret bits: see the module doc)."""
    sightings = list(sightings)
    occurrences = sorted(occurrence_key(s) for s in sightings)
    content_ids = sorted({str(s.get("page_content_id", "")) for s in sightings})
    return "s-" + _digest("sighting", page_url, *content_ids, "", *occurrences)


def health_alert_key(source: str, problem: str, bucket: str) -> str:
    return "h-" + _digest("health", source, problem, bucket)


def build_sighting_alert(page_url: str, sightings: list[dict[str, Any]],
                         now: datetime) -> dict[str, Any]:
    """The alert for these sightings of one page (the persons new on it)."""
    counts: dict[str, int] = {}
    best: dict[str, float] = {}
    for s in sightings:
        if s.get("kind") == "fragment" or s.get("id_type") == "fragment":
            best[s["ref"]] = max(best.get(s["ref"], 0.0), float(s.get("score") or 0.0))
        else:
            counts[s["id_type"]] = counts.get(s["id_type"], 0) + 1
    latest = max(sightings, key=lambda s: (_ts(s.get("last_seen")), occurrence_key(s)))
    refs = sorted({s["ref"] for s in sightings})
    firsts = [_ts(s["first_seen"]) for s in sightings if s.get("first_seen")]
    return {
        "alert_key": sighting_alert_key(page_url, sightings),
        "kind": "sighting",
        "created": now,
        "source": str(latest.get("source", "")),
        "url": page_url,
        "page_content_id": str(latest.get("page_content_id", "")),
        "key_id": str(latest.get("key_id", "")),  # the key that content id is under
        "counts": dict(sorted(counts.items())),
        "fragment_scores": [{"ref": r, "score": round(best[r], 4)} for r in sorted(best)],
        "persons": len(refs),
        "refs": refs,
        "first_seen": min(firsts) if firsts else now,
    }


def _ts(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.min.replace(tzinfo=UTC)


def raise_sighting_alerts(storage: Storage, channels: Any, now: datetime | None = None, *,
                          wait_s: float = RAISE_WAIT_S) -> list[dict[str, Any]]:
    """One pass: one alert per page for the persons new on it; returns those alerts.

    `channels`: parsed channels (`parse_channels(cfg.tables.get("channels", {}))`) or
    the raw tables. Canary refs (CANARY-...) are left untouched for the canary check.
    When another process's pass still runs after `wait_s`, nothing is raised: the
    sightings stay for the next pass.
    """
    owner = leases.make_owner()
    with leases.held(storage, RAISE_LEASE, owner, RAISE_LEASE_S, wait_s=wait_s) as ours:
        if not ours:
            log.warning("another process is still raising alerts after %gs; "
                        "this pass is left to the next one", wait_s)
            return []
        return _raise_pass(storage, as_channels(channels), now or clock_now())


def _raise_pass(storage: Storage, chans: Any, now: datetime) -> list[dict[str, Any]]:
    by_page: dict[str, list[dict[str, Any]]] = {}
    for s in alerts_repo.unalerted_sightings(storage, skip_ref_prefix=CANARY_PREFIX):
        by_page.setdefault(s["page_url"], []).append(s)
    raised: list[dict[str, Any]] = []
    for page_url in sorted(by_page):
        group = by_page[page_url]
        seen_before = alerts_repo.alerted_refs_on_page(storage, page_url)
        known_false = false_positives.suppressed_pairs(storage, group)
        suppressed = [s for s in group if false_positives.is_suppressed(s, known_false)]
        if suppressed:  # before the rest is marked alerted below
            false_positives.mark_suppressed(storage, (s["_id"] for s in suppressed), now)
            log.info("%d sightings on a page of source %s left unalerted: known false "
                     "positives", len(suppressed), suppressed[0].get("source", ""))
        new = [s for s in group if s["ref"] not in seen_before
               and not false_positives.is_suppressed(s, known_false)]
        if new:
            alert, created = alerts_repo.upsert_alert(
                storage, build_sighting_alert(page_url, new, now))
            enqueue_deliveries(storage, chans, alert, now)
            raised.append(alert)
            log.info("alert %s: %d persons on a page of source %s%s", alert["alert_key"],
                     alert["persons"], alert["source"], "" if created else " (re-raised)")
        alerts_repo.mark_sightings_alerted(storage, (s["_id"] for s in group))
    return raised


def raise_health_alert(storage: Storage, channels: Any, *, source: str, problem: str,
                       since: datetime | None, details: dict,
                       now: datetime | None = None) -> bool:
    """A source-health or canary alert; returns whether it is new.

    The key is hash(source, problem, `since` or the UTC day), so an ongoing problem
    alerts once (per day when `since` is not known), not on every run. `details`
    must hold counts, states and times only, never page text.
    """
    chans = as_channels(channels)
    now = now or clock_now()
    # whole seconds: a `since` read back from the database has lost its microseconds
    bucket = (_ts(since).astimezone(UTC).replace(microsecond=0).isoformat() if since
              else now.astimezone(UTC).date().isoformat())
    alert = {
        "alert_key": health_alert_key(source, problem, bucket),
        "kind": "health",
        "created": now,
        "source": source,
        "problem": problem,
        "since": since,
        "details": plain(dict(details or {})),
    }
    stored, created = alerts_repo.upsert_alert(storage, alert)
    enqueue_deliveries(storage, chans, stored, now)  # also after a crash before this step
    if created:
        log.info("health alert %s: source %s: %s", stored["alert_key"], source, problem)
    return created
