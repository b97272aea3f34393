"""Entry point of the embedded server process: SecantusDB, reachable only by vahti's user,
stopping by itself when nobody uses it.

- **Access.** The server listens on a unix socket inside the database directory (0700,
  in the 0700 home), never on a TCP port: another OS user cannot even connect. And it
  requires SCRAM-SHA-256 authentication: vahti's own user without the per-home
  credential cannot read either. The credential is read from its 0600 file here, never
  from the command line or the environment (both are visible in /proc), and installed
  as the server's only user before the socket exists, so there is no moment without
  authentication.
- **Lifetime.** A watchdog thread stops the server once no vahti process has used it
  for `--linger` seconds (0: at once). Users are counted by `storage.processes.SharedUse`
  (a shared lock each user holds, released by the kernel when the user dies), so a
  server whose users were all killed does not keep running for ever. It also stops the
  server when its disk is nearly full, before WiredTiger corrupts its journal
  (storage.errors.LOW_DISK), and, without waiting for the linger time, when the
  database directory is gone (the home removed or moved) or, once nobody uses it, when
  the credential file was removed or replaced (a password rotation).
- **No TTL sweeper.** The sweeper reads and decodes every document of every
  TTL-indexed collection once a minute while holding the server's global lock: with
  1.3 million documents that stalled every query for 55 s (benchmarks/search_latency.py).
  vahti deletes expired records itself (storage/retention.py).

SecantusDB 0.7.0b3 (pinned in pyproject.toml) supports `--auth` but can listen only on
TCP; the unix socket is bound here, in a subclass that replaces only `start`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from secantus.auth import SCRAM_SHA_256, derive_credentials
from secantus.server import SecantusDBServer

from vahti.storage.errors import disk_problem
from vahti.storage.processes import SharedUse

USER = "vahti"  # the server's only user, in the admin database
# PBKDF2 rounds of the stored credential. The password is 32 random bytes, against which
# a work factor adds nothing (it slows the guessing of guessable passwords), while every
# command pays it when it connects: 4.7 ms at SCRAM-SHA-256's default of 15,000, 1.1 ms
# here. 4,096 is the floor of RFC 7677, and pymongo refuses a server asking for fewer.
SCRAM_ITERATIONS = 4096
WATCH_EVERY_S = 0.5

log = logging.getLogger("vahti.embedded")


class _UnixListener:
    """The listening unix socket, shaped like the TCP one SecantusDB expects: its
    accept loop and connection registry want a (host, port) peer address."""

    def __init__(self, sock: socket.socket, path: str) -> None:
        self._sock = sock
        self.path = path

    def accept(self) -> tuple[socket.socket, tuple[str, int]]:
        conn, _ = self._sock.accept()
        return conn, ("unix", 0)

    def getsockname(self) -> tuple[str, int]:
        return (self.path, 0)

    def close(self) -> None:
        self._sock.close()


class UnixSocketServer(SecantusDBServer):
    """SecantusDB listening on a unix socket (mode 0600) instead of a TCP port."""

    def __init__(self, socket_path: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.socket_path = socket_path

    def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)  # left by a server that was killed
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(self.socket_path))
        os.chmod(self.socket_path, 0o600)
        sock.listen()
        self._socket = _UnixListener(sock, str(self.socket_path))  # type: ignore[assignment]
        self.host, self.port = str(self.socket_path), 0
        self._stop_event.clear()
        self._thread = threading.Thread(target=self._serve_forever, name="secantus-accept",
                                        daemon=True)
        self._thread.start()


def install_user(server: SecantusDBServer, password: str) -> None:
    """Make `USER` the server's only user, with `password` (replacing an older
    credential). Any other user goes: one created while the server had no
    authentication (earlier vahti ran it on TCP without any) would be a way in."""
    while others := [u for u in server.storage.list_users(limit=1000)
                     if (u.get("db"), u.get("user")) != ("admin", USER)]:
        for user in others:
            server.storage.drop_user(str(user.get("db")), str(user.get("user")))
    creds = derive_credentials(password, mechanism=SCRAM_SHA_256, username=USER,
                               iterations=SCRAM_ITERATIONS)
    server.storage.add_user("admin", USER, {
        "_id": f"admin.{USER}", "user": USER, "db": "admin",
        "credentials": creds.to_doc(),
        "roles": [{"role": "root", "db": "admin"}],
        "mechanisms": [SCRAM_SHA_256],
    }, replace=True)


def watch(shared: SharedUse, linger_s: float, data_path: Path, credential: Path,
          shutdown: Any) -> None:
    """Call `shutdown` once nobody has used the server for `linger_s` seconds (holding
    the start lock, so that nobody adopts a server that is going away), or at once when
    its disk is nearly full (see storage.errors.LOW_DISK), or, when nobody uses it, at
    once when its home was removed or its credential changed: a lingering server must
    not serve a home or a password that are gone."""
    started_with = _identity(credential)
    idle_since: float | None = None
    while True:
        time.sleep(WATCH_EVERY_S)
        problem = disk_problem(data_path)
        if problem:
            log.error("stopping before the journal cannot be written: %s", problem)
            shutdown()
            return
        if not data_path.is_dir():
            log.warning("stopping: the database directory %s is gone", data_path)
            shutdown()
            return
        usage = shared.usage()
        if usage != "idle":
            idle_since = None
            continue
        idle_since = idle_since or time.monotonic()
        outdated = _identity(credential) != started_with
        linger_over = time.monotonic() - idle_since >= linger_s
        if (outdated or linger_over) and _stop_if_unused(shared, shutdown):
            if outdated:
                log.warning("stopped: the credential %s changed", credential)
            return


def _identity(path: Path) -> tuple[int, int, int] | None:
    """What tells a file replaced or rewritten from the one the server started with."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns)


def _stop_if_unused(shared: SharedUse, shutdown: Any) -> bool:
    try:
        return shared.stop_if_unused(shutdown)
    except FileNotFoundError:  # the lock files went with the directory, just now
        shutdown()
        return True


def forget_state(state_file: Path) -> None:
    """Remove the state file when it names this process (not a successor's)."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        if json.loads(state_file.read_text())["pid"] == os.getpid():
            state_file.unlink()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vahti.storage.embedded_main")
    parser.add_argument("--storage-path", required=True)
    parser.add_argument("--socket", required=True, type=Path)
    parser.add_argument("--credential-file", required=True, type=Path)
    parser.add_argument("--state-file", required=True, type=Path)
    parser.add_argument("--linger", type=float, default=0.0)
    parser.add_argument("--cache-size", default="256M")
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.umask(0o077)  # WiredTiger's files, the socket: vahti's user only
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    password = args.credential_file.read_text(encoding="ascii").strip()
    if not password:
        logging.getLogger("vahti.embedded").error("%s is empty", args.credential_file)
        return 2
    server = UnixSocketServer(
        args.socket,
        storage_path=args.storage_path,
        require_auth=True,
        # standalone: no oplog. A replica set's oplog keeps every write as a whole
        # document for an hour, so a forgotten person's entry would stay readable
        # there; vahti uses no transactions or change streams that would need it.
        replica_set_name=None,
        enable_test_commands=False,  # no failpoints: they can close every connection
        ttl_sweep_seconds=0,  # <= 0: no sweeper thread (see the module)
        cache_size=args.cache_size,
    )
    install_user(server, password)
    del password
    stopped = threading.Event()
    # the watchdog and the main thread may both shut down: the second waits until the
    # first is done, so that the process never exits half-way (a state file left behind)
    stopping = threading.RLock()  # reentrant: a signal may arrive during a shutdown

    def shutdown() -> None:
        with stopping:
            if stopped.is_set():
                return
            stopped.set()
            server.stop()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(args.socket)
            forget_state(args.state_file)

    def on_signal(signum: int, frame: object) -> None:
        shutdown()
        sys.exit(0)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    server.start()
    shared = SharedUse(args.socket.parent, "server.lock")
    threading.Thread(target=watch, name="vahti-watchdog", daemon=True,
                     args=(shared, args.linger, Path(args.storage_path), args.credential_file,
                           shutdown)).start()
    server.wait()
    shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
