"""Runs: one record per crawl or scan, with what it did and what went wrong."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from vahti.storage import schema
from vahti.storage.clock import now
from vahti.storage.connection import Storage


@dataclass
class RunStats:
    pages: int = 0
    bytes: int = 0
    hits: int = 0
    new_sightings: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # error kind -> count
    # inputs (pages, files, archive members, document parts) whose text was scanned,
    # and those that were not read, by reason kind (matchers.skips)
    read: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


def start_run(storage: Storage, source: str, kind: str, run_id: str = "") -> str:
    """Open a run record; `run_id` when the caller (the daemon) chose it."""
    run_id = run_id or uuid.uuid4().hex
    storage.db[schema.RUNS].insert_one(
        {"run_id": run_id, "source": source, "kind": kind, "started": now(), "state": "running"}
    )
    return run_id


def finish_run(storage: Storage, run_id: str, stats: RunStats, state: str = "done",
               extra: dict | None = None) -> None:
    """Close a run; `extra` holds counters of its kind (a crawl's 304s, NEWNYMs, ...)."""
    storage.db[schema.RUNS].update_one(
        {"run_id": run_id},
        {"$set": {"finished": now(), "state": state, "pages": stats.pages, "bytes": stats.bytes,
                  "hits": stats.hits, "new_sightings": stats.new_sightings,
                  "errors": stats.errors, "read": stats.read,
                  "skipped": dict(stats.skipped), **(extra or {})}},
    )


def get_run(storage: Storage, run_id: str) -> dict | None:
    return storage.db[schema.RUNS].find_one({"run_id": run_id}, {"_id": 0})


def latest_runs(storage: Storage, source: str, limit: int = 10) -> list[dict]:
    cursor = storage.db[schema.RUNS].find({"source": source}, {"_id": 0})
    return list(cursor.sort("started", -1).limit(limit))


def record_run_end(storage: Storage, run_id: str, source: str, *, state: str | None = None,
                   reason: str | None = None, **fields: object) -> None:
    """What the daemon saw of a crawl it ran: exit code, its own verdict when the
    crawl could not give one (killed at its time limit, died), who ran it and
    for which fire. Creates the run record when the crawl died before writing it."""
    when = now()
    update: dict = {**fields, "supervised_end": when}
    if state is not None:
        update["state"] = state
        update["finished"] = when
    if reason is not None:
        update["reason"] = reason
    storage.db[schema.RUNS].update_one(
        {"run_id": run_id},
        {"$set": update,
         "$setOnInsert": {"source": source, "kind": "crawl", "started": when}},
        upsert=True,
    )
