"""Triage of one alert: its state changed, false positives remembered, updates queued.

Steps, each idempotent, so a command that died half-way is finished by running it
again (the identical command finds the state already set, and redoes the rest):
  1. the state change (storage/triage.py, rules in storage/alert_states.py);
  2. false positives: a sighting alert marked `false_positive` remembers its (page
     content id, ref) pairs (storage/false_positives.py); leaving `false_positive`
     (reopening) forgets the alert's pairs;
  3. one outbox row per channel that takes updates, with the alert_update payload
     (scheduler/delivery.py); delivered by the outbox like any alert.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from vahti.scheduler.channels.message import iso, update_payload
from vahti.scheduler.delivery import enqueue_updates
from vahti.storage import false_positives
from vahti.storage import triage as triage_repo
from vahti.storage.alert_states import FALSE_POSITIVE, TransitionRefused
from vahti.storage.clock import now as clock_now
from vahti.storage.connection import Storage

COMMENT_MAX = 500  # characters: a note, not a report
BY_MAX = 64


@dataclass
class TriageResult:
    alert_key: str
    kind: str
    state: str
    previous_state: str
    changed: bool  # False: the alert already was in that state
    changed_at: str | None = None
    by: str = ""
    false_positives_new: int = 0  # (content, person) pairs remembered now
    false_positives_forgotten: int = 0  # pairs forgotten (reopened)
    updates_queued: int = 0  # outbox rows new now
    refs: list[str] = field(default_factory=list)  # the refs remembered (false_positive)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def chosen_refs(alert: dict[str, Any], refs: Iterable[str]) -> list[str]:
    """The refs a false positive covers: the ones given (each must be the alert's),
    else all of the alert's."""
    given = sorted(set(refs))
    own = list(alert.get("refs") or [])
    if not given:
        return own
    if alert.get("kind") != "sighting":
        raise TransitionRefused("--ref: a health alert names no person")
    if not set(given) <= set(own):
        raise TransitionRefused(f"--ref: {len(set(given) - set(own))} of the refs given are "
                                "not in this alert (see `vahti alerts list --json`)")
    return given


def triage(storage: Storage, channels: Any, alert: dict[str, Any], target: str, by: str,
           comment: str = "", refs: Iterable[str] = (),
           now: datetime | None = None) -> TriageResult:
    now = now or clock_now()
    if refs and target != FALSE_POSITIVE:
        raise TransitionRefused("--ref goes with false-positive only")
    covered = chosen_refs(alert, refs) if target == FALSE_POSITIVE else []
    change = triage_repo.set_state(storage, alert, target, by, comment, now)
    changed = change is not None
    if change is not None:
        number = len(alert.get("history") or []) + 1
    else:  # already so: redo what may have been lost after that change
        latest = triage_repo.last_change(alert)
        if latest is None or latest[1]["state"] != target:
            return TriageResult(alert["alert_key"], alert["kind"], target, target, False)
        number, change = latest
    previous = change["previous_state"]
    result = TriageResult(alert["alert_key"], alert["kind"], target, previous, changed,
                          changed_at=iso(change["changed"]), by=change["by"], refs=covered)
    if target == FALSE_POSITIVE:
        result.false_positives_new = false_positives.remember(storage, alert, covered, by,
                                                              change["changed"])
    elif previous == FALSE_POSITIVE:
        result.false_positives_forgotten = false_positives.forget_alert(storage,
                                                                        alert["alert_key"])
    payload = update_payload(alert["alert_key"], alert["kind"], change)
    result.updates_queued = enqueue_updates(storage, channels, payload, number, now)
    return result

