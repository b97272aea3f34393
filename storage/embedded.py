"""The embedded default database: a SecantusDB server as a child process.

Layout under the database directory (`$VAHTI_HOME/db`, mode 0700):

    data/            WiredTiger files
    server.sock      the server's unix socket (mode 0600): it listens on no TCP port
    credential       the password of the server's only user (random, mode 0600)
    server.log       the server's own output
    server.json      state: pid, socket, data path of the running server
    server.lock      held exclusively while a process starts, adopts or stops the server
    users.lock       held shared by every vahti process using the server

Only vahti's user can reach the server: another OS user cannot open the socket in the
0700 home, and the server requires SCRAM authentication with the credential, which is
handed to it in its file, never on a command line or in an environment (see
`storage.embedded_main`).

Several vahti processes on one home share one server (`storage.processes.SharedUse`):
the last one to leave stops it, or, with a linger time (`[storage] embedded_linger_s`,
60 s by default in the CLI), the server stops itself that long after its last user
left, or as soon as its home or its credential goes (storage.embedded_main). The
server also watches its users itself, so a server whose users were all killed stops
too. Locks held by a process that was killed vanish with it (flock); a state file
whose pid is gone or is not our server is stale and replaced.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pymongo
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from vahti.matchers.private import private_dir, write_new_private_file
from vahti.storage.errors import EMBEDDED_DIRS, StorageUnavailable, disk_problem
from vahti.storage.processes import SharedUse, alive, runs_with

SERVER_MODULE = "vahti.storage.embedded_main"  # SecantusDB with authentication, on a unix socket
USER = "vahti"  # storage.embedded_main.USER: the server's only user
# sun_path holds 108 bytes with the closing NUL
MAX_SOCKET_PATH = 107
# causes a server that exits at start names in its log, said in vahti's one-line error
START_FAILURES = ("No space left on device", "Read-only file system", "Permission denied",
                  "Disk quota exceeded", "Too many open files")


@dataclass(frozen=True)
class ServerState:
    pid: int
    socket: str
    data_path: str

    @property
    def uri(self) -> str:
        """The server's address, without the credential: safe to show."""
        return f"mongodb://{quote_plus(self.socket)}/?directConnection=true"

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ServerState | None:
        """None for a state written by an older vahti (a TCP port, no socket)."""
        try:
            return cls(int(raw["pid"]), str(raw["socket"]), str(raw["data_path"]))
        except (KeyError, TypeError, ValueError):
            return None


class EmbeddedServer:
    """One SecantusDB server for one database directory, shared between processes."""

    def __init__(
        self,
        db_dir: Path,
        start_timeout_s: float = 15.0,
        cache_size: str = "256M",
        linger_s: float = 0.0,
        client_of: Callable[[str, dict[str, str]], MongoClient] | None = None,
    ) -> None:
        """client_of(uri, credentials): how the caller connects. Given, the client that
        checked a running server (`_answers`) is kept for the caller (`take_client`):
        one client and one login a command, not two (a tenth of a command's start-up)."""
        self.db_dir = Path(db_dir)
        self.data_path = self.db_dir / "data"
        self.socket_path = self.db_dir / "server.sock"
        self.credential_path = self.db_dir / "credential"
        self.log_path = self.db_dir / "server.log"
        self.state_path = self.db_dir / "server.json"
        self.start_timeout_s = start_timeout_s
        self.cache_size = cache_size
        self.linger_s = max(0.0, linger_s)
        self._shared = SharedUse(self.db_dir, "server.lock")
        self._process: subprocess.Popen[bytes] | None = None
        self._password: str | None = None
        self.state: ServerState | None = None
        self.started_here = False
        self._client_of = client_of
        self._checked_client: MongoClient | None = None

    # -- public ---------------------------------------------------------------

    def acquire(self) -> ServerState:
        """Make sure the server runs and register this process as a user of it."""
        if self.state is not None:
            return self.state
        if not self.db_dir.parent.is_dir():
            # never create a home here: `vahti init` does, with its key and config
            raise StorageUnavailable(f"{self.db_dir.parent} does not exist: run vahti init")
        try:
            private_dir(self.db_dir)
            with self._shared.start_lock():
                self._password = self._read_or_create_credential()
                state = self._adopt_running()
                if state is None:
                    state = self._start()
                self._shared.join()
        except OSError as exc:  # a read-only or full home, most likely
            raise StorageUnavailable(
                f"the embedded database cannot start in {self.db_dir}: "
                f"{exc.strerror or type(exc).__name__}"
            ) from None
        self.state = state
        EMBEDDED_DIRS.add(self.db_dir)
        return state

    def take_client(self) -> MongoClient | None:
        """The client (made by `client_of`) that found the running server answering,
        logged in; None when the server was started here or no `client_of` was given.
        The caller owns it from now on."""
        client, self._checked_client = self._checked_client, None
        return client

    def credentials(self) -> dict[str, str]:
        """MongoClient keyword arguments that log in to the server (after acquire)."""
        assert self._password is not None, "acquire() first"
        return {"username": USER, "password": self._password, "authSource": "admin",
                "authMechanism": "SCRAM-SHA-256"}

    def client_uri(self) -> str:
        """The address with the credential, for handing the server to another process
        as an external database (tests, benchmarks). Never shown: see display_uri."""
        state = self.acquire()
        return (f"mongodb://{USER}:{self.credentials()['password']}@{quote_plus(state.socket)}"
                "/?directConnection=true&authSource=admin&authMechanism=SCRAM-SHA-256")

    def release(self) -> None:
        """Leave the server; stop it when no other vahti process uses it (after
        `linger_s` the server stops itself instead)."""
        if not self._shared.joined:
            return

        def stop_current() -> None:
            # the state file, not our memory of it: the server may have been
            # replaced by another process since we joined (after a crash)
            raw = self._read_state_file()
            if raw is not None:
                self._stop(_pid_in(raw))

        self._shared.leave(stop_current if self.linger_s == 0 else lambda: None)
        self.state = None
        if (client := self.take_client()) is not None:  # never handed over
            client.close()

    # -- internals ------------------------------------------------------------

    def _read_or_create_credential(self) -> str:
        write_new_private_file(self.credential_path,
                               secrets.token_hex(32).encode("ascii") + b"\n")
        password = self.credential_path.read_text(encoding="ascii").strip()
        if not password:
            raise StorageUnavailable(f"{self.credential_path} is empty: remove it")
        return password

    def _read_state_file(self) -> dict[str, Any] | None:
        try:
            raw = json.loads(self.state_path.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return raw if isinstance(raw, dict) else None

    def _adopt_running(self) -> ServerState | None:
        raw = self._read_state_file()
        if raw is None:
            return None
        state = ServerState.from_json(raw)
        pid = _pid_in(raw)
        ours = _is_our_server(pid, self.data_path)
        if ours and state is not None and self._answers(state, timeout_s=3.0):
            return state
        # Stale: the server crashed or hangs, refuses our credential, was started by
        # an older vahti without authentication, or the pid now belongs to something
        # else. Only a process that is provably our server is ever signalled.
        if ours:
            _terminate(pid, grace_s=5.0)
        self.state_path.unlink(missing_ok=True)
        return None

    def _answers(self, state: ServerState, timeout_s: float) -> bool:
        ms = int(timeout_s * 1000)
        if self._client_of is not None:
            client = self._client_of(state.uri, self.credentials())
        else:
            client = MongoClient(state.uri, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms,
                                 socketTimeoutMS=ms, **self.credentials())
        try:
            with pymongo.timeout(timeout_s):
                client.admin.command("ping")  # after logging in: a wrong credential fails here
        except PyMongoError:
            client.close()
            return False
        if self._client_of is not None:
            self._checked_client = client
        else:
            client.close()
        return True

    def _start(self) -> ServerState:
        if len(os.fsencode(self.socket_path)) > MAX_SOCKET_PATH:
            raise StorageUnavailable(
                f"the home path is too long for the embedded database's socket "
                f"{self.socket_path} (at most {MAX_SOCKET_PATH} bytes): use a shorter "
                "VAHTI_HOME, or a MongoDB server (storage.uri)"
            )
        problem = disk_problem(self.db_dir)
        if problem:
            raise StorageUnavailable(f"the embedded database is not started: {problem}")
        private_dir(self.data_path)
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        log_start = os.lseek(log_fd, 0, os.SEEK_END)
        with os.fdopen(log_fd, "ab") as log:
            process = subprocess.Popen(
                [
                    sys.executable, "-m", SERVER_MODULE,
                    "--storage-path", str(self.data_path),
                    "--socket", str(self.socket_path),
                    "--credential-file", str(self.credential_path),
                    "--state-file", str(self.state_path),
                    "--linger", f"{self.linger_s:g}",
                    "--cache-size", self.cache_size,
                    "--log-level", "WARNING",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.db_dir,
                env=_server_environment(),
                # its own session: a Ctrl-C meant for one vahti command must not
                # kill a server that other vahti processes are using
                start_new_session=True,
            )
        state = ServerState(pid=process.pid, socket=str(self.socket_path),
                            data_path=str(self.data_path))
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StorageUnavailable(
                    f"the embedded database server exited with code {process.returncode}"
                    f"{self._start_failure(log_start)}; see its log {self.log_path}"
                )
            if self.socket_path.exists() and self._answers(state, timeout_s=0.5):
                self._process = process
                self.started_here = True
                self._write_state(state)
                return state
            time.sleep(0.05)
        _terminate(process.pid, grace_s=5.0)
        process.wait(timeout=10)
        raise StorageUnavailable(
            f"the embedded database server did not come up within "
            f"{self.start_timeout_s:g} s; see its log {self.log_path}"
        )

    def _start_failure(self, log_start: int) -> str:
        """Why the server exited at start, as ": cause", when known: what it logged at
        this start, or the state of its disk (on a full disk, the log is lost too)."""
        with contextlib.suppress(OSError), open(self.log_path, "rb") as fh:
            fh.seek(log_start)
            logged = fh.read(1 << 20).decode("utf-8", "replace")
            for cause in START_FAILURES:
                if cause in logged:
                    return f": {cause}"
        problem = disk_problem(self.db_dir)
        if problem:
            return f": {problem}"
        return ""

    def _write_state(self, state: ServerState) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(state.__dict__))
        os.replace(tmp, self.state_path)

    def _stop(self, pid: int) -> None:
        if _is_our_server(pid, self.data_path):
            _terminate(pid, grace_s=10.0)
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=1)
            self._process = None
        self.state_path.unlink(missing_ok=True)


def _pid_in(state: dict[str, Any]) -> int:
    pid = state.get("pid")
    return pid if isinstance(pid, int) else 0


def _server_environment() -> dict[str, str]:
    """This environment, with the folder this `storage` package was imported from first
    on the server's path: the server runs the same vahti as the process starting it,
    whatever else is installed."""
    root = str(Path(__file__).resolve().parent.parent)
    paths = [root, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def _is_our_server(pid: int, data_path: Path) -> bool:
    """Is `pid` a SecantusDB server on `data_path`? Guards against pid reuse."""
    # "secantus": a server started by an earlier vahti (SecantusDB's own module) is
    # still ours to share and stop after an upgrade
    return any(runs_with(pid, module, str(data_path)) for module in (SERVER_MODULE, "secantus"))


def _terminate(pid: int, grace_s: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not alive(pid):
            _reap(pid)
            return
        _reap(pid)
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _reap(pid)


def _reap(pid: int) -> None:
    """Collect the exit status if the server is our own child (no zombies)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
