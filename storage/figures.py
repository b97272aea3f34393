"""Figures for the daemon's metrics, read from the database: what holds for the whole
database and survives restarts (last run and last success per source, the outbox
backlog).

A scrape must stay cheap on a database of years, and the embedded server sorts a
source's runs in memory and counts by scanning. So:
- `latest_runs` (every run of one source: O(its runs)) runs once per source in a
  daemon's life, to seed the times;
- after that, `job_ends` reads the job leases (one small document per source, where
  every daemon notes the end and state of each crawl it ran);
- `outbox_backlog` reads only rows not yet sent (the `state_due` index): delivered
  rows are counted by the daemon as they go (its delivery counter).

Nothing read here is an identifier, a URL or a key: only source and channel names
(operator-chosen config names), states and times leave this module.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from pymongo import DESCENDING

from vahti.storage import schema
from vahti.storage.connection import Storage

CRAWL = "crawl"
DONE = "done"
JOB_PREFIX = "source:"  # the job lease of a source (scheduler.jobs.job_id)
BACKLOG_STATES = ("pending", "sending", "dead")


@dataclass(frozen=True)
class SourceTimes:
    last_run: datetime | None = None  # end of the latest crawl, whatever its result
    last_success: datetime | None = None  # end of the latest crawl in state done

    def merged(self, other: SourceTimes) -> SourceTimes:
        """The later of each time."""
        return SourceTimes(_later(self.last_run, other.last_run),
                           _later(self.last_success, other.last_success))


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(_aware(a), _aware(b))


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def unix(when: datetime) -> float:
    """Unix time of a stored time (stored times are UTC, with or without tzinfo)."""
    return _aware(when).timestamp()


def _latest_end(storage: Storage, query: dict) -> datetime | None:
    doc = storage.db[schema.RUNS].find_one(
        {**query, "finished": {"$exists": True}}, {"_id": 0, "finished": 1},
        sort=[("started", DESCENDING)])
    value = (doc or {}).get("finished")
    return value if isinstance(value, datetime) else None


def latest_runs(storage: Storage, source: str) -> SourceTimes:
    """The ends of the source's latest crawl run and latest successful one."""
    return SourceTimes(
        last_run=_latest_end(storage, {"source": source, "kind": CRAWL}),
        last_success=_latest_end(storage, {"source": source, "kind": CRAWL, "state": DONE}))


def job_ends(storage: Storage) -> dict[str, SourceTimes]:
    """Per source, the end of the last crawl a daemon ran (from the job leases)."""
    out = {}
    for doc in storage.db[schema.LEASES].find(
            {"kind": "job"}, {"_id": 1, "last_end": 1, "last_state": 1}):
        name, end = str(doc["_id"]), doc.get("last_end")
        if not name.startswith(JOB_PREFIX) or not isinstance(end, datetime):
            continue
        out[name[len(JOB_PREFIX):]] = SourceTimes(
            last_run=end, last_success=end if doc.get("last_state") == DONE else None)
    return out


def outbox_backlog(storage: Storage) -> Counter[tuple[str, str]]:
    """Outbox rows not delivered (pending, being sent, dead), by (channel, state)."""
    rows = storage.db[schema.OUTBOX].find({"state": {"$in": list(BACKLOG_STATES)}},
                                          {"_id": 0, "channel": 1, "state": 1})
    return Counter((str(r.get("channel", "")), str(r.get("state", ""))) for r in rows)
