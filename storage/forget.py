"""Forgetting an enrolled person: `vahti forget --ref REF`.

What goes, and what stays:

- the watchlist document (its digests and fingerprints), removed inside an
  open-write mark (storage/watchlist.py), and the watchlist version is bumped so
  every scanner and cached index drops the person; a forget killed there leaves
  the mark, so readers build from the database until the next `vahti forget` or
  `vahti enroll` removes it;
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
- the false positives remembered for the ref (storage/false_positives.py) go: once
  re-enrolled, the person is alerted on that content again;
- page records hold only counts per identifier type, no ref: they stay;
- the retained candidates (keys of every identifier on every page, enrolled or
  not, for searches and retro-hunts) lose the person's keys: every identifier of
  theirs under every type it reads as (the `readings` stored at enrolment: a
  phone number's digits are a CPR number too), and their note's fingerprints
  in the pages that hold enough of them to ever match it. The documents are
  rewritten, and the candidates generation bumped so that every machine's local
  candidate index is rebuilt before its next use. So a search for them finds
  nothing, and a later re-enrolment finds only pages seen from then on. This
  runs first, while the watchlist entry still says which keys are theirs, and
  once more at the end over what crawls retained meanwhile.

What a forget cannot remove is listed by `vahti forget` itself (`stays`): the
old bytes in the database files until compaction, the oplog, backups, dumps,
delivered alerts, keyed location tokens in page URLs.

Each step is idempotent, so a forget that died half-way is completed by running
it again (the ref stays "known" while any sighting or alert still names it).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from pymongo.errors import OperationFailure

from vahti.matchers.digest import u64_of
from vahti.storage import candidates, false_positives, retired_people, schema, watchlist
from vahti.storage.clock import now
from vahti.storage.connection import Storage

ALERT_MODES = ("immediate", "digest")  # outbox rows of one alert (summaries cover several)
FRAGMENT = "fragment"  # the retained type of note fingerprints (matchers/retain.py)
# collections a forget changes: what `compact` would rewrite
CHANGED = (schema.WATCHLIST, schema.SIGHTINGS, schema.CANDIDATES, schema.ALERTS, schema.OUTBOX,
           schema.RETIRED_PEOPLE, schema.FALSE_POSITIVES)
COMMAND_NOT_FOUND = 59


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
    retained_documents: int = 0  # retained candidate documents rewritten without their keys
    retained_keys: int = 0  # keys removed from them (identifiers, readings, fingerprints)
    # False: enrolled before the other readings were stored; keys of those stay
    readings_known: bool = True
    # copies of their keys under retired keys (kept by a key rotation for this)
    retired_key_copies: int = 0
    false_positives: int = 0  # (page content, ref) pairs marked false positive

    @property
    def known(self) -> bool:
        return bool(self.watchlist or self.sightings or self.alerts_scrubbed
                    or self.retired_key_copies or self.false_positives)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_forget(storage: Storage, ref: str) -> ForgetReport:
    """What `forget_ref` would remove and change, without changing anything."""
    db = storage.db
    report = ForgetReport(ref=ref)
    report.watchlist = db[schema.WATCHLIST].count_documents({"_id": ref})
    report.retired_key_copies = db[schema.RETIRED_PEOPLE].count_documents({"ref": ref})
    report.sightings = db[schema.SIGHTINGS].count_documents({"ref": ref})
    report.false_positives = false_positives.of_ref(storage, ref)
    for alert in db[schema.ALERTS].find({"refs": ref}, {"_id": 0, "alert_key": 1, "refs": 1}):
        emptied = set(alert.get("refs", [])) <= {ref}
        _count_deliveries(storage, report, alert["alert_key"], emptied)
    return report


def forget_ref(storage: Storage, ref: str, fragment_min_shared: int = 1) -> ForgetReport:
    """Remove the person `ref`, their sightings and their keys from the retained
    candidates; scrub the ref from alerts.

    `fragment_min_shared`: the note's fingerprints are removed from the pages that
    hold at least this many of them (the fewest a fragment match needs).
    """
    db = storage.db
    report = ForgetReport(ref=ref)
    doc = db[schema.WATCHLIST].find_one({"_id": ref})
    started = now()
    keys: dict[str, np.ndarray] = {}
    if doc is not None:
        report.readings_known = "readings" in doc
        keys = person_keys(watchlist.get_entry(storage, ref))
        _remove_retained(storage, report, keys, fragment_min_shared)
    # their keys under each retired key (a key rotation kept them): from what was
    # retained under that key
    for key_id, old_keys in retired_people.of_ref(storage, ref):
        _remove_retained(storage, report, old_keys, fragment_min_shared, key_id=key_id)
    report.retired_key_copies = retired_people.remove_ref(storage, ref)
    report.false_positives = false_positives.remove_ref(storage, ref)
    # then the watchlist: scanners that reload from here on no longer find the person.
    # Inside an open-write mark: a forget killed between the delete and the version's
    # bump leaves the mark, so no reader takes a cached index that still holds the
    # person (the embedded server's cache is taken by its state token alone).
    if doc is not None:
        with watchlist.open_write(storage, watchlist.FORGET):
            report.watchlist = db[schema.WATCHLIST].delete_one({"_id": ref}).deleted_count
    for alert in list(db[schema.ALERTS].find({"refs": ref}, {"_id": 0})):
        _scrub_alert(storage, report, alert)
    # sightings last: the alerts' counts were corrected from them
    report.sightings = db[schema.SIGHTINGS].delete_many({"ref": ref}).deleted_count
    if doc is None and report.known:
        watchlist.bump_version(storage)  # (the open write bumped it as it closed)
    report.watchlist_version = watchlist.version(storage)
    # what crawls retained while this ran (they still had the person's identifiers)
    _remove_retained(storage, report, keys, fragment_min_shared, since=started)
    return report


def person_keys(entry: watchlist.WatchlistEntry) -> dict[str, np.ndarray]:
    """Every 64-bit key a page's retained candidates can hold for this person: their
    identifiers (as a scan keys them), the other types those read as, the note's
    fingerprints."""
    keys: dict[str, list[int]] = {}
    for group in (entry.digests, entry.readings):
        for id_type, digests in group.items():
            keys.setdefault(id_type, []).extend(u64_of(d) for d in digests)
    out = {t: np.array(ks, dtype=np.uint64) for t, ks in keys.items()}
    if entry.fingerprints:
        out[FRAGMENT] = np.frombuffer(entry.fingerprints, dtype="<u8").astype(np.uint64)
    return out


def _remove_retained(storage: Storage, report: ForgetReport, keys: dict[str, np.ndarray],
                     fragment_min_shared: int, since=None, key_id: str = "") -> None:
    removal = candidates.remove_keys(storage, keys, {FRAGMENT: fragment_min_shared}, since,
                                     key_id)
    report.retained_documents += removal.documents
    report.retained_keys += removal.keys


@dataclass
class Compaction:
    supported: bool = True
    compacted: list[str] = field(default_factory=list)
    error: str = ""


def compact(storage: Storage) -> Compaction:
    """Ask the server to rewrite the collections a forget changed, so that their files
    stop holding the removed bytes (MongoDB's `compact`; not every server has it)."""
    result = Compaction()
    for name in CHANGED:
        try:
            storage.db.command({"compact": name})
        except OperationFailure as exc:
            if exc.code == COMMAND_NOT_FOUND:
                result.supported = False
            else:
                result.error = f"{name}: {exc.code_name or exc.code}"
            break
        result.compacted.append(name)
    return result


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
