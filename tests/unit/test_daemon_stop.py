"""What a daemon's stop does to the pass that follows a crawl (alerts, delivery).

The database and the crawl child are stood in for: what is tested is the daemon's
own decision, which the integration tests in tests/integration/test_daemon.py can
only hit by a race (a SIGTERM landing between the crawl's end and its pass)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from vahti.scheduler import daemon as daemon_mod
from vahti.scheduler.daemon import Daemon, DaemonSettings, Outcome
from vahti.spiders.sources import Source


@pytest.fixture
def passes(monkeypatch) -> list[str]:
    ran: list[str] = []
    monkeypatch.setattr(daemon_mod.leases, "acquire", lambda *a, **k: {})
    monkeypatch.setattr(daemon_mod.leases, "release", lambda *a, **k: None)
    monkeypatch.setattr(daemon_mod.hooks, "after_job",
                        lambda storage, cfg, name, metrics=None: ran.append(name))
    return ran


def _daemon(monkeypatch, outcome: Outcome) -> tuple[Daemon, list[str]]:
    d = Daemon(SimpleNamespace(home="/nonexistent"), DaemonSettings())
    queued: list[str] = []
    monkeypatch.setattr(d, "_source", lambda name: Source(name, "url", ("http://x.test/",)))
    monkeypatch.setattr(daemon_mod.job_commands, "enqueue",
                        lambda storage, action, name, **k: queued.append(name))

    def crawl_then_sigterm(*args, **kwargs) -> Outcome:
        d.request_stop()  # SIGTERM lands as the crawl's end is recorded
        return outcome

    monkeypatch.setattr(d, "_supervise", crawl_then_sigterm)
    return d, queued


def test_a_crawl_that_finished_gets_its_pass_even_when_a_stop_follows(monkeypatch, passes):
    """Its sightings are alerted and delivered before the daemon exits, not left to
    whichever daemon runs next (which may be days later)."""
    d, queued = _daemon(monkeypatch, Outcome("done", None, 0))
    d._run_job("pastes", None, "")
    assert passes == ["pastes"] and queued == []


def test_a_failed_crawl_gets_its_pass_too(monkeypatch, passes):
    d, queued = _daemon(monkeypatch, Outcome("failed", "crawl process exited with code 1", 1))
    d._run_job("pastes", None, "")
    assert passes == ["pastes"] and queued == []


def test_a_crawl_the_stop_interrupted_is_queued_to_resume_without_a_pass(monkeypatch,
                                                                          passes):
    """The stop is the operator's: the daemon exits within its grace; what the crawl
    stored stays unalerted for the resumed run's pass."""
    d, queued = _daemon(monkeypatch, Outcome("interrupted", "shutdown", 0, stopped=True))
    d._run_job("pastes", None, "")
    assert passes == [] and queued == ["pastes"]
