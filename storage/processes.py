"""The servers vahti starts and shares between its processes (the embedded
database, its own tor): who may signal a pid, and who stops the server.

Is this pid still the process we started? A pid in a state file may by now belong
to anything else, so only a process proven to be ours is ever signalled.

Sharing (`SharedUse`), with two lock files in the server's directory:

    START_LOCK  taken exclusively while a process starts, adopts or stops the server
    users.lock  held shared by every process using the server

The process leaving last stops the server: it is the one that can take `users.lock`
exclusively. Locks held by a process that died are released by the kernel, so a
crashed user never blocks a start, and a server that watches `users.lock` itself
(`stop_if_unused`) notices when its last user died without leaving.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path


def alive(pid: int) -> bool:
    """True for a running process; a zombie counts as gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return fields[0] != b"Z"
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False


def runs_with(pid: int, *arguments: bytes | str) -> bool:
    """Is `pid` alive with each of `arguments` as one of its command-line words?"""
    if pid <= 0 or not alive(pid):
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().split(b"\0")
    except OSError:
        return False
    return all(os.fsencode(a) in argv for a in arguments)


class SharedUse:
    """This process's use of a shared server whose files live in `directory`."""

    def __init__(self, directory: Path, start_lock_name: str) -> None:
        self.start_lock_path = Path(directory) / start_lock_name
        self.users_path = Path(directory) / "users.lock"
        self._users_fd: int | None = None

    @property
    def joined(self) -> bool:
        return self._users_fd is not None

    @contextlib.contextmanager
    def start_lock(self) -> Iterator[None]:
        """Held while the server is started, adopted or stopped (blocks other processes)."""
        fd = os.open(self.start_lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def join(self) -> None:
        """Count this process as a user (call with the start lock held)."""
        if self._users_fd is None:
            self._users_fd = os.open(self.users_path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._users_fd, fcntl.LOCK_SH)

    def leave(self, stop: Callable[[], None]) -> None:
        """Stop counting this process; when it was the last user, call `stop` first."""
        if self._users_fd is None:
            return
        with self.start_lock():
            try:
                fcntl.flock(self._users_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                last_user = True
            except BlockingIOError:
                last_user = False
            try:
                if last_user:
                    stop()
            finally:
                os.close(self._users_fd)
                self._users_fd = None

    def unused(self) -> bool:
        """No process uses the server (call with the start lock held)."""
        try:
            fd = os.open(self.users_path, os.O_RDWR)
        except OSError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        finally:
            os.close(fd)

    def stop_if_unused(self, stop: Callable[[], None]) -> bool:
        """For the server itself: call `stop` if nobody uses it and nobody is starting,
        adopting or leaving it, holding the start lock meanwhile so that nobody adopts
        a server that is going away. Never waits; True if `stop` was called."""
        fd = os.open(self.start_lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            if not self.unused():
                return False
            stop()
            return True
        finally:
            os.close(fd)

    def usage(self) -> str:
        """"in use", "idle" (nobody uses the server) or "busy" (being started or stopped
        right now). Checked under the start lock, so that it cannot race a release."""
        try:
            fd = os.open(self.start_lock_path, os.O_RDWR)
        except OSError:
            return "idle"
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return "busy"
            return "idle" if self.unused() else "in use"
        finally:
            os.close(fd)
