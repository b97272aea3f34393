"""Source health: is each source still doing its job?

A paste site's API changes, a forum logs us out, tor stops bootstrapping: the crawl
"works" and finds nothing, and silence looks like good news. The verdicts:

- `ok`
- `failing`: the last `fail_after` runs (`[health] fail_after`, 3) failed, or the last run
  failed because Tor was not usable or the login was refused (that will not fix itself)
- `canary_missing`: the source's canary (options `canary`, a register ref CANARY-...) was
  not seen on it within `canary_within`; the clock starts at the first run after the canary
  was configured, so a new canary is not missing at once
- `stale`: nothing new (items or sightings) for longer than the source's `expect_new_within`
  (counted from the first run when it never found anything)
- `never_run`: no crawl yet; `disabled`: not crawled on its schedule. Neither is alerted.

A crawl in which not one request was answered (every connection failed) is a failed run
like any other. One that ended with most of its requests failed is not: the verdict stays
`ok`, with "last run degraded: N of M requests failed" in its reason and `degraded`.

`judge` is a pure function over the run history (`storage.health.RunsOverview`) and the
canary's facts; `evaluate` gathers those from storage. Reasons hold counts and times only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from vahti.spiders.sources import Source, parse_duration
from vahti.storage import health as store
from vahti.storage.health import RunsOverview

log = logging.getLogger("vahti.health")

OK = "ok"
FAILING = "failing"
STALE = "stale"
NEVER_RUN = "never_run"
CANARY_MISSING = "canary_missing"
DISABLED = "disabled"
VERDICTS = (OK, FAILING, STALE, NEVER_RUN, CANARY_MISSING, DISABLED)
UNHEALTHY = frozenset({FAILING, STALE, CANARY_MISSING})

FAIL_AFTER = 3  # consecutive failed runs before a source is failing
RECENT_RUNS = 10  # runs whose errors are counted
# a failed run for one of these reasons makes the source failing at once
FATAL_REASONS = frozenset({"tor_unavailable", "login_failed", "no_credentials"})


@dataclass(frozen=True)
class CanaryFacts:
    """A source's canary: the ref, how often it must be seen, and what storage knows."""

    ref: str
    within_s: int
    configured: datetime  # when vahti first found it configured
    clock_start: datetime | None  # start of the first run since then; None: none yet
    last_seen: datetime | None  # last sighting of the ref on the source


@dataclass(frozen=True)
class SourceHealth:
    source: str
    verdict: str
    reason: str
    since: datetime | None = None  # since when the problem holds (None: unknown or no problem)
    enabled: bool = True
    last_run: datetime | None = None
    last_run_state: str = ""
    last_success: datetime | None = None
    last_new: datetime | None = None
    failed_streak: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # error kind -> count, recent runs
    runs_counted: int = 0  # how many recent runs `errors` covers
    running: bool = False
    canary: str = ""
    canary_seen: datetime | None = None
    degraded: str = ""  # "3 of 4 requests failed" when most requests of the last run failed

    @property
    def unhealthy(self) -> bool:
        return self.verdict in UNHEALTHY

    def details(self) -> dict[str, Any]:
        """Counts and times (ISO 8601) for an alert or JSON output."""
        return {
            "reason": self.reason,
            "since": _iso(self.since),
            "enabled": self.enabled,
            "last_run": _iso(self.last_run),
            "last_run_state": self.last_run_state,
            "last_success": _iso(self.last_success),
            "last_new": _iso(self.last_new),
            "failed_streak": self.failed_streak,
            "errors": dict(self.errors),
            "runs_counted": self.runs_counted,
            "running": self.running,
            "canary": self.canary,
            "canary_seen": _iso(self.canary_seen),
            "degraded": self.degraded,
        }

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "verdict": self.verdict, "unhealthy": self.unhealthy,
                **self.details()}


# --- formatting ---------------------------------------------------------------------------


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def format_time(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC") if when is not None else "never"


def format_age(seconds: float) -> str:
    """3d 4h, 5h 10m, 12m, 40s."""
    seconds = max(int(seconds), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m" if minutes else f"{secs}s"


def _when(run: dict | None) -> datetime | None:
    """When a run happened: its end, or its start while it has none."""
    if run is None:
        return None
    return run.get("finished") or run.get("started")


def _degraded(run: dict | None) -> str:
    """"3 of 4 requests failed" for a run that ended with most of its requests failed."""
    if not run or not run.get("degraded"):
        return ""
    return f"{run.get('failed_requests', 0)} of {run.get('requests', 0)} requests failed"


def _run_failure_kind(run: dict) -> str:
    reason = run.get("reason") or ""
    if reason in FATAL_REASONS:
        return reason
    fatal = [kind for kind in (run.get("errors") or {}) if kind in FATAL_REASONS]
    return fatal[0] if fatal else ""


# --- the verdict ----------------------------------------------------------------------------


def overdue_before(source: Source, now: datetime) -> datetime:
    """A run still "running" that started before this has died without closing its record."""
    return now - timedelta(seconds=2 * source.time_limit_s)


def judge(source: Source, runs: RunsOverview, now: datetime, *,
          canary: CanaryFacts | None = None, fail_after: int = FAIL_AFTER) -> SourceHealth:
    """The verdict on one source from its run history (pure: no storage, no clock)."""
    errors: dict[str, int] = {}
    for run in runs.recent:
        for kind, count in (run.get("errors") or {}).items():
            errors[kind] = errors.get(kind, 0) + int(count)
    last = runs.last_run
    overdue = overdue_before(source, now)
    completed = next((r for r in runs.recent
                      if r.get("state") != store.RUNNING_STATE
                      or store.is_failure(r, overdue)), None)
    facts = dict(
        source=source.name, enabled=source.enabled,
        last_run=last.get("started") if last else None,
        last_run_state=last.get("state", "") if last else "",
        last_success=_when(runs.last_success), last_new=_when(runs.last_new),
        failed_streak=runs.failed_streak, errors=errors, runs_counted=len(runs.recent),
        running=runs.running, canary=canary.ref if canary else "",
        canary_seen=canary.last_seen if canary else None, degraded=_degraded(completed),
    )

    def verdict(name: str, reason: str, since: datetime | None = None) -> SourceHealth:
        return SourceHealth(verdict=name, reason=reason, since=since, **facts)

    if not source.enabled:
        return verdict(DISABLED, "disabled: not crawled on its schedule")
    if last is None:
        return verdict(NEVER_RUN, "no crawl yet")

    if runs.failed_streak >= max(fail_after, 1):
        cause = _run_failure_kind(completed) if completed else ""
        if not cause and completed is not None:
            cause = (completed.get("failure") or completed.get("reason")
                     or completed.get("state", ""))
        return verdict(FAILING, f"{runs.failed_streak} failed runs in a row since "
                                f"{format_time(runs.failing_since)}"
                                + (f" (last: {cause.replace('_', ' ')})" if cause else ""),
                       runs.failing_since)
    if completed is not None and store.is_failure(completed, overdue):
        cause = _run_failure_kind(completed)
        if cause:
            # since: the start of the failures, so an ongoing problem keeps one alert
            return verdict(FAILING, f"the last run failed: {cause.replace('_', ' ')} "
                                    f"({format_time(completed.get('started'))})",
                           runs.failing_since or completed.get("started"))

    if canary is not None:
        seen_in_time = (canary.last_seen is not None
                        and (now - canary.last_seen).total_seconds() <= canary.within_s)
        if not seen_in_time and canary.clock_start is not None:
            waited = (now - canary.clock_start).total_seconds()
            if waited > canary.within_s:
                since = canary.last_seen or canary.clock_start
                seen = (f"last seen {format_time(canary.last_seen)}" if canary.last_seen
                        else f"not seen since its first run {format_time(canary.clock_start)}")
                return verdict(CANARY_MISSING,
                               f"canary not seen for {format_age((now - since).total_seconds())}"
                               f" (expected within {format_age(canary.within_s)}); {seen}",
                               since)

    if source.expect_new_within:
        expect = parse_duration(source.expect_new_within)
        new_at = _when(runs.last_new)
        start = new_at or (runs.first_run or last).get("started")
        if start is not None and (now - start).total_seconds() > expect:
            age = format_age((now - start).total_seconds())
            what = (f"last new {format_time(new_at)}" if new_at
                    else f"none since the first run {format_time(start)}")
            return verdict(STALE, f"no new item for {age} (expected within "
                                  f"{format_age(expect)}); {what}", start)

    if runs.running and runs.last_success is None and runs.failed_streak == 0:
        return verdict(OK, f"first run running since {format_time(last.get('started'))}")
    parts = [f"last success {format_time(_when(runs.last_success))}"]
    if runs.failed_streak:
        parts.append(f"{runs.failed_streak} failed since")
    if source.expect_new_within:
        parts.append(f"last new {format_time(_when(runs.last_new))}")
    if canary is not None:
        parts.append(f"canary last seen {format_time(canary.last_seen)}"
                     if canary.last_seen else "canary not yet due")
    if facts["degraded"]:
        parts.append(f"last run degraded: {facts['degraded']}")
    return verdict(OK, "; ".join(parts))


def judge_runs(source: Source, runs: Iterable[dict], now: datetime, *,
               canary_configured: datetime | None = None,
               canary_seen: datetime | None = None,
               fail_after: int = FAIL_AFTER, recent: int = RECENT_RUNS) -> SourceHealth:
    """`judge` over a plain list of run summaries (what the run records hold)."""
    runs = list(runs)
    overview = RunsOverview.from_runs(runs, recent=recent,
                                      overdue_before=overdue_before(source, now))
    return judge(source, overview, now, fail_after=fail_after,
                 canary=_canary_from_runs(source, runs, canary_configured, canary_seen))


def _canary_from_runs(source: Source, runs: list[dict], configured: datetime | None,
                      seen: datetime | None) -> CanaryFacts | None:
    ref, within = canary_settings(source)
    if not ref:
        return None
    configured = configured or min((r["started"] for r in runs), default=None)
    if configured is None:
        return None
    after = [r["started"] for r in runs if r["started"] >= configured]
    return CanaryFacts(ref, within, configured, min(after, default=None), seen)


def canary_settings(source: Source) -> tuple[str, int]:
    """(canary ref, canary_within in seconds), or ("", 0) when the source has none."""
    ref = source.option("canary")
    if not ref:
        return "", 0
    return ref, parse_duration(source.option("canary_within"))


# --- from storage ---------------------------------------------------------------------------


def fail_after_setting(cfg: Any) -> int:
    """`[health] fail_after` from vahti's configuration."""
    return int(cfg.get("health.fail_after"))


def _sources(sources: Mapping[str, Source] | Iterable[Source]) -> list[Source]:
    return list(sources.values()) if isinstance(sources, Mapping) else list(sources)


def evaluate(storage: Any, sources: Mapping[str, Source] | Iterable[Source], now: datetime,
             *, fail_after: int = FAIL_AFTER, recent: int = RECENT_RUNS) -> list[SourceHealth]:
    """The health of every source, in the order given. Notes new canaries (see
    `storage.health.canary_configured_since`); raises StorageError when storage fails."""
    out = []
    for source in _sources(sources):
        overview = store.runs_overview(storage, source.name, recent=recent,
                                       overdue_before=overdue_before(source, now))
        canary = None
        ref, within = canary_settings(source)
        if ref:
            configured = store.canary_configured_since(storage, source.name, ref, now)
            first = store.first_run_since(storage, source.name, configured)
            canary = CanaryFacts(ref, within, configured,
                                 first["started"] if first else None,
                                 store.last_sighting(storage, ref, source.name))
        out.append(judge(source, overview, now, canary=canary, fail_after=fail_after))
    return out


def raise_health_alerts(storage: Any, cfg: Any, sources: Mapping[str, Source] | Iterable[Source],
                        now: datetime, *, fail_after: int = FAIL_AFTER
                        ) -> list[tuple[SourceHealth, bool]]:
    """Evaluate, and raise a health alert for every unhealthy source.

    Returns (health, raised) for each unhealthy source; `raised` is what
    `scheduler.alerting.raise_health_alert` answered (False: already alerted). `since`
    stays the same while a problem lasts, so an ongoing problem is alerted once.
    """
    from vahti.scheduler.alerting import raise_health_alert

    channels = cfg.tables.get("channels", {})
    out = []
    for health in evaluate(storage, sources, now, fail_after=fail_after):
        if not health.unhealthy:
            continue
        raised = raise_health_alert(storage, channels, source=health.source,
                                    problem=health.verdict, since=health.since,
                                    details=health.details(), now=now)
        log.info("source %s is %s: %s%s", health.source, health.verdict, health.reason,
                 "" if raised else " (already alerted)")
        out.append((health, bool(raised)))
    return out
