"""Leases: which daemon runs a job right now, so that several daemons sharing
one database run each scheduled fire of a job exactly once.

A job's lease is one document in `leases` (`_id` the job id, e.g.
"source:pastes"). It is taken with one atomic `find_one_and_update` that only
matches when nobody holds it (no owner, or the holder's lease expired) and,
for a scheduled fire, when that fire is newer than the last fire handled
(`fire`): a second daemon firing the same scheduled time finds the lease held,
or finds the fire already handled, and skips it. The holder renews the expiry
while its crawl runs and releases the lease afterwards; a holder that died
stops renewing and its lease expires (or is broken at once by a daemon on the
same host that sees the holder's process is gone).

Daemons also keep a heartbeat here (`_id` "daemon:OWNER"), which is how
`vahti jobs` knows whether a daemon will pick up a command.

Passes that must not run twice at once across processes and hosts (raising
alerts) hold a lease of kind "pass" (`_id` "pass:NAME") with `held`: taken
the same way, renewed by a thread while the pass runs, released after.

Owners are "host:pid:uuid". The functions named `can_acquire`, `abandoned`
and `parse_owner` are the same rules as plain Python, for the unit tests.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from vahti.storage import schema
from vahti.storage.clock import now as utcnow
from vahti.storage.connection import Storage

DAEMON_PREFIX = "daemon:"
PASS_PREFIX = "pass:"


# -- pure rules -------------------------------------------------------------------------


def make_owner(host: str | None = None, pid: int | None = None) -> str:
    """"host:pid:uuid" for this process: unique per daemon start."""
    return f"{host or socket.gethostname()}:{pid or os.getpid()}:{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    tag: str


def parse_owner(owner: str) -> Owner | None:
    host, sep, rest = (owner or "").rpartition(":")
    host, sep2, pid = host.rpartition(":")
    if not sep or not sep2 or not pid.isdigit():
        return None
    return Owner(host, int(pid), rest)


def fire_key(fire: datetime) -> datetime:
    """A fire time as stored: BSON dates hold milliseconds, so compare at that precision
    (otherwise a stored fire would always look older than the same fire in memory)."""
    return fire.replace(microsecond=fire.microsecond // 1000 * 1000)


def is_held(doc: dict | None, now: datetime) -> bool:
    """Someone holds this lease and it has not expired."""
    return bool(doc and doc.get("owner") and doc.get("expires") and doc["expires"] > now)


def can_acquire(doc: dict | None, now: datetime, fire: datetime | None = None) -> bool:
    """The rule `acquire` applies in the database: free (or expired), and for a
    scheduled fire, newer than the last fire handled."""
    if is_held(doc, now):
        return False
    if fire is not None and doc and doc.get("fire") is not None:
        return doc["fire"] < fire_key(fire)
    return True


def abandoned(doc: dict | None, host: str, alive: Callable[[int], bool]) -> bool:
    """A lease held by a process of this host that is gone, and whose crawl is gone
    too: it can be broken without waiting for it to expire."""
    if not doc or not doc.get("owner"):
        return False
    owner = parse_owner(doc["owner"])
    if owner is None or owner.host != host or alive(owner.pid):
        return False
    child = doc.get("child_pid")
    return not (isinstance(child, int) and alive(child))


# -- job leases ---------------------------------------------------------------------------


def acquire(storage: Storage, name: str, owner: str, lease_s: float, *,
            fire: datetime | None = None, run_id: str = "", reason: str = "",
            now: datetime | None = None, kind: str = "job") -> dict | None:
    """Take the lease `name` for `lease_s` seconds; None when it is held, or when
    `fire` is not newer than the fire last handled. The lease returned has
    `taken_over`: the lease as it was when its holder had let it expire (a daemon
    that died), else None."""
    now = now or utcnow()
    free: dict = {"$or": [{"owner": None}, {"expires": {"$lte": now}}]}
    query: dict = {"_id": name, **free}
    update: dict = {"owner": owner, "expires": now + timedelta(seconds=lease_s),
                    "acquired": now, "renewed": now, "run_id": run_id, "reason": reason,
                    "child_pid": None}
    if fire is not None:
        key = fire_key(fire)
        query = {"_id": name, "$and": [free, {"$or": [{"fire": None}, {"fire": {"$lt": key}}]}]}
        update["fire"] = key
    try:
        before = storage.db[schema.LEASES].find_one_and_update(
            query, {"$set": update, "$setOnInsert": {"kind": kind}}, upsert=True,
            return_document=ReturnDocument.BEFORE,
        )
    except DuplicateKeyError:
        return None  # exists and does not match: held, or that fire was handled
    taken_over = before if before and before.get("owner") else None
    return {"kind": kind, **(before or {}), **update, "_id": name, "taken_over": taken_over}


def renew(storage: Storage, name: str, owner: str, lease_s: float, *,
          now: datetime | None = None, **fields: object) -> bool:
    """Extend our lease (and set `fields`, e.g. child_pid); False if it is not ours any more."""
    now = now or utcnow()
    result = storage.db[schema.LEASES].update_one(
        {"_id": name, "owner": owner},
        {"$set": {"expires": now + timedelta(seconds=lease_s), "renewed": now, **fields}},
    )
    return result.matched_count == 1


def release(storage: Storage, name: str, owner: str, *, now: datetime | None = None,
            **fields: object) -> bool:
    """Give the lease up, keeping the fire handled and `fields` (last run, state)."""
    now = now or utcnow()
    result = storage.db[schema.LEASES].update_one(
        {"_id": name, "owner": owner},
        {"$set": {"owner": None, "expires": None, "child_pid": None, "released": now,
                  **fields}},
    )
    return result.matched_count == 1


def get(storage: Storage, name: str) -> dict | None:
    return storage.db[schema.LEASES].find_one({"_id": name})


def job_leases(storage: Storage) -> dict[str, dict]:
    return {d["_id"]: d for d in storage.db[schema.LEASES].find({"kind": "job"})}


def break_abandoned(storage: Storage, host: str, alive: Callable[[int], bool],
                    now: datetime | None = None) -> list[dict]:
    """Free the job leases held by dead processes of this host; returns them as they were
    (with the run id of the crawl that was going on)."""
    now = now or utcnow()
    broken = []
    for doc in storage.db[schema.LEASES].find({"kind": "job", "owner": {"$ne": None},
                                               "expires": {"$gt": now}}):
        if abandoned(doc, host, alive):
            result = storage.db[schema.LEASES].update_one(
                {"_id": doc["_id"], "owner": doc["owner"]},
                {"$set": {"owner": None, "expires": None, "child_pid": None, "released": now,
                          "broken_from": doc["owner"]}},
            )
            if result.modified_count:
                broken.append(doc)
    return broken


# -- pass leases ------------------------------------------------------------------------------


@contextmanager
def held(storage: Storage, name: str, owner: str, lease_s: float, *, wait_s: float = 0.0,
         poll_s: float = 0.2) -> Iterator[bool]:
    """Hold the pass lease "pass:NAME" for the block; yields False when another owner
    still held it after `wait_s` (the block should then skip its work).

    A thread renews the lease every third of `lease_s` while the block runs, so a
    long pass keeps it and a holder that died frees it within `lease_s`.
    """
    lease_id = PASS_PREFIX + name
    deadline = time.monotonic() + wait_s
    while acquire(storage, lease_id, owner, lease_s, kind="pass") is None:
        if time.monotonic() >= deadline:
            yield False
            return
        time.sleep(poll_s)
    done = threading.Event()

    def keep_renewing() -> None:
        while not done.wait(lease_s / 3):
            if not renew(storage, lease_id, owner, lease_s):
                return  # lost (we stalled past the expiry): nothing left to renew

    renewer = threading.Thread(target=keep_renewing, name=f"lease {lease_id}", daemon=True)
    renewer.start()
    try:
        yield True
    finally:
        done.set()
        renewer.join()
        release(storage, lease_id, owner)


# -- daemon heartbeats ----------------------------------------------------------------------


def heartbeat(storage: Storage, owner: str, lease_s: float, now: datetime | None = None,
              **fields: object) -> None:
    now = now or utcnow()
    parsed = parse_owner(owner)
    storage.db[schema.LEASES].update_one(
        {"_id": DAEMON_PREFIX + owner},
        {"$set": {"kind": "daemon", "owner": owner, "expires": now + timedelta(seconds=lease_s),
                  "renewed": now, **fields},
         "$setOnInsert": {"started": now, "host": parsed.host if parsed else "",
                          "pid": parsed.pid if parsed else 0}},
        upsert=True,
    )


def remove_heartbeat(storage: Storage, owner: str) -> None:
    storage.db[schema.LEASES].delete_one({"_id": DAEMON_PREFIX + owner})


def live_daemons(storage: Storage, now: datetime | None = None) -> list[dict]:
    now = now or utcnow()
    return list(storage.db[schema.LEASES].find(
        {"kind": "daemon", "expires": {"$gt": now}}, {"_id": 0}).sort("started", 1))


def prune_heartbeats(storage: Storage, older_than: datetime) -> int:
    """Heartbeats of daemons that died long ago."""
    return storage.db[schema.LEASES].delete_many(
        {"kind": "daemon", "expires": {"$lt": older_than}}).deleted_count
