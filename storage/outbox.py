"""The outbox: one row per alert and channel, delivered at least once.

Row: `delivery_key` (alert_key + ":" + channel, unique), `alert_key`, `channel`,
`kind` (of the alert), `mode` (immediate | digest | summary), `state` (pending |
sending | sent | dead), `attempts`, `next_attempt`, `last_error` (a short reason:
never a payload or a secret), `lease_owner`, `lease_until`, `created`, `sent_at`.

Update rows (`mode: "update"`, issue 14) carry one triage change of an alert to a
channel: `update` is the alert_update payload, `delivery_key` is alert key + ":update"
+ the change's number + ":" + channel, so each change is sent once per channel.

Digest rows (`mode: "digest"`) also carry their period (`digest`, `digest_key`,
`period_start`, `period_end`, and `next_attempt` = the period's end). They are never
claimed one by one: when their period has closed, a `summary` row is made for the
channel and period (its `delivery_key` is the digest key, its `alert_keys` are
frozen when it is made), delivered like an immediate row, and settles its members.

Claiming is one `find_one_and_update` (pending and due, or sending with an expired
lease), so several daemons never deliver the same row at the same time.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument, UpdateOne

from vahti.storage import schema
from vahti.storage.connection import Storage

STATES = ("pending", "sending", "sent", "dead")
# update: an alert's triage change (`update` holds its payload), sent like an immediate row
CLAIMABLE_MODES = ("immediate", "summary", "update")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    backoff_base_s: float = 5.0
    backoff_max_s: float = 3600.0

    def delay(self, failures_before: int) -> float:
        """Seconds to wait after a failure: base * 2**failures_before, capped."""
        exponent = min(max(failures_before, 0), 62)
        return float(min(self.backoff_base_s * 2**exponent, self.backoff_max_s))


def enqueue(storage: Storage, rows: Iterable[dict[str, Any]]) -> int:
    """Insert rows whose delivery_key is new; an existing row is left as it is (so
    a repeated enqueue never resets a delivery). Returns how many were new."""
    ops = [
        UpdateOne({"delivery_key": row["delivery_key"]}, {"$setOnInsert": row}, upsert=True)
        for row in rows
    ]
    if not ops:
        return 0
    return len(storage.db[schema.OUTBOX].bulk_write(ops, ordered=False).upserted_ids)


def new_row(delivery_key: str, alert_key: str, channel: str, kind: str, mode: str,
            now: datetime, next_attempt: datetime | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "delivery_key": delivery_key, "alert_key": alert_key, "channel": channel, "kind": kind,
        "mode": mode, "state": "pending", "attempts": 0, "next_attempt": next_attempt or now,
        "last_error": "", "lease_owner": "", "lease_until": None, "created": now,
        "sent_at": None, **extra,
    }


def claim_due(storage: Storage, now: datetime, lease_s: float, owner: str,
              skip: Collection[str] = ()) -> dict[str, Any] | None:
    """Take one due row (immediate or summary) for `owner` until now + lease_s;
    `skip`: delivery keys not to take (those this pass already tried)."""
    query: dict[str, Any] = {"delivery_key": {"$nin": list(skip)}} if skip else {}
    return storage.db[schema.OUTBOX].find_one_and_update(
        {
            **query,
            "mode": {"$in": list(CLAIMABLE_MODES)},
            "$or": [
                {"state": "pending", "next_attempt": {"$lte": now}},
                {"state": "sending", "lease_until": {"$lt": now}},
            ],
        },
        {
            "$set": {"state": "sending", "lease_owner": owner,
                     "lease_until": now + timedelta(seconds=lease_s)},
            "$inc": {"attempts": 1},
        },
        sort=[("next_attempt", 1)],
        projection={"_id": 0},
        return_document=ReturnDocument.AFTER,
    )


def mark_sent(storage: Storage, delivery_key: str, owner: str, now: datetime) -> bool:
    result = storage.db[schema.OUTBOX].update_one(
        {"delivery_key": delivery_key, "state": "sending", "lease_owner": owner},
        {"$set": {"state": "sent", "sent_at": now, "lease_until": None, "last_error": ""}},
    )
    return result.modified_count == 1


def mark_failed(storage: Storage, row: dict[str, Any], owner: str, now: datetime, error: str,
                policy: RetryPolicy) -> str:
    """Back to pending after the backoff, or dead after policy.max_attempts.
    `row` is the claimed row (its attempts count this attempt). Returns the new state."""
    attempts = int(row.get("attempts", 1))
    if attempts >= policy.max_attempts:
        update: dict[str, Any] = {"state": "dead", "lease_until": None}
    else:
        delay = policy.delay(attempts - 1)
        update = {"state": "pending", "lease_until": None,
                  "next_attempt": now + timedelta(seconds=delay)}
    update["last_error"] = error[:200]
    result = storage.db[schema.OUTBOX].update_one(
        {"delivery_key": row["delivery_key"], "state": "sending", "lease_owner": owner},
        {"$set": update},
    )
    return update["state"] if result.modified_count == 1 else "sending"


def get_row(storage: Storage, delivery_key: str) -> dict[str, Any] | None:
    return storage.db[schema.OUTBOX].find_one({"delivery_key": delivery_key}, {"_id": 0})


# --- digests ----------------------------------------------------------------------------


def due_digest_members(storage: Storage, now: datetime) -> dict[str, list[dict[str, Any]]]:
    """Pending digest rows whose period has closed, by digest key."""
    groups: dict[str, list[dict[str, Any]]] = {}
    docs = storage.db[schema.OUTBOX].find(
        {"mode": "digest", "state": "pending", "next_attempt": {"$lte": now}}, {"_id": 0}
    )
    for doc in docs:
        groups.setdefault(doc["digest_key"], []).append(doc)
    return groups


def ensure_summary(storage: Storage, row: dict[str, Any]) -> dict[str, Any]:
    """The summary row of a digest key: made once (its alert_keys frozen then)."""
    return storage.db[schema.OUTBOX].find_one_and_update(
        {"delivery_key": row["delivery_key"]},
        {"$setOnInsert": row},
        upsert=True,
        projection={"_id": 0},
        return_document=ReturnDocument.AFTER,
    )


def move_to_period(storage: Storage, delivery_keys: Iterable[str], digest_key: str,
                   period_start: datetime, period_end: datetime) -> int:
    """Members that missed their period's summary (it was made without them) go to
    a later one."""
    keys = list(delivery_keys)
    if not keys:
        return 0
    result = storage.db[schema.OUTBOX].update_many(
        {"delivery_key": {"$in": keys}, "mode": "digest", "state": "pending"},
        {"$set": {"digest_key": digest_key, "period_start": period_start,
                  "period_end": period_end, "next_attempt": period_end}},
    )
    return result.modified_count


def settle_members(storage: Storage, summary: dict[str, Any], state: str, now: datetime,
                   error: str = "") -> int:
    """Give the members a sent or dead summary covered that summary's outcome."""
    update: dict[str, Any] = {"state": state, "last_error": error[:200]}
    if state == "sent":
        update["sent_at"] = now
    result = storage.db[schema.OUTBOX].update_many(
        {"mode": "digest", "digest_key": summary["delivery_key"], "state": "pending",
         "alert_key": {"$in": list(summary.get("alert_keys", []))}},
        {"$set": update},
    )
    return result.modified_count


# --- reading ----------------------------------------------------------------------------


def deliveries_for(storage: Storage, alert_keys: Iterable[str]
                   ) -> dict[str, list[dict[str, Any]]]:
    keys = list(alert_keys)
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in keys}
    if not keys:
        return out
    # the alert's own deliveries: not the rows of its triage changes
    docs = storage.db[schema.OUTBOX].find({"alert_key": {"$in": keys},
                                           "mode": {"$ne": "update"}}, {"_id": 0})
    for doc in docs:
        out.setdefault(doc["alert_key"], []).append(doc)
    for rows in out.values():
        rows.sort(key=lambda r: r["channel"])
    return out


def alert_keys_in_state(storage: Storage, state: str) -> list[str]:
    """Alerts with at least one (non-summary) delivery in `state`."""
    docs = storage.db[schema.OUTBOX].find(
        {"state": state, "mode": {"$in": ["immediate", "digest"]}}, {"_id": 0, "alert_key": 1}
    )
    return sorted({d["alert_key"] for d in docs})


def state_counts(storage: Storage) -> dict[str, int]:
    col = storage.db[schema.OUTBOX]
    return {state: col.count_documents({"state": state}) for state in STATES}
