"""Forgetting an enrolled person: `vahti forget --ref REF`.

What goes, and what stays:

- the watchlist document (its digests and fingerprints), and the watchlist
  version is bumped so every scanner and cached index drops the person;
- every sighting of the ref;
- alerts stay as events (something was seen on that URL at that time, and it
  was reported), but lose the ref: it leaves `refs` and `fragment_scores`,
  `persons` goes down by one, the identifier `counts` lose the hits the ref had
  on that page when the alert was raised, and `forgotten_persons` (+1) and
  `scrubbed` note that the alert was changed afterwards;
- deliveries not yet sent are built from the alert when they are sent, so they go
  out without the ref. An alert left with nobody in it is not worth a message:
  its pending deliveries are withdrawn (removed from the outbox, and from the
  digest summaries not yet sent). Deliveries already sent cannot be recalled: they
  are counted per channel, for the data-protection officer's record;
- page records hold only counts per identifier type, no ref: they stay.

Each step is idempotent, so a forget that died half-way is completed by running
it again (the ref stays "known" while any sighting or alert still names it).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from storage import schema, watchlist
from storage.clock import now
from storage.connection import Storage

ALERT_MODES = ("immediate", "digest")  # outbox rows of one alert (summaries cover several)


@dataclass
class ForgetReport:
    ref: str
    watchlist: int = 0  # 1 when the person was enrolled
    sightings: int = 0
    alerts_scrubbed: int = 0  # alerts that named the ref (they stay, without it)
    alerts_emptied: int = 0  # of those, alerts about nobody else
    deliveries_withdrawn: int = 0  # pending deliveries of emptied alerts, not sent now
    deliveries_pending: int = 0  # pending deliveries that will go out without the ref
    deliveries_sent: dict[str, int] = field(default_factory=dict)  # channel -> already sent
    watchlist_version: int = 0  # after the forget (0 in a plan)

    @property
    def known(self) -> bool:
        return bool(self.watchlist or self.sightings or self.alerts_scrubbed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_forget(storage: Storage, ref: str) -> ForgetReport:
    """What `forget_ref` would remove and change, without changing anything."""
    db = storage.db
    report = ForgetReport(ref=ref)
    report.watchlist = db[schema.WATCHLIST].count_documents({"_id": ref})
    report.sightings = db[schema.SIGHTINGS].count_documents({"ref": ref})
    for alert in db[schema.ALERTS].find({"refs": ref}, {"_id": 0, "alert_key": 1, "refs": 1}):
        emptied = set(alert.get("refs", [])) <= {ref}
        _count_deliveries(storage, report, alert["alert_key"], emptied)
    return report


def forget_ref(storage: Storage, ref: str) -> ForgetReport:
    """Remove the person `ref` and their sightings; scrub the ref from alerts."""
    db = storage.db
    report = ForgetReport(ref=ref)
    # the watchlist first: scanners that reload from here on no longer find the person
    report.watchlist = db[schema.WATCHLIST].delete_one({"_id": ref}).deleted_count
    for alert in list(db[schema.ALERTS].find({"refs": ref}, {"_id": 0})):
        _scrub_alert(storage, report, alert)
    # sightings last: the alerts' counts were corrected from them
    report.sightings = db[schema.SIGHTINGS].delete_many({"ref": ref}).deleted_count
    report.watchlist_version = (watchlist.bump_version(storage) if report.known
                                else watchlist.version(storage))
    return report


def _count_deliveries(storage: Storage, report: ForgetReport, alert_key: str,
                      emptied: bool) -> None:
    report.alerts_scrubbed += 1
    report.alerts_emptied += emptied
    rows = storage.db[schema.OUTBOX].find(
        {"alert_key": alert_key, "mode": {"$in": list(ALERT_MODES)}},
        {"_id": 0, "state": 1, "channel": 1})
    for row in rows:
        if row["state"] == "sent":
            report.deliveries_sent[row["channel"]] = (
                report.deliveries_sent.get(row["channel"], 0) + 1)
        elif row["state"] == "pending":
            if emptied:
                report.deliveries_withdrawn += 1
            else:
                report.deliveries_pending += 1


def _scrub_alert(storage: Storage, report: ForgetReport, alert: dict[str, Any]) -> None:
    db = storage.db
    key = alert["alert_key"]
    emptied = set(alert.get("refs", [])) <= {report.ref}
    _count_deliveries(storage, report, key, emptied)
    if emptied:
        # before the alert changes: a rerun after a crash still sees the ref here
        _withdraw_deliveries(storage, key)
    counts = dict(alert.get("counts") or {})
    created = alert.get("created")
    query: dict[str, Any] = {"ref": report.ref, "page_url": alert.get("url", "")}
    if created is not None:
        query["first_seen"] = {"$lte": created}  # the hits this alert reported
    own = Counter(s["id_type"] for s in db[schema.SIGHTINGS].find(query, {"id_type": 1,
                                                                          "kind": 1})
                  if s.get("kind") != "fragment" and s["id_type"] != "fragment")
    counts = {t: n - own[t] for t, n in counts.items() if n - own[t] > 0}
    scores = [f for f in alert.get("fragment_scores") or [] if f.get("ref") != report.ref]
    db[schema.ALERTS].update_one(
        {"alert_key": key, "refs": report.ref},  # once: a rerun finds the ref gone
        {"$pull": {"refs": report.ref},
         "$inc": {"persons": -1, "forgotten_persons": 1},
         "$set": {"counts": counts, "fragment_scores": scores, "scrubbed": now()}},
    )


def _withdraw_deliveries(storage: Storage, alert_key: str) -> None:
    """Pending deliveries of an alert about nobody any more: not sent."""
    outbox = storage.db[schema.OUTBOX]
    outbox.delete_many({"alert_key": alert_key, "state": "pending",
                        "mode": {"$in": list(ALERT_MODES)}})
    # digest summaries made but not sent yet: without this alert (and gone if empty)
    outbox.update_many({"mode": "summary", "state": "pending", "alert_keys": alert_key},
                       {"$pull": {"alert_keys": alert_key}})
    outbox.delete_many({"mode": "summary", "state": "pending", "alert_keys": {"$size": 0}})
