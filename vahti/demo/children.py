"""The processes `vahti demo` starts, kept so that every one of them ends.

Each is a `python -P -m vahti ...` child (the same entry point as the `vahti`
command), with the demo's environment. Each gets a parent-death signal (SIGTERM
when the demo's thread that started it dies, even by SIGKILL), and `stop_all()`
ends whatever still runs: SIGTERM, then SIGKILL after a grace period, by PID, each
one a child of this process. After `stop_all()` no new child can start.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping

from vahti.selfcmd import vahti_command

_PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here, not after fork
except (OSError, AttributeError):  # not Linux
    _prctl = None


class Stopped(RuntimeError):
    """The demo is stopping: no new process is started."""


def _parent_death_signal(parent: int):  # noqa: ANN202
    def setup() -> None:
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the demo died before prctl took effect
            os._exit(1)
    return setup


class Children:
    """`python -m vahti ARGS` children with `env`, all stopped by `stop_all()`."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self._procs: list[subprocess.Popen] = []
        self._lock = threading.Lock()
        self._closed = False

    def start(self, *args: str, new_session: bool = False, **popen) -> subprocess.Popen:
        """Start `vahti ARGS`; `new_session` keeps a terminal's Ctrl-C from reaching it
        directly (the demo stops it in order instead)."""
        with self._lock:
            if self._closed:
                raise Stopped("the demo is stopping")
            env = popen.pop("env", self.env)
            proc = subprocess.Popen(vahti_command(*args), env=env,
                                    start_new_session=new_session, close_fds=True,
                                    preexec_fn=_parent_death_signal(os.getpid()), **popen)
            self._procs.append(proc)
        return proc

    def run(self, *args: str, input: str | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run `vahti ARGS` to its end, output captured as text."""
        proc = self.start(*args, stdin=subprocess.PIPE if input is not None
                          else subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except BaseException:
            self.end(proc, grace=5)
            raise
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self._procs]

    def running(self) -> list[subprocess.Popen]:
        with self._lock:
            return [p for p in self._procs if p.poll() is None]

    @staticmethod
    def end(proc: subprocess.Popen, grace: float = 10, sig: int = signal.SIGTERM) -> int:
        """Signal one child and wait for it; SIGKILL after `grace` seconds."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
        return proc.returncode

    def stop_all(self, grace: float = 10) -> int:
        """End every child still running (SIGTERM to all, then SIGKILL to those left
        after `grace` s); no child starts afterwards. Returns how many were running."""
        with self._lock:
            self._closed = True
            live = [p for p in self._procs if p.poll() is None]
        for proc in live:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in live:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
        return len(live)
