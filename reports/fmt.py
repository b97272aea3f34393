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


def duration(seconds: float | None) -> str:
    """45 s, 12 min, 3.5 h, 2.1 days; "-" when nothing was measured."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


TRIAGE_LABELS = {"new": "new", "acknowledged": "acknowledged",
                 "false_positive": "false positive", "resolved": "resolved"}


def triage_text(report: WeeklyReport) -> list[str]:
    """The triage figures as sentences (both renderers; each escapes them itself)."""
    t = report.triage
    states = ", ".join(f"{n} {TRIAGE_LABELS.get(s, s)}" for s, n in t.states.items() if n)
    return [
        f"Of this week's {count(sum(t.states.values()), 'alert')}: {t.open} open, "
        f"{t.handled} handled ({states or 'none'}). "
        f"{count(t.open_older, 'alert')} from earlier weeks still open.",
        f"Median time to acknowledge: {duration(t.median_ack_s)} "
        f"({t.acknowledged} acknowledged); median time to resolve: "
        f"{duration(t.median_resolve_s)}.",
        f"False positives, counted apart: {count(t.false_positives_marked, 'alert')} marked "
        f"false positive this week; {count(t.suppressed_repeats, 'repeat')} not alerted "
        "(a person already marked false positive on the same page content).",
    ]


def deliveries_text(states: dict[str, int]) -> str:
    parts = [f"{states[s]} {s}" for s in STATE_ORDER if states.get(s)]
    parts += [f"{n} {s}" for s, n in states.items() if s not in STATE_ORDER and n]
    return ", ".join(parts) or "none"


def refs_shown(refs: list[str]) -> tuple[list[str], int]:
    """The refs to list and how many more there are."""
    return refs[:REFS_SHOWN], max(len(refs) - REFS_SHOWN, 0)
