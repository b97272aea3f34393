"""An alert's triage state in the database: finding the alert, changing its state.

The alert document holds its current state (`state`, `state_changed`, `state_by`,
`state_comment`) and every change in `history` (a list of {state, previous_state,
changed, by, comment}, oldest first). A change is one update guarded by the state and
the history length it was decided on, so two analysts changing one alert at once
never both succeed on a stale view. The rules are in storage/alert_states.py.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from vahti.storage import schema
from vahti.storage.alert_states import FALSE_POSITIVE, NEW, OPEN, is_change, state_of
from vahti.storage.connection import Storage

KEY_CHARS = re.compile(r"[A-Za-z0-9-]{1,80}")


class AlertLookupError(ValueError):
    """No alert, or more than one, for what the analyst typed (the message never
    repeats it: it may be anything pasted)."""


class ChangedMeanwhile(RuntimeError):
    """Someone else changed the alert between reading and writing it."""


def find_alert(storage: Storage, given: str) -> dict[str, Any]:
    """The alert whose key is `given`, or the one alert whose key starts with it."""
    if not KEY_CHARS.fullmatch(given):
        raise AlertLookupError("that is not an alert key (keys look like s-3f9a... or "
                               "h-07c1...: see `vahti alerts list`)")
    col = storage.db[schema.ALERTS]
    exact = col.find_one({"alert_key": given}, {"_id": 0})
    if exact is not None:
        return exact
    found = list(col.find({"alert_key": {"$regex": "^" + re.escape(given)}}, {"_id": 0})
                 .limit(2))
    if not found:
        raise AlertLookupError("no alert has a key starting with the ID given "
                               "(see `vahti alerts list`)")
    if len(found) > 1:
        raise AlertLookupError("more than one alert has a key starting with the ID given: "
                               "give more of the key")
    return found[0]


def stored_time(now: datetime) -> datetime:
    """`now` as the database keeps it (milliseconds), so that what is sent equals what a
    later read gives."""
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def set_state(storage: Storage, alert: dict[str, Any], target: str, by: str, comment: str,
              now: datetime) -> dict[str, Any] | None:
    """Change the alert's state; returns the change recorded, or None when the alert
    already is in `target`. TransitionRefused for a change not allowed."""
    current = state_of(alert)
    if not is_change(current, target):
        return None
    history = list(alert.get("history") or [])
    change: dict[str, Any] = {"state": target, "previous_state": current,
                              "changed": stored_time(now), "by": by}
    if comment:
        change["comment"] = comment
    # every alert has both since schema 4 (the migration, or upsert_alert)
    guard = {"alert_key": alert["alert_key"], "state": current,
             "history": {"$size": len(history)}}
    result = storage.db[schema.ALERTS].update_one(guard, {
        "$set": {"state": target, "state_changed": change["changed"], "state_by": by,
                 "state_comment": comment},
        "$push": {"history": change}})
    if result.modified_count != 1:
        raise ChangedMeanwhile("the alert was changed meanwhile by someone else: look at it "
                               "again (vahti alerts list) and rerun the command")
    return change


def last_change(alert: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    """(its number, counting from 1; the change) of the alert's latest change."""
    history = alert.get("history") or []
    return (len(history), history[-1]) if history else None


def new_alert_fields() -> dict[str, Any]:
    """The triage fields of an alert as it is raised."""
    return {"state": NEW, "history": []}


# --- for the weekly report -------------------------------------------------------------------


def open_before(storage: Storage, start: datetime) -> int:
    """Alerts created before `start` that are still new or acknowledged."""
    return storage.db[schema.ALERTS].count_documents(
        {"state": {"$in": list(OPEN)}, "created": {"$lt": start}})


def marked_false_positive_between(storage: Storage, start: datetime, end: datetime) -> int:
    """Alerts (of any week) with a change to false_positive in [start, end)."""
    docs = storage.db[schema.ALERTS].find({"history.state": FALSE_POSITIVE},
                                          {"_id": 0, "history": 1})
    return sum(1 for d in docs if any(
        h.get("state") == FALSE_POSITIVE and start <= _aware(h.get("changed"), start) < end
        for h in d.get("history") or []))


def _aware(value: Any, like: datetime) -> datetime:
    if not isinstance(value, datetime):
        return like.replace(year=1)
    return value if value.tzinfo or like.tzinfo is None else value.replace(tzinfo=like.tzinfo)
