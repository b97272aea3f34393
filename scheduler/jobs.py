"""Jobs: one APScheduler job per enabled source, kept in vahti's database.

Each job lives in APScheduler's `MongoDBJobStore` (collection `jobs`) with id
"source:NAME", its function as the text reference "vahti.scheduler.jobs:run_source"
(so it survives restarts), an `IntervalTrigger` for "every ..." or
`CronTrigger.from_crontab` (UTC) for a cron line, and APScheduler's own
`max_instances=1`, `coalesce=True` and `misfire_grace_time` (one period of the
schedule: a fire missed while no daemon ran is run once, late, then the
schedule goes on).

`plan_sync` decides what to add, change and remove from sources.toml (pure);
`apply_sync` does it through the scheduler, keeping a paused job paused. A
source whose definition has a problem keeps its job as it was.

`run_source` is what a fire calls; it hands the source, and the scheduled time
of the fire (from `FireTimeExecutor`), to the daemon running in this process.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apscheduler.executors.base import run_job
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.mongodb import MongoDBJobStore
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from vahti.spiders.sources import (
    Source,
    SourcesError,
    read_sources,
    sources_path,
    validate_schedule,
)
from vahti.storage import leases, runs, schema
from vahti.storage.connection import Storage

JOB_FUNC = "vahti.scheduler.jobs:run_source"
PRE_NAMESPACE_JOB_FUNC = "scheduler.jobs:run_source"  # as stored by vahti 0.1
JOB_PREFIX = "source:"
JOBSTORE = "default"  # MongoDB, shared by every daemon on the database
LOCAL = "local"  # in memory: this daemon's own one-off and housekeeping jobs
MAX_GRACE_S = 86400


def job_id(source: str) -> str:
    return JOB_PREFIX + source


def source_of(job_id_: str) -> str | None:
    return job_id_[len(JOB_PREFIX):] if job_id_.startswith(JOB_PREFIX) else None


# -- schedules and triggers --------------------------------------------------------------


def build_trigger(schedule: str) -> BaseTrigger:
    """"every 30m" -> IntervalTrigger; a 5-field cron line -> CronTrigger.from_crontab,
    in UTC. (Spelling and ranges are checked by spiders.sources.validate_schedule.)"""
    parsed = validate_schedule(schedule)
    if parsed.kind == "interval":
        return IntervalTrigger(seconds=parsed.seconds, timezone=UTC)
    return CronTrigger.from_crontab(parsed.cron, timezone=UTC)


def trigger_key(trigger: BaseTrigger) -> str:
    """What identifies a trigger's schedule ("interval[0:00:10]", "cron[...]")."""
    return str(trigger)


def period_s(trigger: BaseTrigger, now: datetime | None = None) -> float:
    """Seconds between two consecutive fires from `now`."""
    if isinstance(trigger, IntervalTrigger):
        return trigger.interval.total_seconds()
    now = now or datetime.now(UTC)
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, first) if first else None
    return (second - first).total_seconds() if first and second else float(MAX_GRACE_S)


def misfire_grace_s(trigger: BaseTrigger, now: datetime | None = None) -> int:
    """A fire may run this late (one period, at most a day), then it is missed."""
    return int(min(max(period_s(trigger, now), 1), MAX_GRACE_S))


@dataclass(frozen=True)
class JobSpec:
    """The job a source should have."""

    source: str
    schedule: str
    trigger: str  # trigger_key
    grace_s: int
    interval: bool

    @classmethod
    def of(cls, source: Source) -> JobSpec:
        trigger = build_trigger(source.schedule)
        return cls(source.name, source.schedule, trigger_key(trigger), misfire_grace_s(trigger),
                   isinstance(trigger, IntervalTrigger))


@dataclass(frozen=True)
class ExistingJob:
    """A source's job as the job store has it."""

    source: str
    trigger: str
    grace_s: int | None
    paused: bool

    @classmethod
    def of(cls, job: Any) -> ExistingJob | None:
        name = source_of(job.id)
        if name is None:
            return None
        return cls(name, trigger_key(job.trigger), job.misfire_grace_time,
                   job.next_run_time is None)


@dataclass
class SyncPlan:
    add: list[JobSpec] = field(default_factory=list)
    change: list[JobSpec] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)  # source -> problem (job kept)

    def summary(self) -> str:
        def names(items: list) -> str:
            return ",".join(i.source if isinstance(i, JobSpec) else i for i in items)

        parts = [f"{len(self.unchanged)} unchanged"]
        for label, items in (("added", self.add), ("changed", self.change),
                             ("removed", self.remove)):
            if items:
                parts.append(f"{label} {names(items)}")
        if self.problems:
            parts.append(f"left as they were (bad definition) {','.join(sorted(self.problems))}")
        return "; ".join(parts)


def desired_jobs(sources: Mapping[str, Source]) -> dict[str, JobSpec]:
    return {name: JobSpec.of(s) for name, s in sorted(sources.items()) if s.enabled}


def plan_sync(desired: Mapping[str, JobSpec], existing: Mapping[str, ExistingJob],
              problems: Mapping[str, str] | None = None) -> SyncPlan:
    """What to do so that the job store has exactly the desired jobs. Sources with a
    problem (a bad definition in sources.toml) keep whatever job they have."""
    plan = SyncPlan(problems=dict(problems or {}))
    for name, spec in sorted(desired.items()):
        have = existing.get(name)
        if have is None:
            plan.add.append(spec)
        elif have.trigger != spec.trigger or have.grace_s != spec.grace_s:
            plan.change.append(spec)
        else:
            plan.unchanged.append(name)
    for name in sorted(existing):
        if name not in desired and name not in plan.problems:
            plan.remove.append(name)
    return plan


def read_desired(home: Path) -> tuple[dict[str, JobSpec], dict[str, str]]:
    """Jobs wanted by sources.toml, and the problem of each bad source (a
    file that cannot be read at all raises SourcesError)."""
    read = read_sources(sources_path(home))
    return desired_jobs(read.sources), dict(read.problems)


def add_job(scheduler: Any, spec: JobSpec, now: datetime | None = None) -> bool:
    """A new source's job; an interval source is crawled at once, then every interval."""
    first: dict[str, Any] = {"next_run_time": now or datetime.now(UTC)} if spec.interval else {}
    try:
        scheduler.add_job(JOB_FUNC, build_trigger(spec.schedule), args=[spec.source],
                          id=job_id(spec.source), name=spec.source, jobstore=JOBSTORE,
                          max_instances=1, coalesce=True, misfire_grace_time=spec.grace_s,
                          replace_existing=False, **first)
    except ConflictingIdError:
        return False  # another daemon added it a moment ago
    return True


def apply_sync(scheduler: Any, plan: SyncPlan, now: datetime | None = None) -> None:
    for spec in plan.add:
        add_job(scheduler, spec, now)
    for spec in plan.change:
        jid = job_id(spec.source)
        try:
            job = scheduler.get_job(jid, JOBSTORE)
            paused = job is not None and job.next_run_time is None
            scheduler.modify_job(jid, JOBSTORE, misfire_grace_time=spec.grace_s,
                                 max_instances=1, coalesce=True)
            scheduler.reschedule_job(jid, JOBSTORE, trigger=build_trigger(spec.schedule))
            if paused:
                scheduler.pause_job(jid, JOBSTORE)
        except JobLookupError:
            add_job(scheduler, spec, now)  # removed meanwhile by another daemon
    for name in plan.remove:
        try:
            scheduler.remove_job(job_id(name), JOBSTORE)
        except JobLookupError:
            pass


def existing_jobs(jobs: list[Any]) -> dict[str, ExistingJob]:
    out = {}
    for job in jobs:
        have = ExistingJob.of(job)
        if have is not None:
            out[have.source] = have
    return out


def sync_jobs(scheduler: Any, home: Path, now: datetime | None = None) -> SyncPlan:
    """Make the job store match sources.toml (SourcesError: the file is unreadable)."""
    desired, problems = read_desired(home)
    plan = plan_sync(desired, existing_jobs(scheduler.get_jobs(JOBSTORE)), problems)
    apply_sync(scheduler, plan, now)
    return plan


class VahtiJobStore(MongoDBJobStore):
    """APScheduler's MongoDBJobStore on vahti's Storage, with two differences:
    `shutdown()` leaves the client open (the stock store closes the client it was
    given; here the Storage owns it and closes it last), and once `closing` is set
    it hands out no due jobs (a stopping daemon neither starts nor advances a fire;
    APScheduler processes jobs once more after `shutdown()`)."""

    closing = False

    def get_due_jobs(self, now: datetime) -> list:
        return [] if self.closing else super().get_due_jobs(now)

    def shutdown(self) -> None:
        pass

    def _reconstitute_job(self, job_state: bytes) -> Any:
        # Jobs stored before vahti's parts moved under the `vahti` namespace name
        # their function "scheduler.jobs:run_source"; the stock store would fail to
        # import it and delete the job. The old reference is read as the new one.
        state = pickle.loads(job_state)
        if state.get("func") == PRE_NAMESPACE_JOB_FUNC:
            state["func"] = JOB_FUNC
        return super()._reconstitute_job(pickle.dumps(state, pickle.HIGHEST_PROTOCOL))


def job_store(storage: Storage) -> VahtiJobStore:
    """The job store on vahti's database (collection `jobs`)."""
    return VahtiJobStore(database=storage.db.name, collection=schema.JOBS,
                         client=storage.client)


# -- the job function and the scheduled time of its fire ----------------------------------

_fire = threading.local()
_runner: Callable[[str, datetime | None, str], None] | None = None


def current_fire_time() -> datetime | None:
    """The scheduled time of the fire this thread runs (None outside a fire)."""
    return getattr(_fire, "time", None)


class FireTimeExecutor(ThreadPoolExecutor):
    """APScheduler's thread pool executor that also tells the job which scheduled
    fire it runs (the last of `run_times`: jobs coalesce), so that daemons sharing
    the job store can tell one fire from the next."""

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        def call() -> Any:
            _fire.time = run_times[-1] if run_times else None
            try:
                return run_job(job, job._jobstore_alias, run_times, self._logger.name)
            finally:
                _fire.time = None

        def callback(f: Any) -> None:
            exc = f.exception()
            if exc:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, f.result())

        self._pool.submit(call).add_done_callback(callback)


def set_runner(runner: Callable[[str, datetime | None, str], None] | None) -> None:
    """The daemon of this process: runner(source, fire_time, command_id)."""
    global _runner
    _runner = runner


def run_source(name: str, command: str = "") -> None:
    """A job's function (referenced as "vahti.scheduler.jobs:run_source")."""
    runner = _runner
    if runner is None:
        raise RuntimeError("scheduler.jobs.run_source runs inside `vahti daemon` only")
    runner(name, None if command else current_fire_time(), command)


# -- `vahti jobs list` ----------------------------------------------------------------------


def _iso(when: Any) -> str | None:
    if not isinstance(when, datetime):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds")


def describe_jobs(storage: Storage, home: Path, now: datetime | None = None) -> dict[str, Any]:
    """Jobs from the database (and sources.toml): works with or without a daemon."""
    now = now or datetime.now(UTC)
    try:
        read = read_sources(sources_path(home))
        sources, problems = read.sources, dict(read.problems)
    except SourcesError as exc:
        sources, problems = {}, {"": str(exc)}
    jobs = {source_of(j.id): j for j in job_store(storage).get_all_jobs()
            if source_of(j.id) is not None}
    held = leases.job_leases(storage)
    names = sorted(set(jobs) | {n for n, s in sources.items() if s.enabled})
    rows = []
    for name in names:
        job = jobs.get(name)
        source = sources.get(name)
        lease = held.get(job_id(name))
        last = runs.latest_runs(storage, name, 1)
        running = None
        if leases.is_held(lease, now):
            running = {"owner": lease["owner"], "run_id": lease.get("run_id"),
                       "since": _iso(lease.get("acquired"))}
        rows.append({
            "source": name,
            "schedule": source.schedule if source else (str(job.trigger) if job else None),
            "enabled": bool(source and source.enabled),
            "scheduled": job is not None,
            "next_run": _iso(job.next_run_time) if job else None,
            "paused": bool(job is not None and job.next_run_time is None),
            "running": running,
            "last_run": ({k: (_iso(v) if isinstance(v, datetime) else v)
                          for k, v in last[0].items()
                          if k in ("run_id", "state", "reason", "started", "finished",
                                   "exit_code", "trigger")} if last else None),
            "problem": problems.get(name),
        })
    daemons = [{"owner": d["owner"], "host": d.get("host"), "pid": d.get("pid"),
                "started": _iso(d.get("started")), "renewed": _iso(d.get("renewed"))}
               for d in leases.live_daemons(storage, now)]
    return {"jobs": rows, "daemons": daemons, "problems": problems}

