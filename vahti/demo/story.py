"""`vahti demo`: the whole story of vahti on embedded defaults, in a fresh temporary home.

1. A clearly synthetic register of a fictional clinic (`vahti.demo.clinic`) is
   written into the home (mode 0600), enrolled with `vahti enroll`, and deleted
   (kept only with `--keep`, and said so).
2. Meanwhile a private Tor network comes up (`vahti.demo.tornet`, the test suite's
   fixture: 3 authorities, 3 relays, an onion host, a client) with two onion
   services: a paste site and a ransomware-style leak site (`vahti.demo.sites`).
3. Two sources, every 10 s, and a stdout channel into `alerts.jsonl` in the home;
   then `vahti daemon` runs. Each time the daemon has crawled the paste site, the
   next piece of the dump is published there, until every piece was crawled.
   Alerts are shown as they arrive: counts and refs, never an identifier.
4. `vahti search` for a few people (some exposed, some not), with the
   identifiers on stdin (nothing written to disk), and `vahti report weekly` as
   HTML, Markdown and JSON into a report directory that outlives the home.
5. Every process the demo started is stopped (also on Ctrl-C and SIGTERM): the
   daemon and its crawls, every vahti command, the tor processes, the embedded
   database, the sites. Without `--keep` the home is removed.

Every vahti step is the real command (`python -m vahti ...`) in a child process,
with an environment stripped of the caller's VAHTI_* settings, so the demo can
never touch a real home or database. The demo itself only reads the database
(which runs finished) and the channel's file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from vahti.demo.children import Children, Stopped
from vahti.demo.clinic import CLINIC, Scenario, make_scenario
from vahti.matchers.private import private_dir

PASTES, LEAKS = "pastes", "leaks"
SCHEDULE = "every 10s"
CHANNEL = "soc"
DAEMON_PHASE_MAX_S = 150.0  # the daemon's part ends after this even if a crawl lags
SETTLE_S = 2.0  # after the last piece was crawled: time for the last alerts to arrive
SEARCH_EXPOSED, SEARCH_UNEXPOSED, SEARCH_OUTSIDE = 3, 2, 1
OWN_CODE = str(Path(__file__).resolve().parent.parent) + os.sep  # vahti/: where a signal may raise
REPORT_FORMATS = (("html", "report.html"), ("md", "report.md"), ("json", "report.json"))
TOR_NODES = "3 directory authorities, 3 relays, an onion host and a client"


class Interrupted(BaseException):
    """SIGINT or SIGTERM: stop everything and leave."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class DemoError(Exception):
    """A step failed; the message says which and where to look."""


@dataclass
class Options:
    home: Path | None = None
    keep: bool = False
    people: int = 3000
    seed: int = 2020


# ---------------------------------------------------------------------------- display


class Step:
    def __init__(self, display: Display, text: str) -> None:
        self.display = display
        self.task = None
        if display.progress is not None:
            self.task = display.progress.add_task(escape(text), total=None)

    def update(self, text: str) -> None:
        if self.task is not None:
            self.display.progress.update(self.task, description=escape(text))

    def done(self, text: str) -> None:
        if self.task is not None:
            self.display.progress.update(self.task, description=escape(text), total=1,
                                         completed=1)
        else:
            self.display.console.print(f"[green]✓[/green] {escape(text)}")

    def fail(self, text: str) -> None:
        if self.task is not None:
            self.display.progress.update(self.task, description=f"[red]✗ {escape(text)}[/red]",
                                         total=1, completed=1)
        else:
            self.display.console.print(f"[red]✗[/red] {escape(text)}")


class Display:
    """rich progress on a terminal; one plain line per finished step otherwise (logs, CI)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = console.is_terminal
        self.progress: Progress | None = None

    def start_steps(self) -> None:
        if self.live and self.progress is None:
            self.progress = Progress(SpinnerColumn(finished_text="[green]✓[/green]"),
                                     TextColumn("{task.description}"), TimeElapsedColumn(),
                                     console=self.console)
            self.progress.start()

    def stop_steps(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def step(self, text: str) -> Step:
        return Step(self, text)

    def print(self, text: str = "", **kw: Any) -> None:
        self.console.print(text, **kw)


# ---------------------------------------------------------------------------- alerts


@dataclass
class AlertLog:
    """The stdout channel's JSON lines, read as they grow."""

    path: Path
    offset: int = 0
    alerts: list[dict] = field(default_factory=list)
    refs: set[str] = field(default_factory=set)
    last_at: float = 0.0

    def read_new(self) -> list[dict]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1  # whole lines only
        self.offset += end
        new = []
        for line in data[:end].splitlines():
            try:
                payload = json.loads(line)
            except ValueError:
                continue
            if payload.get("type") == "alert":
                new.append(payload)
                self.refs.update(payload.get("refs") or [])
        if new:
            self.alerts += new
            self.last_at = time.monotonic()
        return new

    def of_kind(self, kind: str) -> list[dict]:
        return [a for a in self.alerts if a.get("kind") == kind]


def page_of(url: str) -> str:
    """An alert's page without the onion host: the path (and archive member)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    short = host[:8] + "…onion" if host.endswith(".onion") else host
    return f"{short}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def alert_row(number: int, alert: dict) -> list[str]:
    """One table row of an alert: counts and refs only (an alert holds nothing else)."""
    if alert.get("kind") == "health":
        return [str(number), alert.get("source", ""), "health: " + str(alert.get("problem", "")),
                "", "", "", ""]
    counts = alert.get("counts") or {}
    ids = ", ".join(f"{t} {n}" for t, n in sorted(counts.items())) or "-"
    fragments = len(alert.get("fragment_scores") or [])
    refs = alert.get("refs") or []
    shown = ", ".join(refs[:3]) + (f" +{len(refs) - 3}" if len(refs) > 3 else "")
    return [str(number), alert.get("source", ""), page_of(alert.get("url", "")),
            str(alert.get("persons", len(refs))), ids, str(fragments), shown]


def alert_table(alerts: list[dict], caption: str) -> Table:
    table = Table(title="Alerts arriving (stdout channel → alerts.jsonl)", caption=caption,
                  title_justify="left", caption_justify="left", expand=False)
    for name, justify in (("#", "right"), ("source", "left"), ("page", "left"),
                          ("persons", "right"), ("identifier hits", "left"),
                          ("note fragments", "right"), ("refs", "left")):
        table.add_column(name, justify=justify, overflow="fold")
    for i, alert in enumerate(alerts, 1):
        table.add_row(*alert_row(i, alert))
    return table


def alert_line(number: int, alert: dict) -> str:
    row = alert_row(number, alert)
    if alert.get("kind") == "health":
        return f"alert {row[0]}: {row[1]}: {row[2]}"
    return (f"alert {row[0]}: {row[1]} {row[2]}: {row[3]} persons "
            f"(identifier hits: {row[4]}; note fragments: {row[5]}); refs {row[6]}")


# ---------------------------------------------------------------------------- the demo


class Demo:
    def __init__(self, options: Options, console: Console) -> None:
        self.o = options
        self.display = Display(console)
        self.home: Path | None = None
        self.created_home = False
        self.report_dir: Path | None = None
        self.children: Children | None = None
        self.daemon: subprocess.Popen | None = None
        self.network = None
        self.sites: list = []
        self.storage = None
        self.worker: threading.Thread | None = None
        self.worker_error: BaseException | None = None
        self.enrolled: dict = {}
        self.results: dict[str, Any] = {}
        self.started = time.monotonic()
        self.times: dict[str, float] = {}
        self.stopping = False  # the clean-up has begun: signals change nothing any more
        self.pending = 0  # a SIGINT/SIGTERM not acted on yet
        self.resender: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        code = 0
        try:
            try:
                self._story()
            except Exception as exc:  # noqa: BLE001 - reported in one line, then cleaned up
                code = 2
                self.display.stop_steps()
                self.display.print(f"[red]vahti demo: {escape(type(exc).__name__)}: "
                                   f"{escape(str(exc))}[/red]")
        except Interrupted as exc:  # also one that came while an error was reported
            self.stopping = True
            code = 128 + exc.signum
            self.display.stop_steps()
            self.display.print(f"[yellow]interrupted ({exc}): stopping everything the demo "
                               f"started[/yellow]")
        finally:
            self.stopping = True  # a second Ctrl-C must not cut the clean-up short
            try:
                self._cleanup(code)
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
        return code

    def _on_signal(self, signum: int, frame: Any) -> None:
        """SIGINT/SIGTERM: stop the story where it is, then clean up.

        The exception is raised only in a frame of vahti's own code. Raised anywhere,
        it could land in a hook where Python ignores exceptions (an at-fork handler of
        `logging`, leaving its lock held and the next fork hanging) or half-way through
        `subprocess`. Elsewhere the signal is kept as pending: the story's loops check
        for it (`_check`), and a helper thread sends it again to the main thread until
        the clean-up has begun. (Python handlers, not SIG_IGN: an ignored signal is
        inherited by every process started afterwards.)"""
        if self.stopping:
            return
        self.pending = self.pending or signum
        if self.resender is None:
            self.resender = threading.Thread(target=self._resend, name="demo-signal",
                                             daemon=True)
            self.resender.start()
        if frame is not None and frame.f_code.co_filename.startswith(OWN_CODE):
            raise Interrupted(self.pending)

    def _resend(self) -> None:
        main = threading.main_thread().ident
        while not self.stopping:
            time.sleep(0.2)
            if not self.stopping:
                signal.pthread_kill(main, self.pending)

    def _check(self) -> None:
        """Raise a pending SIGINT/SIGTERM here, a safe place."""
        if self.pending and not self.stopping:
            raise Interrupted(self.pending)

    def _cleanup(self, code: int) -> None:
        stopped = []
        self.display.stop_steps()
        if self.daemon is not None and self.daemon.poll() is None:
            Children.end(self.daemon, grace=45)
            stopped.append("the daemon")
        if self.children is not None:
            n = self.children.stop_all(grace=10)
            if n:
                stopped.append(f"{n} vahti command{'s' * (n != 1)}")
        if self.worker is not None:
            self.worker.join(30)
        if self.network is not None:
            running = len(self.network.pids) if self.network.nodes else 0
            self.network.stop()
            if running:
                stopped.append(f"{running} tor processes")
        for site in self.sites:
            site.stop()
        if self.sites:
            stopped.append(f"{len(self.sites)} onion sites")
        if self.storage is not None:
            self.storage.close()  # the last user: stops the embedded database
            self.storage = None
            stopped.append("the embedded database")
        if self.home is not None:
            self._stop_leftover_database()
        if code and stopped:
            self.display.print("stopped " + ", ".join(stopped))
        if self.home is None:
            return
        if self.o.keep:
            self.display.print(f"home kept: {escape(str(self.home))}", soft_wrap=True)
        elif self.created_home:
            shutil.rmtree(self.home, ignore_errors=True)
            self.display.print(f"home removed: {escape(str(self.home))}", soft_wrap=True)

    def _stop_leftover_database(self) -> None:
        """A vahti command killed half-way may leave the embedded server running with
        nobody to stop it: as its last user, stop it."""
        from vahti.storage.embedded import EmbeddedServer

        db_dir = self.home / "db"
        if (db_dir / "server.json").exists():
            server = EmbeddedServer(db_dir)
            with contextlib.suppress(Exception):
                server.acquire()
                server.release()

    # -- the story ---------------------------------------------------------------------

    def _story(self) -> None:
        d = self.display
        d.print(f"[bold]vahti demo[/bold]: a leak of a fictional clinic's register, watched "
                f"end to end. Everything here is synthetic: [bold]{CLINIC}[/bold] does not "
                f"exist, nor do its patients.")
        self.home = self._make_home()
        d.print(f"home: {escape(str(self.home))} "
                f"({'kept at the end' if self.o.keep else 'removed at the end'})",
                soft_wrap=True)
        self.children = Children(self._child_env())

        d.start_steps()
        step = d.step(f"register: {self.o.people:,} fictional patients with session notes")
        scenario = make_scenario(self.o.people, seed=self.o.seed)
        step.done(f"register: {len(scenario.register):,} fictional patients of {CLINIC} "
                  f"(identity codes in the temporary 900-999 range, e-mails at example "
                  f"domains, generated session notes); {len(scenario.exposed.refs)} of them "
                  f"leak")
        paste_site, leak_site = self._start_sites(scenario)
        self._start_network(paste_site, leak_site)
        self.worker = threading.Thread(target=self._prepare_home, args=(scenario,),
                                       name="demo-prepare", daemon=True)
        self.worker.start()
        self._bring_up_network()
        self._join_worker()
        d.stop_steps()

        self.times["setup"] = time.monotonic() - self.started
        self._watch_daemon(scenario, paste_site)
        self.times["daemon"] = time.monotonic() - self.started - self.times["setup"]

        d.start_steps()
        pool = ThreadPoolExecutor(2)  # both only read the database
        try:
            futures = [pool.submit(self._search, scenario), pool.submit(self._report)]
            while not all(f.done() for f in futures):
                self._check()
                time.sleep(0.1)
            for future in futures:
                future.result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # on Ctrl-C: the clean-up now
        d.stop_steps()
        self.times["search and report"] = (time.monotonic() - self.started
                                           - self.times["setup"] - self.times["daemon"])
        self._summary(scenario)

    def _make_home(self) -> Path:
        if self.o.home is None:
            self.created_home = True
            return Path(tempfile.mkdtemp(prefix="vahti-demo-"))
        home = self.o.home.expanduser().absolute()
        if home.exists() and (not home.is_dir() or any(home.iterdir())):
            raise DemoError(f"{home} exists and is not an empty directory: the demo needs "
                            f"a fresh home (it enrolls fictional people there)")
        self.created_home = True
        private_dir(home)
        os.chmod(home, 0o700)
        return home

    def _child_env(self) -> dict[str, str]:
        """The caller's environment without any VAHTI_* setting: embedded defaults in
        the demo's home, never a real database."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAHTI_")}
        env.update({
            "VAHTI_HOME": str(self.home),
            "VAHTI_DAEMON_POLL_S": "1",
            "VAHTI_DAEMON_STOP_GRACE_S": "15",
        })
        return env

    def _vahti(self, *args: str, input: str | None = None, what: str = "",
               ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        result = self.children.run(*args, input=input)
        if result.returncode not in ok:
            last = (result.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise DemoError(f"`vahti {what or args[0]}` failed with exit code "
                            f"{result.returncode}: {last}; see {self.home}/logs/vahti.log")
        return result

    # -- sites and the tor network -------------------------------------------------------

    def _start_sites(self, scenario: Scenario) -> tuple[Any, Any]:
        from vahti.demo.sites.leak import LeakSite
        from vahti.demo.sites.paste import PasteSite

        paste = PasteSite(seed=self.o.seed)
        for i, quiet in enumerate(scenario.quiet):
            paste.add_paste(quiet.text, title=f"notes {i + 1}")
        paste.add_paste(scenario.pieces[0].text, title=self._piece_title(0, scenario))
        self.sites.append(paste.start())
        leak = LeakSite.standard(scenario.archive.text, big_size=256 * 1024, seed=self.o.seed)
        self.sites.append(leak.start())
        return paste, leak

    @staticmethod
    def _piece_title(i: int, scenario: Scenario) -> str:
        return f"{CLINIC} asiakkaat osa {i + 1}/{len(scenario.pieces)}"

    def _start_network(self, paste_site: Any, leak_site: Any) -> None:
        from vahti.demo.tornet import PrivateTorNetwork

        self.network = PrivateTorNetwork(self.home / "tor-network")
        self.paste_url = "http://" + self.network.add_onion_service(PASTES, paste_site.port) + "/"
        self.leak_url = ("http://" + self.network.add_onion_service(LEAKS, leak_site.port)
                         + leak_site.layout["victim"])

    def _bring_up_network(self) -> None:
        step = self.display.step(f"private Tor network: starting {TOR_NODES}")
        stop = threading.Event()

        def tick() -> None:
            while not stop.wait(0.5):
                t = dict(self.network.timings)
                if f"{LEAKS} answered" in t or f"{PASTES} answered" in t:
                    state = "onion services answering"
                elif "client bootstrapped" in t:
                    state = "client bootstrapped; waiting for the onion services"
                elif "consensus" in t:
                    state = f"consensus after {t['consensus']:.0f} s; client bootstrapping"
                else:
                    state = "authorities voting on a first consensus"
                step.update(f"private Tor network: {state}")

        ticker = threading.Thread(target=tick, name="demo-tor-ticker", daemon=True)
        ticker.start()
        try:
            self.network.start()
        except BaseException:
            step.fail("private Tor network did not come up")
            raise
        finally:
            stop.set()
        step.done(f"private Tor network up in {self.network.ready_after:.1f} s: {TOR_NODES}, "
                  f"all on 127.0.0.1 in a loopback-only network namespace; onion paste site "
                  f"and onion leak site answering")

    # -- home, enrolment, sources (a worker thread, while tor comes up) -----------------

    def _prepare_home(self, scenario: Scenario) -> None:
        try:
            self._prepare_home_steps(scenario)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.worker_error = exc

    def _prepare_home_steps(self, scenario: Scenario) -> None:
        from vahti.config import load_config
        from vahti.wiring import open_db

        d = self.display
        step = d.step("vahti init: home, config and key")
        # The embedded database, held open by the demo to the end: every vahti command
        # joins this one server instead of starting and stopping its own.
        self.storage = open_db(load_config(home_flag=str(self.home),
                                           environ=self.children.env))
        self._vahti("init")
        step.done("vahti init: home, config.toml, a new 256-bit key; embedded database")

        errors: list[BaseException] = []

        def sources() -> None:
            try:
                self._add_sources()
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                errors.append(exc)

        beside = threading.Thread(target=sources, name="demo-sources", daemon=True)
        beside.start()
        try:
            self._enroll(scenario)
        finally:
            beside.join()
        if errors:
            raise errors[0]

    def _enroll(self, scenario: Scenario) -> None:
        step = self.display.step("vahti enroll: the register")
        register = self.home / "register-SYNTHETIC.csv"
        fd = os.open(register, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(scenario.register_csv())
        try:
            result = self._vahti("enroll", "--json", str(register))
        finally:
            if not self.o.keep:
                register.unlink(missing_ok=True)
        self.enrolled = json.loads(result.stdout)
        values = self.enrolled.get("values", {})
        kept = (f"register kept (plaintext, fictional, mode 0600): {register}" if self.o.keep
                else "register file deleted")
        step.done(f"vahti enroll: {self.enrolled.get('enrolled', 0):,} people as keyed digests "
                  f"({values.get('hetu', 0):,} identity codes, {values.get('email', 0):,} "
                  f"e-mails, {values.get('phone', 0):,} phones) and note fingerprints "
                  f"({values.get('notes', 0):,} notes); {kept}")

    def _add_sources(self) -> None:
        step = self.display.step("vahti sources add: the onion paste site and the onion leak site")
        self._vahti("sources", "add", PASTES, "--kind", "paste_listing", "--url", self.paste_url,
                    "--schedule", SCHEDULE, what="sources add")
        self._vahti("sources", "add", LEAKS, "--kind", "site", "--url", self.leak_url,
                    "--schedule", SCHEDULE, "--max-page-bytes", str(1 << 20),
                    "--option", "depth=6", what="sources add")
        with open(self.home / "config.toml", "a", encoding="utf-8") as fh:
            fh.write(f'\n# added by vahti demo: alerts as JSON lines, as a SIEM reads them\n'
                     f'[channels.{CHANNEL}]\ntype = "stdout"\n'
                     f'path = "{self.home / "alerts.jsonl"}"\n')
        step.done(f"sources: {PASTES} (paste listing) and {LEAKS} (site), {SCHEDULE}, "
                  f"through Tor; channel {CHANNEL}: stdout JSON lines into alerts.jsonl")

    def _join_worker(self) -> None:
        while self.worker.is_alive():
            self._check()
            self.worker.join(0.2)
        if self.worker_error is not None:
            if isinstance(self.worker_error, Stopped):
                raise DemoError("stopped while preparing the home")
            raise self.worker_error

    # -- the daemon -------------------------------------------------------------------

    def _watch_daemon(self, scenario: Scenario, paste_site: Any) -> None:
        d = self.display
        tor_env = {"VAHTI_TOR_SOCKS": f"127.0.0.1:{self.network.socks_port}",
                   "VAHTI_TOR_CONTROL": f"127.0.0.1:{self.network.control_port}"}
        log_path = self.home / "logs" / "demo-daemon.log"
        with open(log_path, "ab") as log:
            self.daemon = self.children.start("daemon", new_session=True,
                                              env={**self.children.env, **tor_env},
                                              stdin=subprocess.DEVNULL, stdout=log,
                                              stderr=subprocess.STDOUT)
        if not d.live:
            d.print(f"[green]✓[/green] vahti daemon started (pid {self.daemon.pid}): "
                    f"{PASTES} and {LEAKS} {SCHEDULE}")
        alerts = AlertLog(self.home / "alerts.jsonl")
        runs = self.storage.db["runs"]
        pieces = scenario.pieces
        published, published_at = 1, datetime.now(UTC)
        started = time.monotonic()
        all_crawled_at: float | None = None
        shown = 0

        def count(source: str, since: datetime | None = None) -> int:
            query: dict[str, Any] = {"source": source, "state": "done"}
            if since is not None:
                query["started"] = {"$gt": since}
            return runs.count_documents(query)

        def caption() -> str:
            sightings = alerts.of_kind("sighting")
            return (f"{time.monotonic() - started:.0f} s · crawls done: {PASTES} "
                    f"{count(PASTES)}, {LEAKS} {count(LEAKS)} · pieces of the dump published "
                    f"on the paste site: {published}/{len(pieces)} · {len(sightings)} "
                    f"alerts naming {len(alerts.refs)} people")

        status = Text("starting vahti daemon …")
        live = Live(Group(status, alert_table([], "")), console=d.console,
                    refresh_per_second=4, transient=False) if d.live else None
        if live is not None:
            live.start()
        try:
            while True:
                self._check()
                if self.daemon.poll() is not None:
                    raise DemoError(f"vahti daemon exited with code {self.daemon.returncode}; "
                                    f"see {log_path}")
                new = alerts.read_new()
                if not d.live:
                    for alert in new:
                        shown += 1
                        d.print(escape(alert_line(shown, alert)))
                if published < len(pieces) and count(PASTES, since=published_at):
                    # the paste site was crawled since the last piece: publish the next
                    paste_site.add_paste(pieces[published].text,
                                         title=self._piece_title(published, scenario))
                    published, published_at = published + 1, datetime.now(UTC)
                    if not d.live:
                        d.print(f"published piece {published}/{len(pieces)} of the dump on "
                                f"the onion paste site")
                if (all_crawled_at is None and published == len(pieces)
                        and count(PASTES, since=published_at) and count(LEAKS)):
                    all_crawled_at = time.monotonic()
                if all_crawled_at is not None:
                    delivered = len(alerts.alerts) >= self.storage.db["alerts"].count_documents(
                        {})
                    quiet_for = time.monotonic() - max(all_crawled_at, alerts.last_at)
                    if (delivered and quiet_for >= SETTLE_S) or quiet_for > 15:
                        break
                if time.monotonic() - started > DAEMON_PHASE_MAX_S:
                    d.print(f"[yellow]the crawls did not get through every piece within "
                            f"{DAEMON_PHASE_MAX_S:.0f} s; going on with what arrived[/yellow]")
                    break
                if live is not None:
                    status.plain = "vahti daemon running: " + caption()
                    live.update(Group(status, alert_table(alerts.alerts, "")))
                time.sleep(0.5)
            alerts.read_new()
            self.results["cycles"] = {PASTES: count(PASTES), LEAKS: count(LEAKS)}
            self.results["phase_s"] = time.monotonic() - started
            if live is not None:
                status.plain = "vahti daemon: " + caption()
                live.update(Group(status, alert_table(alerts.alerts, "")))
        finally:
            if live is not None:
                live.stop()
        code = Children.end(self.daemon, grace=45)
        failed = runs.count_documents({"state": "failed"})
        d.print(f"[green]✓[/green] vahti daemon stopped (SIGTERM, exit {code}) after "
                f"{self.results['phase_s']:.0f} s: {self.results['cycles'][PASTES]} crawls of "
                f"{PASTES}, {self.results['cycles'][LEAKS]} of {LEAKS}"
                + (f", {failed} failed" if failed else ""))
        self.results["alerts"] = alerts

    # -- incident search and the weekly report -------------------------------------------

    def _search(self, scenario: Scenario) -> None:
        step = self.display.step("vahti search: a few people, exposed and not")
        with_code = sorted(scenario.exposed.refs_by_type.get("hetu", set()))
        cases = [SearchCase(scenario.by_ref(ref), "exposed") for ref in with_code[:SEARCH_EXPOSED]]
        cases += [SearchCase(p, "never leaked")
                  for p in scenario.never_leaked()[:SEARCH_UNEXPOSED]]
        # people of no register, in the archive's CSV: only the keyed candidates retained
        # of every page can answer for them (a retro-hunt)
        cases += [SearchCase(p, "outside the register")
                  for p in scenario.archive_decoys()[:SEARCH_OUTSIDE]]
        # identifiers on stdin, two lines a person: never in argv (shell history, ps)
        # nor in a file
        lines = "".join(f"{c.person.hetu}\n{c.person.email}\n" for c in cases)
        result = self._vahti("search", "--json", input=lines, ok=(0, 1))
        try:
            answers = json.loads(result.stdout)["answers"]
            if len(answers) != 2 * len(cases):
                raise ValueError(f"{len(answers)} answers to {2 * len(cases)} lines")
        except (ValueError, KeyError, TypeError) as exc:
            raise DemoError(f"`vahti search --json` gave output the demo cannot read ({exc})"
                            ) from None
        for i, case in enumerate(cases):
            mine = answers[2 * i:2 * i + 2]
            case.seen = any(a.get("seen") for a in mine)
            case.pages = _pages_seen(json.dumps(mine))
        if any(c.seen for c in cases) != (result.returncode == 1):
            raise DemoError(f"`vahti search` exited {result.returncode}, which does not fit "
                            f"its answers")
        self.results["search"] = cases
        step.done("vahti search: " + _search_figures(cases) + " (identifiers on stdin)")

    def _report(self) -> None:
        step = self.display.step("vahti report weekly: HTML, Markdown, JSON")
        # outside the home, so that it outlives a home removed at the end
        self.report_dir = Path(tempfile.mkdtemp(prefix="vahti-demo-report-"))

        def write(fmt_name: tuple[str, str]) -> Path:
            fmt, name = fmt_name
            out = self.report_dir / name
            self._vahti("report", "weekly", "--format", fmt, "--out", str(out),
                        what="report weekly")
            if not out.is_file():
                raise DemoError(f"`vahti report weekly --format {fmt}` wrote no {out}")
            return out

        with ThreadPoolExecutor(3) as pool:
            paths = list(pool.map(write, REPORT_FORMATS))
        self.results["report"] = paths
        try:
            self.results["report_json"] = json.loads(paths[2].read_text(encoding="utf-8"))
        except ValueError:
            self.results["report_json"] = None
        step.done(f"vahti report weekly: {', '.join(p.name for p in paths)} in "
                  f"{self.report_dir}")

    # -- the end ----------------------------------------------------------------------

    def _summary(self, scenario: Scenario) -> None:
        d = self.display
        alerts: AlertLog = self.results["alerts"]
        exposed = scenario.exposed.refs
        named = alerts.refs
        decoys = {r for r in named if r.startswith("DECOY-")}
        never = named - exposed - decoys
        sightings = alerts.of_kind("sighting")
        d.print()
        d.print("[bold]What vahti found[/bold]")
        lines = [
            f"alerts received: {len(sightings)} sighting alerts"
            + (f", {len(alerts.of_kind('health'))} health alerts"
               if alerts.of_kind("health") else "")
            + f" (channel {CHANNEL}, {self.home / 'alerts.jsonl'})",
            f"people named in alerts: {len(named & exposed)} of {len(exposed)} exposed "
            f"({len(scenario.archive.refs)} in the leak site's archive, "
            f"{len(exposed - scenario.archive.refs)} in "
            f"{len(scenario.pieces)} pastes); decoys named: {len(decoys)}; "
            f"never-leaked people named: {len(never)}",
        ]
        search = self.results["search"]
        lines.append("search: " + _search_figures(search))
        for case in search:
            answer = (f"seen on {case.pages} page{'s' * (case.pages != 1)}" if case.seen
                      else "not seen")
            lines.append(f"  {case.person.ref}: {case.group} -> vahti search: {answer}")
        report = self.results["report"]
        lines.append(f"report: {report[0]}")
        lines.append(f"  also: {report[1]}, {report[2]}")
        lines += [f"  {line}" for line in _report_headline(self.results.get("report_json"))]
        lines.append(f"took: {time.monotonic() - self.started:.0f} s ("
                     + ", ".join(f"{k} {v:.0f} s" for k, v in self.times.items()) + ")")
        for line in lines:
            d.print(escape(line), soft_wrap=True)


@dataclass
class SearchCase:
    person: Any
    group: str  # "exposed", "never leaked" or "outside the register"
    seen: bool = False
    pages: int = 0


def _search_figures(cases: list[SearchCase]) -> str:
    parts = []
    for group in ("exposed", "never leaked", "outside the register"):
        mine = [c for c in cases if c.group == group]
        if mine:
            label = {"exposed": "exposed people", "never leaked": "never-leaked people",
                     "outside the register": "people outside the register (retro-hunt)"}[group]
            parts.append(f"{sum(c.seen for c in mine)} of {len(mine)} {label} seen")
    return "; ".join(parts)


def _pages_seen(stdout: str) -> int:
    """Distinct pages in `vahti search --json` output (one JSON document or JSON
    lines): the `url`s of everything listed under `sightings` or `retained`."""
    docs = []
    with contextlib.suppress(ValueError):
        docs = [json.loads(stdout)]
    if not docs:
        for line in stdout.splitlines():
            with contextlib.suppress(ValueError):
                docs.append(json.loads(line))
    urls: set[str] = set()

    def walk(value: Any, listed: bool = False) -> None:
        if isinstance(value, dict):
            if listed and isinstance(value.get("url"), str):
                urls.add(value["url"])
            for key, item in value.items():
                walk(item, listed or key in ("sightings", "retained"))
        elif isinstance(value, list):
            for item in value:
                walk(item, listed)

    walk(docs)
    return len(urls)


def _report_headline(report: Any) -> list[str]:
    """A few top-level figures of the JSON report (numbers only)."""
    if not isinstance(report, dict):
        return []
    figures = [(k, v) for k, v in report.items()
               if isinstance(v, int | float) and not isinstance(v, bool)]
    for key in ("summary", "headline", "totals"):
        if isinstance(report.get(key), dict):
            figures += [(k, v) for k, v in report[key].items()
                        if isinstance(v, int | float) and not isinstance(v, bool)]
    return [f"{k.replace('_', ' ')}: {v}" for k, v in figures[:8]]


def run_demo(options: Options) -> int:
    plain = Console(highlight=False)
    # a terminal gets wrapped lines and live tables; a log or a pipe one line per event
    console = plain if plain.is_terminal else Console(highlight=False, soft_wrap=True)
    return Demo(options, console).run()
