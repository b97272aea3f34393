"""`vahti scan --no-store`: the database half of the start-up in a second process.

Most of a scan's start-up is imports: the scanner's (numpy, the detectors) and the
database's (pymongo), then the database's own checks (`open_db`: migrations,
retention, the key, an unfinished key rotation) and the watchlist's state, which
picks the cached index (`vahti.watchlist_cache`). A scan that stores needs the
database in the process that scans. A scan with `--no-store` needs only the index,
so the command forks before the scanner's modules load (`prestart`, called by the
command group before it imports `vahti.cmd_scan`): the child opens the database
and names the cached index of the watchlist as it is now
(`watchlist_source.current_cache`) while the parent imports the scanner on the
other core; then the parent loads that index, checked as every cached index is.
The parent never imports pymongo (`benchmarks/scan_command.py`: the start-up
0.1 s shorter).

Nothing is decided differently: the child runs the same `open_db` and reads the
same state token the parent would have. Whenever it cannot name a complete cached
index of that state (none built yet, a write open or interrupted, an empty
watchlist, any unexpected error), the parent does all of it itself, as a storing
scan does, and says what it found in its own words, once. A user error of the
child's (the database unreachable, a wrong key) is raised in the parent as it was
raised in the child, so a dead database costs one timeout, not two.

The child is forked only where that is safe and worth it: `os.fork` exists, the
process runs a single thread (the `vahti` command at this point; not a test that
runs the command in process next to threads of its own), and the arguments ask for
`--no-store`. A misread argument costs nothing but the child's work:
`vahti.cmd_scan` uses the check only when click parsed `--no-store` too.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from vahti.wiring import load_key

if TYPE_CHECKING:
    import click

    from vahti.config import Config
    from vahti.matchers.index import WatchlistIndex
    from vahti.matchers.keys import Key

log = logging.getLogger("vahti.scan")

KEY = "vahti.scan.key"  # ctx.meta: the key `prestart` loaded, or why it could not
CHECK = "vahti.scan.check"  # ctx.meta: the running DatabaseCheck


def prestart(ctx: click.Context, cfg: Config, args: list[str]) -> None:
    """Before `vahti.cmd_scan` is imported (`args`: the scan's own arguments): for
    `--no-store`, load the key (once: a descriptor or a command gives it once) and
    start the database check in a second process."""
    if not wants_check(args):
        return
    try:
        key = load_key(cfg)
    except Exception as exc:  # noqa: BLE001 - raised where the scan asks for the key
        ctx.meta[KEY] = exc
        return
    ctx.meta[KEY] = key
    check = DatabaseCheck.start(cfg, key)
    if check is not None:
        ctx.meta[CHECK] = check
        ctx.call_on_close(check.close)  # an unused check (a usage error) is ended


def wants_check(args: list[str]) -> bool:
    """Whether the scan's arguments ask for `--no-store` (options end at `--`), with no
    help asked for, where forking is possible and safe (module doc)."""
    return asks_no_store(args) and can_fork()


def asks_no_store(args: list[str]) -> bool:
    options = args[:args.index("--")] if "--" in args else args
    return "--no-store" in options and not {"-h", "--help"} & set(options)


def can_fork() -> bool:
    """A fork copies only the calling thread: another one's lock held then stays held
    in the child for ever."""
    return hasattr(os, "fork") and threading.active_count() == 1


def scan_key(meta: dict, cfg: Config) -> Key:
    """The key `prestart` loaded (raising what it raised), else the key loaded now."""
    found = meta.pop(KEY, None)
    if isinstance(found, BaseException):
        raise found
    return found if found is not None else load_key(cfg)


class DatabaseCheck:
    """The child that opens the database and names the current cached index."""

    def __init__(self, pid: int, answer_fd: int) -> None:
        self.pid: int | None = pid
        self.answer_fd = answer_fd

    @classmethod
    def start(cls, cfg: Config, key: Key) -> DatabaseCheck | None:
        read_fd, write_fd = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            return None  # the parent does it all
        if pid == 0:
            os.close(read_fd)
            _child(cfg, key, write_fd)  # never returns
        os.close(write_fd)
        return cls(pid, read_fd)

    @staticmethod
    def of(meta: dict) -> DatabaseCheck | None:
        return meta.pop(CHECK, None)

    def index(self, key: Key) -> WatchlistIndex | None:
        """The index the child named (None: the caller opens the database itself);
        raises the user error the child raised."""
        answer = self._answer()
        if "error" in answer:
            raise answer["error"]
        if "target" not in answer:
            log.debug("database check: no cached index named; the database is opened here")
            return None
        from vahti.watchlist_cache import cached

        index = cached(Path(answer["target"]), key, answer["source"])
        if index is None or index.n_people == 0:
            # changed since, or nobody enrolled: said by the caller's own path
            log.debug("database check: the cached index named is gone or empty; the "
                      "database is opened here")
            return None
        log.debug("database check: the cached index it named is loaded (%d people)",
                  index.n_people)
        return index

    def _answer(self) -> dict:
        """What the child wrote, once it has ended ({} when it failed otherwise)."""
        chunks = []
        with os.fdopen(self.answer_fd, "rb") as pipe:
            while chunk := pipe.read(1 << 16):
                chunks.append(chunk)
        status = self._reap()
        if status != 0 or not chunks:
            return {}
        try:
            answer = json.loads(b"".join(chunks))
            if "error" in answer:
                answer["error"] = pickle.loads(bytes.fromhex(answer["error"]))  # noqa: S301
        except Exception:  # noqa: BLE001 - whatever it was, the parent does it all
            return {}
        return answer

    def _reap(self) -> int:
        pid, self.pid = self.pid, None
        if pid is None:
            return -1
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

    def close(self) -> None:
        """End a child whose answer was not asked for (the command stopped before)."""
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        self._reap()
        try:
            os.close(self.answer_fd)
        except OSError:
            pass


def _child(cfg: Config, key: Key, answer_fd: int) -> None:
    """Open the database, name the current cached index, write the answer and end
    (`os._exit`: nothing of the parent's, no exit hook and no buffer, runs twice)."""
    code, answer = 1, {}
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)  # the command's output is the parent's alone
        os.close(null)
        from vahti.watchlist_source import current_cache
        from vahti.wiring import open_db

        with open_db(cfg, key) as storage:
            found = current_cache(storage, key.key_id, cfg.home)
        answer = {"target": str(found[0]), "source": found[1]} if found else {}
        code = 0
    except BaseException as exc:  # noqa: BLE001 - the parent decides
        answer = _user_error(exc)
        code = 0 if answer else 1
    finally:
        try:
            data = json.dumps(answer).encode()
            while data:
                data = data[os.write(answer_fd, data):]
        finally:
            os._exit(code)


def _user_error(exc: BaseException) -> dict:
    """A user error (one line and exit 2 in `vahti.cli.main`), for the parent to raise:
    the database unreachable, a wrong key, a rotation unfinished."""
    from vahti.errors import VahtiError
    from vahti.matchers.keys import KeyFileError
    from vahti.storage.errors import StorageError

    if not isinstance(exc, VahtiError | StorageError | KeyFileError):
        return {}
    try:
        return {"error": pickle.dumps(exc).hex()}
    except Exception:  # noqa: BLE001 - not picklable: the parent meets it itself
        return {}
