"""Source health verdicts on synthetic run histories: a pure function, no storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vahti.scheduler.health import (
    CANARY_MISSING,
    DISABLED,
    FAILING,
    NEVER_RUN,
    OK,
    STALE,
    format_age,
    judge_runs,
)
from vahti.spiders.sources import Source
from vahti.storage.health import RunsOverview

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)


def source(**kw) -> Source:
    options = kw.pop("options", {})
    return Source("pastes", "paste_listing", ("http://pastes.onion/lists",),
                  schedule="every 1h", options=options, **kw)


def run(ago: timedelta, state: str = "done", *, new_items: int = 0, new_sightings: int = 0,
        reason: str = "", errors: dict | None = None, minutes: int = 5) -> dict:
    started = NOW - ago
    out = {"started": started, "state": state, "new_items": new_items,
           "new_sightings": new_sightings, "errors": errors or {},
           "reason": reason or {"done": "finished", "failed": "closespider_timeout",
                                "interrupted": "shutdown"}.get(state, "")}
    if state != "running":
        out["finished"] = started + timedelta(minutes=minutes)
    return out


def hourly(n: int, state: str = "done", start: timedelta = H, **kw) -> list[dict]:
    return [run(start + i * H, state, **kw) for i in range(n)]


def test_never_run_and_disabled_are_not_unhealthy():
    health = judge_runs(source(), [], NOW)
    assert health.verdict == NEVER_RUN and not health.unhealthy
    assert health.reason == "no crawl yet" and health.last_run is None
    off = judge_runs(source(enabled=False), hourly(5, "failed"), NOW)
    assert off.verdict == DISABLED and not off.unhealthy
    assert off.failed_streak == 5  # the facts are still there


def test_ok_with_counts_and_times():
    runs = hourly(4, new_items=2) + [run(5 * H, "failed", errors={"http_503": 4})]
    health = judge_runs(source(), runs, NOW)
    assert health.verdict == OK and not health.unhealthy
    assert health.last_success == NOW - H + timedelta(minutes=5)
    assert health.last_new == health.last_success
    assert health.errors == {"http_503": 4} and health.runs_counted == 5
    assert health.failed_streak == 0 and health.last_run_state == "done"
    assert health.reason.startswith("last success 2026-11-20 11:05 UTC")


def test_failing_after_k_consecutive_failures():
    two = hourly(2, "failed", errors={"http_503": 3}) + hourly(3, start=3 * H)
    health = judge_runs(source(), two, NOW)
    assert health.verdict == OK and health.failed_streak == 2
    assert "2 failed since" in health.reason
    three = hourly(3, "failed", errors={"http_503": 3}) + hourly(3, start=4 * H)
    health = judge_runs(source(), three, NOW)
    assert health.verdict == FAILING and health.unhealthy
    assert health.failed_streak == 3 and health.since == NOW - 3 * H
    assert health.reason == ("3 failed runs in a row since 2026-11-20 09:00 UTC "
                             "(last: closespider timeout)")
    assert health.errors == {"http_503": 9}
    assert judge_runs(source(), three, NOW, fail_after=4).verdict == OK
    # an interrupted run (shutdown) neither breaks nor extends the streak
    mixed = [run(H, "failed"), run(2 * H, "interrupted"), run(3 * H, "failed"),
             run(4 * H, "failed"), run(5 * H)]
    assert judge_runs(source(), mixed, NOW).failed_streak == 3
    # a success ends it
    assert judge_runs(source(), [run(H)] + three, NOW).verdict == OK


def test_failing_at_once_when_tor_or_the_login_fails():
    for reason in ("tor_unavailable", "login_failed"):
        runs = [run(H, "failed", reason=reason)] + hourly(3, start=2 * H)
        health = judge_runs(source(), runs, NOW)
        assert health.verdict == FAILING, reason
        assert health.reason == (f"the last run failed: {reason.replace('_', ' ')} "
                                 "(2026-11-20 11:00 UTC)")
        assert health.since == NOW - H
    # a second such failure keeps the since of the first: one ongoing problem
    runs = [run(H, "failed", reason="tor_unavailable"),
            run(2 * H, "failed", reason="tor_unavailable")] + hourly(3, start=3 * H)
    assert judge_runs(source(), runs, NOW).since == NOW - 2 * H
    # the same failure before a later success is history
    runs = [run(H), run(2 * H, "failed", reason="tor_unavailable")]
    assert judge_runs(source(), runs, NOW).verdict == OK
    # a run still going does not hide the failure before it
    runs = [run(timedelta(minutes=10), "running"), run(H, "failed", reason="login_failed")]
    health = judge_runs(source(), runs, NOW)
    assert health.verdict == FAILING and health.running


def test_a_run_left_running_long_past_its_time_limit_counts_as_failed():
    stuck = [run(6 * H, "running"), run(7 * H, "failed"), run(8 * H, "failed"), run(9 * H)]
    health = judge_runs(source(time_limit_s=3600.0), stuck, NOW)
    assert health.verdict == FAILING and health.failed_streak == 3
    fresh = judge_runs(source(time_limit_s=6 * 3600.0), stuck, NOW)
    assert fresh.verdict == OK and fresh.running and fresh.failed_streak == 2


def test_stale_by_expect_new_within():
    quiet = hourly(30) + [run(30 * H, new_items=3)]
    health = judge_runs(source(expect_new_within="1d"), quiet, NOW)
    assert health.verdict == STALE and health.unhealthy
    assert health.since == NOW - 30 * H + timedelta(minutes=5)
    assert health.reason == ("no new item for 1d 5h (expected within 1d); "
                             "last new 2026-11-19 06:05 UTC")
    assert judge_runs(source(expect_new_within="2d"), quiet, NOW).verdict == OK
    assert judge_runs(source(), quiet, NOW).verdict == OK  # no expectation, no staleness
    # new sightings count as new too
    sighted = hourly(30) + [run(2 * H, new_sightings=1)]
    assert judge_runs(source(expect_new_within="1d"), sighted, NOW).verdict == OK


def test_stale_counts_from_the_first_run_when_nothing_was_ever_new():
    young = hourly(5)
    assert judge_runs(source(expect_new_within="1d"), young, NOW).verdict == OK
    old = hourly(30)
    health = judge_runs(source(expect_new_within="1d"), old, NOW)
    assert health.verdict == STALE and health.last_new is None
    assert "none since the first run 2026-11-19 06:00 UTC" in health.reason


def test_failing_wins_over_stale():
    runs = hourly(3, "failed") + hourly(30, start=4 * H)
    assert judge_runs(source(expect_new_within="1d"), runs, NOW).verdict == FAILING


CANARY = {"canary": "CANARY-7", "canary_within": "1d"}


def test_canary_present_and_missing():
    runs = hourly(72, new_items=1)
    configured = NOW - 4 * D
    seen = judge_runs(source(options=CANARY), runs, NOW, canary_configured=configured,
                      canary_seen=NOW - 20 * H)
    assert seen.verdict == OK and seen.canary == "CANARY-7"
    assert seen.canary_seen == NOW - 20 * H
    late = judge_runs(source(options=CANARY), runs, NOW, canary_configured=configured,
                      canary_seen=NOW - 26 * H)
    assert late.verdict == CANARY_MISSING and late.unhealthy
    assert late.since == NOW - 26 * H
    assert late.reason == ("canary not seen for 1d 2h (expected within 1d); "
                           "last seen 2026-11-19 10:00 UTC")
    never = judge_runs(source(options=CANARY), runs, NOW, canary_configured=configured)
    assert never.verdict == CANARY_MISSING and never.since == NOW - 72 * H
    assert "not seen since its first run 2026-11-17 12:00 UTC" in never.reason
    assert "CANARY" not in never.reason  # counts and times only


def test_a_new_canary_has_its_grace_from_the_first_run_after_it_was_configured():
    runs = hourly(72, new_items=1)  # the source itself is old
    just_now = judge_runs(source(options=CANARY), runs, NOW, canary_configured=NOW)
    assert just_now.verdict == OK and "canary not yet due" in just_now.reason
    # configured 30 h ago, so the first run after it started 30 h ago: due
    due = judge_runs(source(options=CANARY), runs, NOW,
                     canary_configured=NOW - 30 * H - timedelta(minutes=1))
    assert due.verdict == CANARY_MISSING and due.since == NOW - 30 * H
    # configured 20 h ago: still within its grace
    grace = judge_runs(source(options=CANARY), runs, NOW, canary_configured=NOW - 20 * H)
    assert grace.verdict == OK
    # a new source with a canary: no run yet is never_run, a first run starts the clock
    assert judge_runs(source(options=CANARY), [], NOW).verdict == NEVER_RUN
    first = judge_runs(source(options=CANARY), [run(H)], NOW, canary_configured=NOW - 2 * H)
    assert first.verdict == OK


def test_canary_missing_wins_over_stale_and_loses_to_failing():
    runs = hourly(3, "failed") + hourly(72, start=4 * H)
    old = NOW - 5 * D
    assert judge_runs(source(options=CANARY, expect_new_within="1d"), runs, NOW,
                      canary_configured=old).verdict == FAILING
    assert judge_runs(source(options=CANARY, expect_new_within="1d"), runs[3:], NOW,
                      canary_configured=old).verdict == CANARY_MISSING


def test_overview_from_runs():
    runs = [run(H, "failed"), run(2 * H, "failed"), run(3 * H, new_items=1), run(4 * H)]
    overview = RunsOverview.from_runs(list(reversed(runs)), recent=2)
    assert [r["started"] for r in overview.recent] == [NOW - H, NOW - 2 * H]
    assert overview.first_run["started"] == NOW - 4 * H
    assert overview.last_success["started"] == NOW - 3 * H
    assert overview.last_new["started"] == NOW - 3 * H
    assert (overview.failed_streak, overview.failing_since) == (2, NOW - 2 * H)
    assert RunsOverview.from_runs([]).last_run is None


@pytest.mark.parametrize("seconds,text", [(40, "40s"), (720, "12m"), (3600, "1h"),
                                          (5 * 3600 + 600, "5h 10m"), (86400, "1d"),
                                          (3 * 86400 + 4 * 3600 + 59, "3d 4h")])
def test_format_age(seconds, text):
    assert format_age(seconds) == text


def test_runs_without_an_answer_fail_with_their_reason_and_degraded_runs_stay_ok():
    """A crawl in which no request was answered is a failed run with a one-line failure;
    one with most requests failed is done, and only noted as degraded."""
    lost = "no request succeeded: 12 connection failures (tor: host unreachable)"
    failed = [{**run(i * H, "failed", reason="no_response", errors={"SocksError": 12}),
               "failure": lost} for i in (1, 2, 3)]
    health = judge_runs(source(), failed, NOW)
    assert health.verdict == FAILING
    assert health.reason == f"3 failed runs in a row since 2026-11-20 09:00 UTC (last: {lost})"
    assert judge_runs(source(), failed[:2], NOW).verdict == OK  # not before fail_after

    def grey(ago: timedelta) -> list[dict]:
        return [{**run(ago), "requests": 10, "failed_requests": 9, "degraded": True}]

    health = judge_runs(source(), grey(H) + hourly(2, start=2 * H), NOW)
    assert health.verdict == OK and health.degraded == "9 of 10 requests failed"
    assert health.reason.endswith("; last run degraded: 9 of 10 requests failed")
    assert health.details()["degraded"] == "9 of 10 requests failed"
    recovered = judge_runs(source(), hourly(1) + grey(2 * H), NOW)  # the last run counts
    assert recovered.degraded == "" and "degraded" not in recovered.reason
