"""`vahti demo` end to end, as the README runs it: the whole story in a fresh home,
then nothing left running and nothing plaintext; and a Ctrl-C (or SIGTERM) in the
middle stops every process it started.

The demo is run in this test process's loopback-only namespace (like every tor
test), so it does not re-execute itself; `tests/unit/test_demo_parts.py` checks the
namespace logic on its own."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.privacy import Written, assert_no_plaintext, everything_written
from vahti.demo.clinic import make_scenario
from vahti.demo.story import SEARCH_EXPOSED, SEARCH_OUTSIDE, SEARCH_UNEXPOSED

pytestmark = pytest.mark.integration

PEOPLE = 200  # the default is 3000: the same story; the privacy check scans for fewer values


class DemoRun:
    """`python -m vahti demo ...` in a session of its own (so a test can send the whole
    group a Ctrl-C), its output collected line by line."""

    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAHTI_")}
        env["PYTHONPATH"] = str(REPO)
        self.proc = subprocess.Popen([sys.executable, "-m", "vahti", "demo", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True, env=env, cwd=REPO,
                                     start_new_session=True)
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if re.search(pattern, line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or not self._reader.is_alive():
                    raise AssertionError(f"no line matching {pattern!r} within {timeout:.0f} s:"
                                         f"\n{chr(10).join(self.lines)[-3000:]}")
                self._cond.wait(min(left, 1.0))

    def wait(self, timeout: float) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError(f"vahti demo still running after {timeout:.0f} s:\n"
                                 f"{self.output[-3000:]}") from None
        self._reader.join(10)
        return code


def processes_of(home: Path) -> list[str]:
    """Processes that name the demo's home in their command line or environment:
    tor (its torrc), the embedded database (its data path), the daemon, its crawls
    and every vahti command (VAHTI_HOME)."""
    needle = str(home).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
            stat = (entry / "stat").read_bytes()
        except OSError:
            continue
        if stat.rsplit(b")", 1)[-1].split()[:1] == [b"Z"]:
            continue  # a zombie has ended; only its parent's wait is missing
        if needle in cmdline or needle in environ:
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry.name}: {command}")
    return found


def assert_nothing_left(home: Path) -> None:
    deadline = time.monotonic() + 10  # a process SIGKILLed a moment ago may still be exiting
    while (left := processes_of(home)) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert not left, left


def figure(output: str, pattern: str) -> re.Match:
    match = re.search(pattern, output, re.M)
    assert match, f"{pattern!r} not in the output:\n{output[-4000:]}"
    return match


def test_demo_tells_the_whole_story_and_leaves_nothing(vahti_embedded, tmp_path):
    home = vahti_embedded.home  # does not exist yet: the demo creates it
    demo = DemoRun("--keep", "--home", str(home), "--people", str(PEOPLE))
    code = demo.wait(300)
    out = demo.output
    assert code == 0, out[-4000:]
    assert "Traceback" not in out

    # nothing it started runs on
    assert_nothing_left(home)

    # the key figures
    scenario = make_scenario(PEOPLE)
    exposed = len(scenario.exposed.refs)
    alerts = int(figure(out, r"^alerts received: (\d+) sighting alerts").group(1))
    assert alerts >= 1 + len(scenario.pieces)  # the archive and every piece of the dump
    lines = (home / "alerts.jsonl").read_text().splitlines()
    assert len([line for line in lines if '"kind":"sighting"' in line]) == alerts
    named = figure(out, r"^people named in alerts: (\d+) of (\d+) exposed .*decoys named: "
                        r"(\d+); never-leaked people named: (\d+)$")
    assert int(named.group(2)) == exposed
    assert int(named.group(1)) >= 0.9 * exposed  # fragment-only people may be missed
    assert named.group(3) == "0" and named.group(4) == "0"
    search = figure(out, r"^search: (\d+) of (\d+) exposed people seen; (\d+) of (\d+) "
                         r"never-leaked people seen; (\d+) of (\d+) people outside the "
                         r"register \(retro-hunt\) seen$")
    # the last: someone of no register, in the archive, found only through the keyed
    # candidates retained of every page (a retro-hunt)
    assert search.groups() == (str(SEARCH_EXPOSED), str(SEARCH_EXPOSED), "0",
                               str(SEARCH_UNEXPOSED), str(SEARCH_OUTSIDE),
                               str(SEARCH_OUTSIDE))
    report = Path(figure(out, r"^report: (/\S+\.html)$").group(1))
    try:
        html = report.read_text(encoding="utf-8")
        assert "<html" in html.lower() and len(html) > 2000
        assert {p.name for p in report.parent.iterdir()} == {
            "report.html", "report.md", "report.json"}
        assert re.search(rf"^\s+total exposed: {named.group(1)}$", out, re.M), out[-2000:]
        reports = [Written(str(p), p.read_bytes()) for p in report.parent.iterdir()]
    finally:
        shutil.rmtree(report.parent, ignore_errors=True)

    # the synthetic register was kept, as --keep says, and said so; nothing else is plaintext
    register = home / "register-SYNTHETIC.csv"
    assert f"register kept (plaintext, fictional, mode 0600): {register}" in out
    assert register.stat().st_mode & 0o777 == 0o600
    assert f"home kept: {home}" in out
    register.unlink()
    written = everything_written(vahti_embedded, tmp_path / "dump",
                                 extra=[("demo output", out)])
    assert_no_plaintext(written + reports, scenario.plaintext())


@pytest.mark.parametrize("when, sig, to_group", [
    # Ctrl-C in a terminal: SIGINT to the whole foreground group, with crawls under way
    (r"vahti daemon started", signal.SIGINT, True),
    # `kill PID` while tor bootstraps and the home is being prepared in a thread
    (r"vahti init: home", signal.SIGTERM, False),
], ids=["ctrl-c-during-crawls", "sigterm-during-tor-bootstrap"])
def test_demo_interrupted_stops_everything(when, sig, to_group, tmp_path):
    home = tmp_path / "home"
    demo = DemoRun("--home", str(home), "--people", "200")
    demo.wait_for_line(when, 240)
    deadline = time.monotonic() + 60
    while not any(re.search(r" -f \S+/torrc $", p) for p in processes_of(home)):
        assert time.monotonic() < deadline, "no tor process of the demo after 60 s"
        time.sleep(0.1)  # until a tor of the network runs (not one listing a fingerprint)
    if to_group:
        time.sleep(4)  # the first crawls are running now
        os.killpg(demo.proc.pid, sig)
    else:
        demo.proc.send_signal(sig)
    code = demo.wait(120)
    out = demo.output
    assert code == 128 + sig, out[-3000:]
    assert "Traceback" not in out
    assert f"interrupted ({signal.Signals(sig).name})" in out
    assert "tor processes" in figure(out, r"^stopped .*$").group(0)
    assert_nothing_left(home)
    assert not home.exists()  # no --keep: the home went with everything in it
