"""The embedded default database: a SecantusDB server as a child process.

Layout under the database directory (`$VAHTI_HOME/db`):

    data/            WiredTiger files
    server.log       the server's own output
    server.json      state: pid, port, data path of the running server
    server.lock      held exclusively while a process starts, adopts or stops the server
    users.lock       held shared by every vahti process using the server

Several vahti processes on one home share one server (`storage.processes.SharedUse`):
the last one to leave stops it. Locks held by a process that was killed vanish with
it (flock), so a crash never leaves the server counted as in use; a state file whose
pid is gone or is not our server is stale and replaced.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from storage.errors import StorageUnavailable
from storage.processes import SharedUse, alive, runs_with

SERVER_MODULE = "storage.embedded_main"  # SecantusDB's CLI, its TTL sweeper off
HOST = "127.0.0.1"  # never anything else: the embedded server has no authentication


@dataclass(frozen=True)
class ServerState:
    pid: int
    port: int
    data_path: str

    @property
    def uri(self) -> str:
        return f"mongodb://{HOST}:{self.port}/?directConnection=true"


class EmbeddedServer:
    """One SecantusDB server for one database directory, shared between processes."""

    def __init__(
        self,
        db_dir: Path,
        start_timeout_s: float = 15.0,
        cache_size: str = "256M",
        port: int | None = None,
    ) -> None:
        self.db_dir = Path(db_dir)
        self.data_path = self.db_dir / "data"
        self.log_path = self.db_dir / "server.log"
        self.state_path = self.db_dir / "server.json"
        self.start_timeout_s = start_timeout_s
        self.cache_size = cache_size
        self.fixed_port = port
        self._shared = SharedUse(self.db_dir, "server.lock")
        self._process: subprocess.Popen[bytes] | None = None
        self.state: ServerState | None = None
        self.started_here = False

    # -- public ---------------------------------------------------------------

    def acquire(self) -> ServerState:
        """Make sure the server runs and register this process as a user of it."""
        if self.state is not None:
            return self.state
        self.db_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._shared.start_lock():
            state = self._adopt_running()
            if state is None:
                state = self._start()
            self._shared.join()
        self.state = state
        return state

    def release(self) -> None:
        """Leave the server; stop it when no other vahti process uses it."""
        if not self._shared.joined:
            return

        def stop_current() -> None:
            # the state file, not our memory of it: the server may have been
            # replaced by another process since we joined (after a crash)
            current = self._read_state()
            if current is not None:
                self._stop(current)

        self._shared.leave(stop_current)
        self.state = None

    # -- internals ------------------------------------------------------------

    def _read_state(self) -> ServerState | None:
        try:
            raw = json.loads(self.state_path.read_text())
            return ServerState(int(raw["pid"]), int(raw["port"]), str(raw["data_path"]))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    def _adopt_running(self) -> ServerState | None:
        state = self._read_state()
        if state is None:
            return None
        if _is_our_server(state.pid, self.data_path) and _answers(state.uri, timeout_s=3.0):
            return state
        # Stale: the server crashed or hangs, or the pid now belongs to something
        # else. Only a process that is provably our server is ever signalled.
        if _is_our_server(state.pid, self.data_path):
            _terminate(state.pid, grace_s=5.0)
        self.state_path.unlink(missing_ok=True)
        return None

    def _start(self) -> ServerState:
        self.data_path.mkdir(parents=True, exist_ok=True, mode=0o700)
        # An explicit (empty) config file stops SecantusDB from discovering
        # ./secantusd.toml or ~/.secantus/secantusd.toml and picking up
        # settings that are not ours.
        config_file = self.db_dir / "secantusd.toml"
        if not config_file.exists():
            config_file.write_text("# vahti's embedded server: settings are flags\n")
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between probe and bind
            port = self.fixed_port or _free_port()
            state = ServerState(pid=0, port=port, data_path=str(self.data_path))
            log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            log = os.fdopen(log_fd, "ab")
            try:
                process = subprocess.Popen(
                    [
                        # SecantusDB's CLI with its TTL sweeper off (see the module)
                        sys.executable, "-m", SERVER_MODULE,
                        "--config", str(config_file),
                        "--host", HOST,
                        "--port", str(port),
                        "--storage-path", str(self.data_path),
                        "--cache-size", self.cache_size,
                        "--log-level", "WARNING",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.db_dir,
                    # its own session: a Ctrl-C meant for one vahti command must not
                    # kill a server that other vahti processes are using
                    start_new_session=True,
                )
            finally:
                log.close()
            state = ServerState(pid=process.pid, port=port, data_path=str(self.data_path))
            deadline = time.monotonic() + self.start_timeout_s
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    last_error = f"exited with code {process.returncode}"
                    break
                if _answers(state.uri, timeout_s=0.5):
                    self._process = process
                    self.started_here = True
                    tmp = self.state_path.with_suffix(".tmp")
                    tmp.write_text(json.dumps(state.__dict__))
                    os.replace(tmp, self.state_path)
                    return state
                time.sleep(0.1)
            else:
                _terminate(process.pid, grace_s=5.0)
                process.wait(timeout=10)
                raise StorageUnavailable(
                    f"the embedded database server did not come up within "
                    f"{self.start_timeout_s:g} s; see its log {self.log_path}"
                )
        raise StorageUnavailable(
            f"the embedded database server {last_error}; see its log {self.log_path}"
        )

    def _stop(self, state: ServerState) -> None:
        if _is_our_server(state.pid, self.data_path):
            _terminate(state.pid, grace_s=10.0)
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=1)
            self._process = None
        self.state_path.unlink(missing_ok=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _answers(uri: str, timeout_s: float) -> bool:
    ms = int(timeout_s * 1000)
    client: MongoClient = MongoClient(
        uri, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms
    )
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


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
