"""Formatting shared by the HTML and Markdown renderers: times, counts, labels."""

from __future__ import annotations

from datetime import UTC, datetime

from vahti.reports.model import Dpo, WeeklyReport

REFS_SHOWN = 200  # refs listed in HTML/Markdown; the JSON report has all

STATE_ORDER = ("sent", "pending", "sending", "dead")


def when(value: datetime | None) -> str:
    """2026-11-18 09:30 UTC, or "never"."""
    if value is None:
        return "never"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def signed(n: int) -> str:
    return f"+{n}" if n > 0 else str(n)


def count(n: int, noun: str) -> str:
    """1 person, 2 persons."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def score(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def title(report: WeeklyReport) -> str:
    return f"vahti weekly exposure report {report.week.id}"


def week_span(report: WeeklyReport) -> str:
    days = report.week.days()
    return f"{days[0]:%a %Y-%m-%d} to {days[-1]:%a %Y-%m-%d} (UTC)"


def art33_status(dpo: Dpo) -> str:
    """One sentence on the 72-hour mark."""
    if dpo.first_seen is None or dpo.art33_deadline is None:
        return "No exposure was first seen this week: no 72-hour mark runs from this week."
    hours = dpo.art33_hours_left or 0.0
    if dpo.art33_passed:
        return (f"The 72-hour mark ({when(dpo.art33_deadline)}) passed "
                f"{abs(hours):.1f} hours before this report.")
    return (f"The 72-hour mark is {when(dpo.art33_deadline)}: "
            f"{hours:.1f} hours after this report.")


def deliveries_text(states: dict[str, int]) -> str:
    parts = [f"{states[s]} {s}" for s in STATE_ORDER if states.get(s)]
    parts += [f"{n} {s}" for s, n in states.items() if s not in STATE_ORDER and n]
    return ", ".join(parts) or "none"


def refs_shown(refs: list[str]) -> tuple[list[str], int]:
    """The refs to list and how many more there are."""
    return refs[:REFS_SHOWN], max(len(refs) - REFS_SHOWN, 0)
