"""Alert triage states and the changes allowed between them (pure: no database).

    new ──> acknowledged ──> resolved
     │          │  ▲  ▲          │
     │          ▼  │  └──────────┘ (ack again: reopened)
     └────> false_positive
     (new may also go straight to resolved or false_positive)

- `new`: raised, nobody has looked at it yet (every alert starts here, and the schema 4
  migration gives existing alerts this state).
- `acknowledged`: somebody is on it. `ack` on a resolved or false-positive alert
  reopens it: that is the only way back, so the history always says who reopened a
  closed alert, and when.
- `resolved` and `false_positive` are closed. A closed alert does not switch straight
  to the other closed state: it is reopened first (ack), then closed again, so that a
  verdict is never silently replaced. Leaving `false_positive` forgets the page
  content and persons it had remembered (storage/false_positives.py).
- Nothing goes back to `new`: the time to acknowledge is measured once.

Asking for the state an alert already has changes nothing and is not an error (a
repeated command, or one run again after a crash).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NEW = "new"
ACKNOWLEDGED = "acknowledged"
FALSE_POSITIVE = "false_positive"
RESOLVED = "resolved"
STATES = (NEW, ACKNOWLEDGED, FALSE_POSITIVE, RESOLVED)
OPEN = (NEW, ACKNOWLEDGED)
CLOSED = (FALSE_POSITIVE, RESOLVED)

ALLOWED: dict[str, frozenset[str]] = {
    NEW: frozenset({ACKNOWLEDGED, FALSE_POSITIVE, RESOLVED}),
    ACKNOWLEDGED: frozenset({FALSE_POSITIVE, RESOLVED}),
    RESOLVED: frozenset({ACKNOWLEDGED}),
    FALSE_POSITIVE: frozenset({ACKNOWLEDGED}),
}

# CLI verb -> the state it asks for
COMMANDS = {"ack": ACKNOWLEDGED, "resolve": RESOLVED, "false-positive": FALSE_POSITIVE}


class TransitionRefused(ValueError):
    """A change the state machine does not allow; the message says what to do instead."""


def state_of(alert: Mapping[str, Any]) -> str:
    """An alert's state (one written before schema 4 and not migrated yet: new)."""
    return str(alert.get("state") or NEW)


def is_change(current: str, target: str) -> bool:
    """True when `current` -> `target` is an allowed change, False when the alert is
    already in `target` (nothing to do); TransitionRefused otherwise."""
    if target not in STATES or current not in STATES:
        raise TransitionRefused(f"unknown alert state {target if current in STATES else current}")
    if current == target:
        return False
    if target in ALLOWED[current]:
        return True
    if target == NEW:
        raise TransitionRefused("an alert never goes back to new; acknowledge it to reopen it")
    raise TransitionRefused(
        f"the alert is {current}: it is closed; reopen it first with `vahti alerts ack`, "
        f"then mark it {target}")
