"""`vahti daemon`: crawls every enabled source on its schedule.

- **Scheduler.** APScheduler's `BackgroundScheduler` with its `MongoDBJobStore` in
  vahti's database (see `scheduler/jobs.py`). The jobs are synced from
  sources.toml at start, on SIGHUP and on `vahti jobs reload`.
- **Crawls in child processes.** A fire runs `python -P -m vahti crawl NAME --json
  --run-id ID` (in vahti's home, so no folder the daemon was started in can shadow
  the installed package) in a new session and supervises it from a worker thread: the
  daemon itself stays responsive. Past the source's `time_limit_s` the crawl gets
  SIGTERM (Scrapy closes the spider; its pipeline flushes what it scanned), then
  SIGKILL after `[daemon] stop_grace_s`, and its run is recorded as `killed`,
  reason "time limit". A child that dies otherwise is recorded as `failed`. A
  child whose daemon dies (even by kill -9) is killed by the kernel
  (PR_SET_PDEATHSIG), so no crawl runs on unsupervised; the next daemon on that
  host records the run as killed and resumes the crawl.
- **Several daemons, one database.** APScheduler 3 does not coordinate schedulers
  that share a job store, so every daemon may fire the same job. Before a crawl
  the daemon takes the job's lease (`storage/leases.py`): one atomic update that
  only succeeds when no live daemon holds it *and* the fire's scheduled time is
  newer than the last fire handled. The loser skips; the winner renews the lease
  while its crawl runs and releases it afterwards.
- **Commands.** `vahti jobs run|pause|resume|reload` queue a command in the
  database (`storage/job_commands.py`); every `[daemon] poll_s` the daemon claims
  queued commands (each is carried out by one daemon) and answers them. Pause and
  resume act on the shared job store, so they hold for every daemon.
- **Stopping.** SIGTERM (or SIGINT): stop taking jobs, SIGTERM to the running
  crawls, wait up to `[daemon] stop_grace_s` (then SIGKILL), release the leases,
  exit 0. A crawl stopped this way is queued to run again ("resume"): the next
  daemon to poll runs it, and the crawl resumes from what is stored. A crawl that
  had already ended when the stop came still gets its pass (alerts, delivery)
  before the daemon exits.
- **Reloading.** SIGHUP (systemd's ExecReload): config.toml is read again
  (`Daemon.reload_config`: all but [storage] and [key]; the log file is reopened),
  then the jobs are synced from sources.toml.
- After each job and every `[daemon] deliver_every_s`: `scheduler.hooks`
  (alerts for new sightings, outbox delivery).

Nothing here crawls or matches: that is the child's business.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shlex
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from vahti import key_source
from vahti.config import Config, load_config
from vahti.display import clean
from vahti.errors import VahtiError
from vahti.logs import configure_logging
from vahti.matchers.keys import Key
from vahti.scheduler import hooks, jobs
from vahti.scheduler.metrics import DaemonMetrics, MetricsSettings
from vahti.selfcmd import vahti_command
from vahti.spiders.sources import Source, SourcesError, read_sources, sources_path
from vahti.storage import job_commands, leases, runs
from vahti.storage.connection import Storage
from vahti.storage.health import FAILED_STATES
from vahti.storage.processes import alive
from vahti.wiring import open_db

log = logging.getLogger("vahti.daemon")

MAX_WORKERS = 32  # crawls (child processes) running at once in one daemon
TICK_S = 0.25  # how often a supervising thread looks at its child
HOUSEKEEPING_S = 60.0
RESTART_SECTIONS = ("storage", "key")  # settings SIGHUP does not change (reload_config)
COMMANDS_KEPT = timedelta(days=7)

# Linux: the kernel kills a crawl when its daemon dies (kill -9 included), so no crawl goes
# on unsupervised while another daemon takes its lease over. SIGKILL, not SIGTERM: the
# signal comes again each time the crawl is handed to the next of the dying daemon's
# threads, and a second SIGTERM makes Scrapy stop uncleanly. What the crawl had stored
# stays; the next daemon on this host records the run as killed and resumes the crawl.
_PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


@dataclass(frozen=True)
class DaemonSettings:
    lease_s: float = 60.0
    poll_s: float = 2.0
    stop_grace_s: float = 30.0
    deliver_every_s: float = 10.0

    @classmethod
    def from_config(cls, cfg: Config) -> DaemonSettings:
        return cls(lease_s=float(cfg.get("daemon.lease_s")),
                   poll_s=float(cfg.get("daemon.poll_s")),
                   stop_grace_s=float(cfg.get("daemon.stop_grace_s")),
                   deliver_every_s=float(cfg.get("daemon.deliver_every_s")))


def classify(returncode: int, terminated: str | None, force_killed: bool,
             child_state: str | None) -> tuple[str | None, str | None]:
    """The daemon's verdict (state, reason) on a crawl that ended; (None, None) keeps
    the verdict the crawl recorded itself.

    `terminated`: why the daemon sent SIGTERM ("time limit", "daemon stop", "lease
    lost") or None; `child_state`: the state in the crawl's own run record.
    """
    unclosed = child_state in (None, "running")
    if terminated in ("time limit", "lease lost"):
        return "killed", terminated
    if terminated == "daemon stop":
        # a crawl that closed itself is "interrupted" and resumes next time
        return ("killed", terminated) if force_killed or unclosed else (None, None)
    if unclosed:
        if returncode < 0:
            try:
                name = signal.Signals(-returncode).name
            except ValueError:
                name = str(-returncode)
            return "failed", f"crawl process killed by signal {name}"
        return "failed", f"crawl process exited with code {returncode}"
    return None, None


@dataclass
class Outcome:
    state: str
    reason: str | None
    exit_code: int
    summary: dict = field(default_factory=dict)
    stopped: bool = False  # stopped by the daemon's own stop, not finished


def _child_setup(parent_pid: int):  # noqa: ANN202
    def setup() -> None:
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent_pid:  # the daemon died before prctl took effect
            os._exit(3)

    return setup


# settings that name a file: a relative one means the daemon's folder, and the crawls run
# in the home, so they get the absolute path
_PATH_SETTINGS = {"key.file": "VAHTI_KEY_FILE",
                  "tor.control_password_file": "VAHTI_TOR_CONTROL_PASSWORD_FILE"}


def _child_env(cfg: Config) -> dict[str, str]:
    env = dict(os.environ)
    # The crawls use the daemon's database and key settings even when config.toml has
    # changed since it started (they take a restart, see reload_config): a crawl that
    # wrote its run into another database would look failed to the daemon.
    for dotted, value in cfg.values.items():
        if dotted.split(".")[0] in RESTART_SECTIONS:
            text = shlex.join(map(str, value)) if isinstance(value, list) else str(value)
            env["VAHTI_" + dotted.replace(".", "_").upper()] = text
    for dotted, name in _PATH_SETTINGS.items():
        value = str(cfg.get(dotted) or "")
        if value and not Path(value).expanduser().is_absolute():
            env[name] = str(Path(value).expanduser().absolute())
    return env


def _signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        proc.send_signal(sig)  # the crawl itself: a tor it shares with others is not its group's
    except ProcessLookupError:
        pass


def _failure_text(reason: str | None, run: dict | None, err_tail: list[str]) -> str:
    """Why a crawl failed: the daemon's own verdict, else the failure its run record
    gives, else the crawl's last error line. Only the crawl's own lines ("vahti: ..."),
    which passed its redacting log filter: anything else it wrote is not repeated."""
    run = run or {}
    if reason or run.get("failure"):
        return str(reason or run["failure"])
    own = [line for line in err_tail if line.startswith("vahti: ")]
    if own:
        return own[-1].removeprefix("vahti: ").removeprefix("error: ")
    return str(run.get("reason") or "no reason recorded")


def _one_line(text: str, limit: int = 300) -> str:
    """Text from a child on one line of the terminal: control characters (escape
    sequences included) shown as escapes, never interpreted."""
    shown = clean(text)
    return shown if len(shown) <= limit else shown[:limit - 3] + "..."


def _last_json_line(data: bytes) -> dict:
    for line in reversed(data.decode("utf-8", "replace").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}
    return {}


class Daemon:
    def __init__(self, cfg: Config, settings: DaemonSettings | None = None) -> None:
        self.cfg = cfg
        self.settings = settings or DaemonSettings.from_config(cfg)
        self._settings_from_config = settings is None
        self._key: Key | None = None
        self._key_source: key_source.KeySource | None = None
        self.host = socket.gethostname()
        self.owner = leases.make_owner(self.host)
        self.storage: Storage | None = None
        self.scheduler: BackgroundScheduler | None = None
        self._store: jobs.VahtiJobStore | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._reload = threading.Event()
        self._lock = threading.Condition()
        self._active = 0  # job and hook calls under way
        self._running: dict[str, subprocess.Popen] = {}
        self._next_housekeeping = 0.0
        self.metrics: DaemonMetrics | None = None  # [metrics] listen set

    # -- life cycle -----------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)

    def _on_stop(self, signum: int, frame: Any) -> None:
        self.request_stop()

    def _on_reload(self, signum: int, frame: Any) -> None:
        self._reload.set()
        self._wake.set()

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run(self, started: Any = None) -> int:
        """Run until SIGTERM/SIGINT (or request_stop); returns the exit code."""
        # fail now, not at the first crawl; a key from a descriptor or a command is
        # handed to each crawl through a pipe (key_source.child_key_fd)
        key, self._key_source = key_source.load_key(self.cfg)
        self._key = key
        metrics = MetricsSettings.from_config(self.cfg)  # a bad address: before anything
        self.storage = open_db(self.cfg, key)
        try:
            if metrics is not None:
                self.metrics = DaemonMetrics(self.storage, self.cfg, metrics.cache_s)
                self.metrics.serve(metrics)
            self._store = jobs.job_store(self.storage)
            self.scheduler = BackgroundScheduler(
                jobstores={jobs.JOBSTORE: self._store,
                           jobs.LOCAL: MemoryJobStore()},
                executors={"default": jobs.FireTimeExecutor(MAX_WORKERS)},
                job_defaults={"max_instances": 1, "coalesce": True},
                timezone=UTC,
            )
            jobs.set_runner(self.run_job)
            self.scheduler.start(paused=True)
            self._heartbeat()
            self._resume_abandoned()
            plan = self.sync("start")
            self.scheduler.add_job(self._periodic, "interval",
                                   seconds=self.settings.deliver_every_s, id="periodic",
                                   jobstore=jobs.LOCAL, misfire_grace_time=None)
            self._poll_commands()  # queued while no daemon ran (a pause first of all)
            self.scheduler.resume()
            n_jobs = len(plan.add) + len(plan.change) + len(plan.unchanged) if plan else 0
            log.info("daemon %s started: %d jobs, poll %gs, lease %gs", self.owner, n_jobs,
                     self.settings.poll_s, self.settings.lease_s)
            if started is not None:
                started(self.owner, n_jobs)
            while not self._stop.is_set():
                self._tick()
                self._wake.wait(self.settings.poll_s)
                self._wake.clear()
        finally:
            self._shutdown()
        return 0

    def _resume_abandoned(self) -> None:
        """Jobs whose daemon on this host died while crawling (kill -9, a crash): the
        crawl died with it (PR_SET_PDEATHSIG); record that, and crawl again."""
        for lease in leases.break_abandoned(self.storage, self.host, alive):
            name = jobs.source_of(lease["_id"]) or lease["_id"]
            self._abandoned(name, lease, "its daemon died")
            job_commands.enqueue(self.storage, "run", name, requested_by=self.owner,
                                 reason="resume after its daemon died")

    def _abandoned(self, name: str, lease: dict, reason: str) -> None:
        """Close the run record of a crawl whose daemon went away mid-crawl."""
        run_id = lease.get("run_id")
        log.warning("job %s: %s (%s) during run %s", name, reason, lease.get("owner"), run_id)
        run = runs.get_run(self.storage, run_id) if run_id else None
        if run_id and (run is None or run.get("state") == "running"):
            runs.record_run_end(self.storage, run_id, name, state="killed",
                                        reason=reason, daemon=lease.get("owner"))

    def _tick(self) -> None:
        try:
            if self._reload.is_set():
                self._reload.clear()
                self.reload_config()
                self.sync("SIGHUP")
            self._heartbeat()
            self._poll_commands()
            if time.monotonic() >= self._next_housekeeping:
                self._housekeeping()
            self.scheduler.wakeup()  # notice jobs other daemons or commands changed
        except Exception as exc:  # noqa: BLE001 - a database hiccup must not end the daemon
            log.warning("daemon loop: %s (%s); retrying", type(exc).__name__, exc)

    def _heartbeat(self) -> None:
        with self._lock:
            running = sorted(self._running)
        leases.heartbeat(self.storage, self.owner, max(self.settings.lease_s,
                                                       3 * self.settings.poll_s),
                         running=running)

    def _housekeeping(self) -> None:
        now = datetime.now(UTC)
        self._next_housekeeping = time.monotonic() + HOUSEKEEPING_S
        stale = max(self.settings.lease_s, 10 * self.settings.poll_s)
        if job_commands.requeue_stale(self.storage, now - timedelta(seconds=stale)):
            log.warning("commands claimed by a daemon that did not finish them: queued again")
        job_commands.prune(self.storage, now - COMMANDS_KEPT)
        self._resume_abandoned()  # a daemon on this host that died while this one runs
        leases.prune_heartbeats(self.storage, now - timedelta(hours=1))

    def _shutdown(self) -> None:
        self._stop.set()
        scheduler, storage = self.scheduler, self.storage
        with self._lock:
            running = sorted(self._running)
        if running:
            log.info("daemon %s stopping: SIGTERM to the crawls of %s", self.owner,
                     ", ".join(running))
        try:
            if self._store is not None:
                self._store.closing = True  # no new fires, none advanced
            if scheduler is not None and scheduler.running:
                scheduler.pause()
            # the supervising threads send SIGTERM within TICK_S and SIGKILL after the grace
            with self._lock:
                if not self._lock.wait_for(lambda: self._active == 0,
                                           timeout=self.settings.stop_grace_s + 15):
                    log.error("daemon %s: %d jobs still busy at exit", self.owner, self._active)
            if storage is not None:
                try:
                    leases.remove_heartbeat(storage, self.owner)
                except Exception as exc:  # noqa: BLE001
                    log.warning("heartbeat not removed: %s", type(exc).__name__)
        finally:
            jobs.set_runner(None)
            if scheduler is not None and scheduler.running:
                scheduler.shutdown(wait=False)  # the job store leaves storage.client open
            if self.metrics is not None:
                self.metrics.close()
            if storage is not None:
                storage.close()
            log.info("daemon %s stopped", self.owner)

    def reload_config(self) -> None:
        """SIGHUP: read config.toml again (the environment still wins over it). What the
        daemon reads as it goes takes the new values: [daemon] timings, [alerts],
        [channels], [health], [retention] for the next purge, [crawl] and [tor] for the
        next crawls, and [log] levels (the log file is opened anew, which also follows a
        log file moved away). [storage] and [key] are kept until a restart: the daemon
        holds the database and the key open."""
        try:
            new = load_config(home_flag=str(self.cfg.home))
        except VahtiError as exc:
            log.error("config not reloaded (SIGHUP): %s; the daemon keeps the one it has", exc)
            return
        pinned = sorted(d for d in new.values if d.split(".")[0] in RESTART_SECTIONS
                        and new.values[d] != self.cfg.values[d])
        for dotted in pinned:
            new.values[dotted], new.origins[dotted] = (self.cfg.values[dotted],
                                                       self.cfg.origins[dotted])
        self.cfg = new
        configure_logging(new)
        for warning in new.warnings:
            log.warning(warning)
        if pinned:
            log.warning("config reloaded (SIGHUP) but %s changed: that takes a restart",
                        ", ".join(pinned))
        if self._settings_from_config:
            old, self.settings = self.settings, DaemonSettings.from_config(new)
            if (self.scheduler is not None
                    and old.deliver_every_s != self.settings.deliver_every_s):
                self.scheduler.reschedule_job("periodic", jobs.LOCAL, trigger="interval",
                                              seconds=self.settings.deliver_every_s)
        log.info("config reloaded (SIGHUP): log level %s, poll %gs, lease %gs, delivery "
                 "every %gs", new.get("log.level"), self.settings.poll_s,
                 self.settings.lease_s, self.settings.deliver_every_s)

    # -- jobs -----------------------------------------------------------------------------

    def sync(self, why: str) -> jobs.SyncPlan | None:
        try:
            plan = jobs.sync_jobs(self.scheduler, self.cfg.home)
        except SourcesError as exc:
            log.error("jobs not synced (%s): %s; they are left as they were", why, exc)
            return None
        for problem in plan.problems.values():
            log.warning("%s; its job is left as it was", problem)
        log.info("jobs synced (%s): %s", why, plan.summary())
        return plan

    def _source(self, name: str) -> Source | None:
        return read_sources(sources_path(self.cfg.home)).sources.get(name)

    def _enter(self) -> bool:
        with self._lock:
            if self._stop.is_set():
                return False
            self._active += 1
            return True

    def _leave(self) -> None:
        with self._lock:
            self._active -= 1
            self._lock.notify_all()

    def _periodic(self) -> None:
        if not self._enter():
            return
        try:
            hooks.periodic(self.storage, self.cfg, self.metrics)
        finally:
            self._leave()

    def run_job(self, name: str, fire: datetime | None, command: str = "") -> None:
        """One fire of a source's job (scheduled, or `command` for jobs run)."""
        if not self._enter():
            if command:
                job_commands.requeue(self.storage, command, "the daemon was stopping")
            return
        try:
            self._run_job(name, fire, command)
        finally:
            self._leave()

    def _run_job(self, name: str, fire: datetime | None, command: str) -> None:
        storage = self.storage
        jid = jobs.job_id(name)
        cmd = job_commands.get(storage, command) if command else None
        why = ((cmd or {}).get("reason") or "request") if command else ""
        how = f"scheduled at {fire.isoformat(timespec='seconds')}" if fire else f"on {why}"
        try:
            source = self._source(name)
        except SourcesError as exc:
            source = None
            log.error("job %s not run: %s", name, exc)
        if source is None or (fire is not None and not source.enabled):
            log.warning("job %s (%s) not run: no enabled source of that name", name, how)
            if command:
                job_commands.complete(storage, command, False, f"no source named {name}")
            return
        run_id = uuid.uuid4().hex
        lease = leases.acquire(storage, jid, self.owner, self.settings.lease_s, fire=fire,
                               run_id=run_id, reason=how)
        if lease is None:
            held = leases.get(storage, jid) or {}
            if leases.is_held(held, datetime.now(UTC)):
                busy = (f"{name} is already running (run {held.get('run_id')} "
                        f"on {held.get('owner')})")
            else:
                busy = f"{name}: that fire was already run by another daemon"
            log.info("job %s (%s) skipped: %s", name, how, busy)
            if command:
                job_commands.complete(storage, command, True, busy, run_id=held.get("run_id"))
            return
        if lease.get("taken_over"):
            self._abandoned(name, lease["taken_over"], "its daemon stopped renewing the lease")
        if command:
            job_commands.complete(storage, command, True, f"started {name}: run {run_id}",
                                  run_id=run_id)
        log.info("job %s started: run %s, %s, by %s", name, run_id, how, self.owner)
        t0 = time.monotonic()
        outcome: Outcome | None = None
        try:
            outcome = self._supervise(source, run_id, fire, "schedule" if fire else why)
        finally:
            leases.release(storage, jid, self.owner, last_run_id=run_id,
                           last_state=outcome.state if outcome else "failed",
                           last_end=datetime.now(UTC))
        s = outcome.summary
        found = (f", {s.get('pages', 0)} pages, {s.get('hits', 0)} hits, "
                 f"{s.get('new_sightings', 0)} new sightings" if s else "")
        log.info("job %s ended: run %s, state %s%s, %.1f s, exit %s%s", name, run_id,
                 outcome.state, f" ({outcome.reason})" if outcome.reason else "",
                 time.monotonic() - t0, outcome.exit_code, found)
        if outcome.stopped:
            job_commands.enqueue(storage, "run", name, reason="resume after daemon stop",
                                 requested_by=self.owner)
        else:
            # a crawl that ended on its own gets its pass even when a stop came in
            # meanwhile: its sightings are alerted and delivered now, not whenever a
            # daemon next runs (shutdown waits for this call, as for any job)
            hooks.after_job(storage, self.cfg, name, self.metrics)

    def _supervise(self, source: Source, run_id: str, fire: datetime | None,
                   trigger: str) -> Outcome:
        argv = vahti_command("--home", str(self.cfg.home), "crawl", source.name, "--json",
                             "--run-id", run_id)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            # in vahti's home, not the daemon's folder: nothing there can shadow vahti
            # (`-P` already keeps it off sys.path; a relative PYTHONPATH entry would not)
            env = _child_env(self.cfg)
            assert self._key is not None and self._key_source is not None  # set by run()
            key_fd = key_source.child_key_fd(self._key, self._key_source, env)
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                        cwd=self.cfg.home, env=env,
                                        start_new_session=True, close_fds=True,
                                        pass_fds=() if key_fd is None else (key_fd,),
                                        preexec_fn=_child_setup(os.getpid()))
            finally:
                if key_fd is not None:
                    os.close(key_fd)
            with self._lock:
                self._running[source.name] = proc
            try:
                returncode, terminated, forced = self._watch(proc, source)
            finally:
                with self._lock:
                    self._running.pop(source.name, None)
            out.seek(0)
            summary = _last_json_line(out.read())
            err.seek(max(0, err.seek(0, os.SEEK_END) - 2000))
            err_tail = err.read().decode("utf-8", "replace").strip().splitlines()
        run = runs.get_run(self.storage, run_id)
        child_state = run.get("state") if run else None
        state, reason = classify(returncode, terminated, forced, child_state)
        runs.record_run_end(
            self.storage, run_id, source.name, state=state, reason=reason,
            exit_code=returncode, daemon=self.owner, fire=fire, trigger=trigger,
            **({"stopped_by": terminated} if terminated else {}))
        final = state or child_state or "unknown"
        if self.metrics is not None:
            self.metrics.crawl_ended(source.name, final, run)
        if final in FAILED_STATES:
            # a warning: on the daemon's terminal as well as in its log
            log.warning("crawl of %s (run %s) %s: %s", source.name, run_id, final,
                        _one_line(_failure_text(reason, run, err_tail)))
        return Outcome(final, reason or (run or {}).get("reason"), returncode, summary,
                       stopped=terminated == "daemon stop" and final != "done")

    def _watch(self, proc: subprocess.Popen, source: Source) -> tuple[int, str | None, bool]:
        """Wait for the crawl, renewing the lease; SIGTERM at the time limit or on
        stop, SIGKILL a grace later. Returns (exit code, why terminated, SIGKILLed)."""
        jid = jobs.job_id(source.name)
        lease_s, grace = self.settings.lease_s, self.settings.stop_grace_s
        renew_every = max(lease_s / 3, TICK_S)
        t0 = time.monotonic()
        next_renew = t0
        terminated: str | None = None
        term_at = 0.0
        forced = False
        while True:
            try:
                return proc.wait(timeout=TICK_S), terminated, forced
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if terminated is None:
                if self._stop.is_set():
                    terminated = "daemon stop"
                elif now - t0 >= source.time_limit_s:
                    terminated = "time limit"
                    log.warning("crawl of %s over its time limit of %g s: SIGTERM", source.name,
                                source.time_limit_s)
                if terminated:
                    _signal(proc, signal.SIGTERM)
                    term_at = now
            elif not forced and now - term_at >= grace:
                log.warning("crawl of %s did not stop within %g s of SIGTERM: SIGKILL",
                            source.name, grace)
                _signal(proc, signal.SIGKILL)
                forced = True
            if now >= next_renew:
                next_renew = now + renew_every
                try:
                    ours = leases.renew(self.storage, jid, self.owner, lease_s,
                                        child_pid=proc.pid)
                except Exception as exc:  # noqa: BLE001 - keep supervising; retry next time
                    log.warning("lease of %s not renewed: %s", source.name, type(exc).__name__)
                    ours = True
                if not ours and terminated is None:
                    log.error("lease of %s was taken over: stopping this crawl", source.name)
                    terminated = "lease lost"
                    _signal(proc, signal.SIGTERM)
                    term_at = now

    # -- commands -------------------------------------------------------------------------

    def _poll_commands(self) -> None:
        while not self._stop.is_set():
            cmd = job_commands.claim_next(self.storage, self.owner)
            if cmd is None:
                return
            try:
                self._carry_out(cmd)
            except Exception as exc:  # noqa: BLE001 - answer the command, keep polling
                log.warning("command %s failed: %s", cmd.get("action"), type(exc).__name__,
                            exc_info=True)
                job_commands.complete(self.storage, cmd["_id"], False,
                                      f"{cmd.get('action')} failed: {type(exc).__name__}")

    def _carry_out(self, cmd: dict) -> None:
        action, name, cid = cmd.get("action"), cmd.get("source") or "", cmd["_id"]
        log.info("command %s%s (%s)", action, f" {name}" if name else "",
                 cmd.get("reason") or "requested")
        if action == "reload":
            plan = self.sync("jobs reload")
            if plan is None:
                job_commands.complete(self.storage, cid, False,
                                      "sources.toml cannot be read: jobs left as they were")
            else:
                job_commands.complete(self.storage, cid, True, f"jobs reloaded: {plan.summary()}")
            return
        if action in ("pause", "resume"):
            jid = jobs.job_id(name)
            try:
                if action == "pause":
                    self.scheduler.pause_job(jid, jobs.JOBSTORE)
                    message = f"{name} paused"
                else:
                    job = self.scheduler.resume_job(jid, jobs.JOBSTORE)
                    when = job.next_run_time if job is not None else None
                    message = f"{name} resumed" + (
                        f", next run {when.astimezone(UTC).isoformat(timespec='seconds')}"
                        if when else "")
            except JobLookupError:
                job_commands.complete(self.storage, cid, False,
                                      f"no job for {name}: not an enabled source "
                                      "(vahti sources list; vahti jobs reload)")
                return
            job_commands.complete(self.storage, cid, True, message)
            return
        if action == "run":
            if self._source(name) is None:
                job_commands.complete(self.storage, cid, False, f"no source named {name}")
                return
            # answered by run_job once it holds the lease (or finds the crawl running)
            self.scheduler.add_job(jobs.JOB_FUNC, args=[name], kwargs={"command": cid},
                                   id=f"run:{cid}", name=f"{name} (run now)",
                                   jobstore=jobs.LOCAL, misfire_grace_time=None)
            return
        job_commands.complete(self.storage, cid, False, f"unknown command {action!r}")
