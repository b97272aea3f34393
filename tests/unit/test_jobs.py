"""The daemon's pure parts: schedules to triggers, job sync plans, lease rules,
the verdict on a crawl that ended, and the fire time a job is told."""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from vahti.scheduler import jobs
from vahti.scheduler.daemon import _failure_text, _one_line, classify
from vahti.scheduler.jobs import ExistingJob, JobSpec, build_trigger, misfire_grace_s, plan_sync
from vahti.spiders.sources import Source, SourcesError
from vahti.storage import leases

T0 = datetime(2025, 3, 3, 12, 0, 0, 123456, tzinfo=UTC)  # a Monday


def source(name: str, schedule: str = "every 30m", enabled: bool = True) -> Source:
    return Source(name=name, kind="url", urls=(f"https://{name}.example/",),
                  schedule=schedule, enabled=enabled)


# -- schedules -> triggers --------------------------------------------------------------


@pytest.mark.parametrize("schedule, seconds", [
    ("every 45s", 45), ("every 30m", 1800), ("every 2h", 7200), ("every 1d", 86400),
])
def test_every_is_an_interval_trigger(schedule, seconds):
    trigger = build_trigger(schedule)
    assert isinstance(trigger, IntervalTrigger)
    assert trigger.interval == timedelta(seconds=seconds)
    assert misfire_grace_s(trigger) == seconds


def test_cron_is_a_utc_crontab_trigger():
    trigger = build_trigger("15 3 * * mon-fri")
    assert isinstance(trigger, CronTrigger)
    assert str(trigger.timezone) == "UTC"
    assert trigger.get_next_fire_time(None, T0) == datetime(2025, 3, 4, 3, 15, tzinfo=UTC)
    friday = datetime(2025, 3, 7, 4, 0, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, friday) == datetime(2025, 3, 10, 3, 15, tzinfo=UTC)
    assert misfire_grace_s(build_trigger("*/5 * * * *"), T0) == 300
    assert misfire_grace_s(build_trigger("0 4 1 * *"), T0) == jobs.MAX_GRACE_S  # capped


@pytest.mark.parametrize("bad", ["every 0m", "every 5 minutes", "15 3 * * 1-5", "61 * * * *", ""])
def test_bad_schedules_are_refused(bad):
    with pytest.raises(SourcesError):
        build_trigger(bad)


def test_same_schedule_same_key_different_schedule_other_key():
    assert jobs.trigger_key(build_trigger("every 10s")) == jobs.trigger_key(
        build_trigger(" every  10s "))
    assert jobs.trigger_key(build_trigger("every 10s")) != jobs.trigger_key(
        build_trigger("every 11s"))
    assert jobs.trigger_key(build_trigger("0 3 * * *")) != jobs.trigger_key(
        build_trigger("0 4 * * *"))


def test_job_ids():
    assert jobs.job_id("pastes") == "source:pastes"
    assert jobs.source_of("source:pastes") == "pastes"
    assert jobs.source_of("periodic") is None


# -- sync plans -----------------------------------------------------------------------------


def existing(name: str, schedule: str, paused: bool = False) -> ExistingJob:
    spec = JobSpec.of(source(name, schedule))
    return ExistingJob(name, spec.trigger, spec.grace_s, paused)


def test_plan_adds_changes_removes_and_keeps():
    desired = jobs.desired_jobs({
        "same": source("same", "every 30m"),
        "new": source("new", "every 1h"),
        "moved": source("moved", "0 3 * * *"),
        "off": source("off", "every 5m", enabled=False),
    })
    assert set(desired) == {"same", "new", "moved"}  # disabled: no job
    have = {
        "same": existing("same", "every 30m", paused=True),
        "moved": existing("moved", "every 2h"),
        "off": existing("off", "every 5m"),
        "gone": existing("gone", "every 5m"),
    }
    plan = plan_sync(desired, have)
    assert [s.source for s in plan.add] == ["new"]
    assert [s.source for s in plan.change] == ["moved"]
    assert plan.remove == ["gone", "off"]
    assert plan.unchanged == ["same"]
    assert "added new" in plan.summary() and "removed gone,off" in plan.summary()


def test_plan_leaves_a_broken_source_alone():
    have = {"broken": existing("broken", "every 5m")}
    plan = plan_sync({}, have, problems={"broken": "source broken: urls: missing"})
    assert plan.remove == [] and plan.add == [] and plan.change == []


def test_plan_changes_a_job_whose_grace_differs():
    spec = JobSpec.of(source("a", "every 10m"))
    have = {"a": ExistingJob("a", spec.trigger, 5, False)}
    assert [s.source for s in plan_sync({"a": spec}, have).change] == ["a"]


def test_apply_sync_keeps_pause_and_settings():
    scheduler = BackgroundScheduler(jobstores={jobs.JOBSTORE: MemoryJobStore()}, timezone=UTC)
    scheduler.start(paused=True)
    try:
        plan = plan_sync(jobs.desired_jobs({"a": source("a", "every 10m"),
                                            "b": source("b", "0 3 * * *")}), {})
        jobs.apply_sync(scheduler, plan)
        a = scheduler.get_job("source:a")
        assert (a.func_ref, a.args, a.max_instances, a.coalesce, a.misfire_grace_time) == (
            jobs.JOB_FUNC, ("a",), 1, True, 600)
        assert a.next_run_time is not None and a.next_run_time <= datetime.now(UTC)  # at once
        b = scheduler.get_job("source:b")
        assert b.next_run_time.hour == 3 and b.misfire_grace_time == 86400

        scheduler.pause_job("source:a")
        have = jobs.existing_jobs(scheduler.get_jobs())
        plan = plan_sync(jobs.desired_jobs({"a": source("a", "every 20m")}), have)
        assert [s.source for s in plan.change] == ["a"] and plan.remove == ["b"]
        jobs.apply_sync(scheduler, plan)
        a = scheduler.get_job("source:a")
        assert a.trigger.interval == timedelta(minutes=20) and a.misfire_grace_time == 1200
        assert a.next_run_time is None  # still paused
        assert scheduler.get_job("source:b") is None
    finally:
        scheduler.shutdown(wait=False)


# -- leases -----------------------------------------------------------------------------------


def test_owner_round_trip():
    owner = leases.make_owner("db-host.example", 4242)
    parsed = leases.parse_owner(owner)
    assert (parsed.host, parsed.pid) == ("db-host.example", 4242) and len(parsed.tag) == 12
    assert leases.make_owner("h", 1) != leases.make_owner("h", 1)
    assert leases.parse_owner("garbage") is None


def test_lease_free_held_expired():
    assert leases.can_acquire(None, T0)
    held = {"owner": "h:1:a", "expires": T0 + timedelta(seconds=30)}
    assert not leases.can_acquire(held, T0)
    assert leases.can_acquire(held, T0 + timedelta(seconds=30))  # expired: a dead holder
    assert leases.can_acquire({"owner": None, "expires": None}, T0)


def test_lease_runs_each_fire_once():
    fire = T0
    released = {"owner": None, "expires": None, "fire": leases.fire_key(fire)}
    assert not leases.can_acquire(released, T0, fire=fire)  # the same fire again: skipped
    assert leases.can_acquire(released, T0, fire=fire + timedelta(seconds=10))  # the next one
    assert not leases.can_acquire(released, T0, fire=fire - timedelta(seconds=10))
    assert leases.can_acquire(released, T0)  # a run on request has no fire
    assert leases.fire_key(T0).microsecond == 123000  # BSON keeps milliseconds


def test_abandoned_leases():
    alive = {100, 200}.__contains__
    doc = {"owner": "here:300:x", "child_pid": None}
    assert leases.abandoned(doc, "here", alive)
    assert not leases.abandoned({"owner": "here:300:x", "child_pid": 200}, "here", alive)
    assert not leases.abandoned({"owner": "here:100:x"}, "here", alive)  # holder alive
    assert not leases.abandoned({"owner": "elsewhere:300:x"}, "here", alive)  # cannot tell
    assert not leases.abandoned({"owner": None}, "here", alive)


# -- the verdict on a crawl that ended ----------------------------------------------------------


def test_classify():
    assert classify(0, None, False, "done") == (None, None)
    assert classify(1, None, False, "done") == (None, None)
    assert classify(2, None, False, "failed") == (None, None)  # the crawl said why
    assert classify(2, "time limit", False, "interrupted") == ("killed", "time limit")
    assert classify(-signal.SIGKILL, "time limit", True, "running") == ("killed", "time limit")
    assert classify(2, "daemon stop", False, "interrupted") == (None, None)
    assert classify(-signal.SIGKILL, "daemon stop", True, "running") == ("killed", "daemon stop")
    assert classify(-signal.SIGSEGV, None, False, "running") == (
        "failed", "crawl process killed by signal SIGSEGV")
    assert classify(1, None, False, None) == ("failed", "crawl process exited with code 1")


# -- the fire time a job is told ------------------------------------------------------------


def test_fire_time_executor_tells_the_scheduled_time():
    seen: list = []
    done = threading.Event()

    def runner(name, fire, command):  # noqa: ANN001
        seen.append((name, fire, command))
        done.set()

    scheduler = BackgroundScheduler(executors={"default": jobs.FireTimeExecutor(2)},
                                    timezone=UTC)
    jobs.set_runner(runner)
    try:
        scheduler.start()
        when = datetime.now(UTC) + timedelta(milliseconds=200)
        scheduler.add_job(jobs.JOB_FUNC, "date", run_date=when, args=["pastes"])
        assert done.wait(5)
        assert seen == [("pastes", when, "")]
        assert jobs.current_fire_time() is None
        # the scheduler thread removes the spent date job after submitting it: shutting
        # down before that makes its remove_job raise JobLookupError in that thread
        deadline = time.monotonic() + 5
        while scheduler.get_jobs() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert scheduler.get_jobs() == []
    finally:
        scheduler.shutdown(wait=True)
        jobs.set_runner(None)
    with pytest.raises(RuntimeError):
        jobs.run_source("pastes")


def test_the_failure_line_of_a_crawl_on_the_daemon_terminal():
    """Why a crawl failed, in one line that no control character can rewrite."""
    run = {"failure": "no request succeeded: 2 connection failures (tor: host unreachable)",
           "reason": "no_response"}
    own = ["Traceback (most recent call last):", "vahti: error: crawl of x failed: boom"]
    assert _failure_text("time limit", run, own) == "time limit"  # the daemon's verdict
    assert _failure_text(None, run, own) == run["failure"]
    assert _failure_text(None, {"reason": "tor_unavailable"}, own) == "crawl of x failed: boom"
    assert _failure_text(None, None, ["ImportError: decoy"]) == "no reason recorded"
    shown = _one_line("bad\x1b[2J\x1b]0;title\x07\nname\u202e")
    assert shown.isprintable() and "\\x1b[2J" in shown and "\\n" in shown
    assert len(_one_line("x" * 1000)) == 300


def test_a_job_stored_before_the_namespace_move_keeps_running():
    """vahti 0.1 stored jobs naming "scheduler.jobs:run_source"; the stock store cannot
    import that any more and would delete the job: it is read as the moved function."""
    import pickle

    scheduler = BackgroundScheduler(jobstores={"default": MemoryJobStore()})
    job = scheduler.add_job(jobs.JOB_FUNC, IntervalTrigger(minutes=30), args=["paste"],
                            id="source:paste", misfire_grace_time=60, coalesce=True,
                            max_instances=1, next_run_time=T0)
    state = job.__getstate__()
    state["func"] = "scheduler.jobs:run_source"
    store = jobs.VahtiJobStore.__new__(jobs.VahtiJobStore)  # no database: only the decoding
    store._scheduler, store._alias = scheduler, jobs.JOBSTORE
    restored = store._reconstitute_job(pickle.dumps(state))
    assert restored.func is jobs.run_source and restored.args == ("paste",)
