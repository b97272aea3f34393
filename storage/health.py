"""Source health from the run history: last run, last success, last new item, failures.

Small indexed queries only (runs: source+started; sightings: ref+first_seen), one
source at a time: the embedded server is slow at `$group`. The judging of these
facts (ok, failing, stale, ...) is `scheduler.health`'s; this module only reads,
except `canary_configured_since`, which notes when a canary was first seen configured.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import PyMongoError

from vahti.storage import schema
from vahti.storage.connection import Storage
from vahti.storage.errors import StorageError

SUCCESS_STATE = "done"
FAILED_STATES = ("failed", "killed")
RUNNING_STATE = "running"
CRAWL = "crawl"

# what a run summary keeps of a run record
RUN_FIELDS = ("run_id", "started", "finished", "state", "reason", "failure", "errors", "pages",
              "new_items", "new_sightings", "requests", "failed_requests", "degraded")
_PROJECTION = {"_id": 0, **dict.fromkeys(RUN_FIELDS, 1)}

T = TypeVar("T")


def _reading(fn: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except PyMongoError as exc:
            raise StorageError(f"cannot read source health: {type(exc).__name__}") from None
    return wrapper


# --- what counts as what (pure: used on stored runs and on synthetic ones alike) ------------


def is_failure(run: dict, overdue_before: datetime | None = None) -> bool:
    """A failed or killed run, or one still "running" that started before `overdue_before`
    (its process died without closing it)."""
    state = run.get("state")
    if state in FAILED_STATES:
        return True
    return (state == RUNNING_STATE and overdue_before is not None
            and run.get("started") is not None and run["started"] < overdue_before)


def is_productive(run: dict) -> bool:
    """The run found something new: new pastes/posts/files, or new sightings."""
    return (run.get("new_items") or 0) > 0 or (run.get("new_sightings") or 0) > 0


def _failure_filter(overdue_before: datetime | None) -> dict:
    clauses: list[dict] = [{"state": {"$in": list(FAILED_STATES)}}]
    if overdue_before is not None:
        clauses.append({"state": RUNNING_STATE, "started": {"$lt": overdue_before}})
    return {"$or": clauses}


_PRODUCTIVE_FILTER = {"$or": [{"new_items": {"$gt": 0}}, {"new_sightings": {"$gt": 0}}]}


# --- the overview -----------------------------------------------------------------------------


@dataclass
class RunsOverview:
    """What the run history of one source says, newest first where it is a list."""

    recent: list[dict] = field(default_factory=list)  # the last N crawl runs, newest first
    first_run: dict | None = None
    last_success: dict | None = None  # the last run in state done
    last_new: dict | None = None  # the last run that found something new
    failed_streak: int = 0  # failed runs since the last successful one (or ever)
    failing_since: datetime | None = None  # start of the first of those

    @property
    def last_run(self) -> dict | None:
        return self.recent[0] if self.recent else None

    @property
    def running(self) -> bool:
        return bool(self.recent) and self.recent[0].get("state") == RUNNING_STATE

    @classmethod
    def from_runs(cls, runs: Iterable[dict], *, recent: int = 10,
                  overdue_before: datetime | None = None) -> RunsOverview:
        """The overview of a complete run history (any order): the same answers the
        queries of `runs_overview` give, computed in memory."""
        ordered = sorted(runs, key=lambda r: r["started"], reverse=True)
        last_success = next((r for r in ordered if r.get("state") == SUCCESS_STATE), None)
        after = [r for r in ordered
                 if last_success is None or r["started"] > last_success["started"]]
        failures = [r for r in after if is_failure(r, overdue_before)]
        return cls(
            recent=ordered[:recent],
            first_run=ordered[-1] if ordered else None,
            last_success=last_success,
            last_new=next((r for r in ordered if is_productive(r)), None),
            failed_streak=len(failures),
            failing_since=failures[-1]["started"] if failures else None,
        )


@_reading
def runs_overview(storage: Storage, source: str, *, recent: int = 10,
                  overdue_before: datetime | None = None) -> RunsOverview:
    """The crawl-run history of `source`, by a handful of indexed queries."""
    runs = storage.db[schema.RUNS]
    mine = {"source": source, "kind": CRAWL}

    def newest(extra: dict) -> dict | None:
        return runs.find_one({**mine, **extra}, _PROJECTION, sort=[("started", DESCENDING)])

    latest = list(runs.find(mine, _PROJECTION).sort("started", DESCENDING).limit(recent))
    if not latest:
        return RunsOverview()
    if len(latest) < recent:
        first_run = latest[-1]
    else:
        first_run = runs.find_one(mine, _PROJECTION, sort=[("started", ASCENDING)])
    last_success = next((r for r in latest if r.get("state") == SUCCESS_STATE), None)
    if last_success is None:
        last_success = newest({"state": SUCCESS_STATE})
    last_new = next((r for r in latest if is_productive(r)), None) or newest(_PRODUCTIVE_FILTER)
    failed = {**mine, **_failure_filter(overdue_before)}
    if last_success is not None:
        failed["started"] = {"$gt": last_success["started"]}
    streak = runs.count_documents(failed)
    since = None
    if streak:
        oldest = runs.find_one(failed, {"_id": 0, "started": 1}, sort=[("started", ASCENDING)])
        since = oldest["started"] if oldest else None
    return RunsOverview(recent=latest, first_run=first_run, last_success=last_success,
                        last_new=last_new, failed_streak=streak, failing_since=since)


@_reading
def first_run_since(storage: Storage, source: str, since: datetime) -> dict | None:
    """The first crawl run of `source` that started at or after `since`."""
    return storage.db[schema.RUNS].find_one(
        {"source": source, "kind": CRAWL, "started": {"$gte": since}}, _PROJECTION,
        sort=[("started", ASCENDING)])


# --- canaries ---------------------------------------------------------------------------------


@_reading
def last_sighting(storage: Storage, ref: str, source: str) -> datetime | None:
    """When `ref` was last seen on `source` (a canary's few sightings, by the ref index)."""
    latest: datetime | None = None
    cursor = storage.db[schema.SIGHTINGS].find(
        {"ref": ref, "source": source}, {"_id": 0, "first_seen": 1, "last_seen": 1})
    for doc in cursor.sort("first_seen", DESCENDING).limit(1000):
        for key in ("first_seen", "last_seen"):
            seen = doc.get(key)
            if seen is not None and (latest is None or seen > latest):
                latest = seen
    return latest


@_reading
def canary_configured_since(storage: Storage, source: str, ref: str, now: datetime) -> datetime:
    """When vahti first found `ref` configured as the canary of `source`.

    Recorded (in the sources collection) the first time it is asked, and again when the
    canary changes, so a newly configured canary has its grace period.
    """
    sources = storage.db[schema.SOURCES]
    doc = sources.find_one({"name": source}, {"_id": 0, "canary_ref": 1, "canary_since": 1})
    if doc and doc.get("canary_ref") == ref and doc.get("canary_since") is not None:
        return doc["canary_since"]
    sources.update_one({"name": source},
                       {"$set": {"canary_ref": ref, "canary_since": now}}, upsert=True)
    return now
