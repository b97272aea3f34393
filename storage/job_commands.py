"""Commands for the daemon (`vahti jobs run|pause|resume|reload`), and what the
daemon records about the crawls it supervises.

A command is a document in `job_commands`: queued by the CLI, claimed by one
daemon with an atomic `find_one_and_update` (so a command is carried out once
even when several daemons poll), then marked done or failed with a message the
CLI prints. A command nobody claims waits for the next daemon to start.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pymongo import ASCENDING, ReturnDocument

from vahti.storage import schema
from vahti.storage.clock import now as utcnow
from vahti.storage.connection import Storage

ACTIONS = ("run", "pause", "resume", "reload")
QUEUED, TAKEN, DONE, FAILED = "queued", "taken", "done", "failed"


def enqueue(storage: Storage, action: str, source: str = "", *, reason: str = "",
            requested_by: str = "") -> str:
    if action not in ACTIONS:
        raise ValueError(f"unknown job command {action!r}")
    command_id = uuid.uuid4().hex
    storage.db[schema.JOB_COMMANDS].insert_one({
        "_id": command_id, "action": action, "source": source, "reason": reason,
        "requested_by": requested_by, "state": QUEUED, "created": utcnow(),
    })
    return command_id


def claim_next(storage: Storage, owner: str, now: datetime | None = None) -> dict | None:
    """The oldest queued command, now ours; None when there is none."""
    return storage.db[schema.JOB_COMMANDS].find_one_and_update(
        {"state": QUEUED},
        {"$set": {"state": TAKEN, "taken_by": owner, "taken": now or utcnow()}},
        sort=[("created", ASCENDING)],
        return_document=ReturnDocument.AFTER,
    )


def complete(storage: Storage, command_id: str, ok: bool, message: str, **fields: object) -> None:
    storage.db[schema.JOB_COMMANDS].update_one(
        {"_id": command_id},
        {"$set": {"state": DONE if ok else FAILED, "message": message, "finished": utcnow(),
                  **fields}},
    )


def requeue(storage: Storage, command_id: str, note: str = "") -> None:
    """Give a claimed command back (the daemon is stopping before it could act)."""
    storage.db[schema.JOB_COMMANDS].update_one(
        {"_id": command_id, "state": TAKEN},
        {"$set": {"state": QUEUED, "note": note}, "$unset": {"taken_by": "", "taken": ""}},
    )


def requeue_stale(storage: Storage, older_than: datetime) -> int:
    """Commands claimed by a daemon that died before acting on them."""
    return storage.db[schema.JOB_COMMANDS].update_many(
        {"state": TAKEN, "taken": {"$lt": older_than}},
        {"$set": {"state": QUEUED, "note": "claimed by a daemon that did not finish it"}},
    ).modified_count


def get(storage: Storage, command_id: str) -> dict | None:
    return storage.db[schema.JOB_COMMANDS].find_one({"_id": command_id})


def queued(storage: Storage) -> list[dict]:
    return list(storage.db[schema.JOB_COMMANDS].find({"state": QUEUED}).sort("created", 1))


def prune(storage: Storage, older_than: datetime) -> int:
    """Finished commands are kept a while for `vahti jobs`, then dropped."""
    return storage.db[schema.JOB_COMMANDS].delete_many(
        {"state": {"$in": [DONE, FAILED]}, "finished": {"$lt": older_than}}).deleted_count


# -- run records of supervised crawls -------------------------------------------------------

