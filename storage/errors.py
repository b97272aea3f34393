"""Storage errors. Messages name hosts, files and key ids, never credentials or data."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

_NO_SPACE = "No space left on device"
# The embedded server is not started, and stops, with less free space than this on its
# disk. WiredTiger that runs out of space while it creates a journal file (10 MB each)
# leaves a truncated one, and then refuses to start even after space is freed
# ("WT_TRY_SALVAGE: database corruption detected"): stopping in time keeps it whole.
LOW_DISK = 32 * 2**20
# database folders of the embedded servers this process uses: SecantusDB answers a
# write that failed for a full disk with a bare "internal server error"
EMBEDDED_DIRS: set[Path] = set()


class StorageError(Exception):
    """The database cannot be used as asked."""

    exit_code = 2


class StorageUnavailable(StorageError):
    """The server could not be reached or started."""


class KeyMismatch(StorageError):
    """The database was written with another key: every lookup would silently miss."""

    def __init__(self, stored: str, given: str) -> None:
        super().__init__(
            f"this database was written with key id {stored}, but the key in use has id {given}: "
            "scanning with it would silently find nothing. Use the original key "
            "(VAHTI_KEY_FILE) or another database."
        )
        self.stored = stored
        self.given = given


class SchemaTooNew(StorageError):
    """The database was written by a newer vahti."""


class DatabaseLost(StorageUnavailable):
    """The database went away mid-command: the server stopped, crashed or is unreachable."""


def storage_failure(exc: Exception) -> StorageError:
    """A pymongo error as one clear line. The server's own message is never shown: it may
    quote the values of the operation that failed."""
    from pymongo.errors import ConnectionFailure  # loaded: `exc` is one of its errors

    problems = [p for p in map(disk_problem, sorted(EMBEDDED_DIRS)) if p]
    if problems or _NO_SPACE in str(exc):
        return StorageError(f"the database cannot write: {problems[0] if problems else _NO_SPACE}")
    if isinstance(exc, ConnectionFailure):  # AutoReconnect, NetworkTimeout, server selection
        return DatabaseLost(
            "lost the connection to the database (its server stopped or cannot be reached): "
            "what it had acknowledged is kept; run the command again"
        )
    code = getattr(exc, "code", None)
    return StorageError(
        f"the database failed an operation ({type(exc).__name__}"
        + (f", code {code})" if code is not None else ")")
    )


def disk_problem(directory: Path) -> str | None:
    """What keeps a database in `directory` from writing, if its disk shows it."""
    try:
        disk = os.statvfs(directory)
    except OSError:
        return None
    if disk.f_flag & os.ST_RDONLY:
        return f"Read-only file system: {directory}"
    free = disk.f_bavail * disk.f_frsize
    if free < LOW_DISK:
        return (f"{_NO_SPACE}: {free // 1024} kB free in {directory}, the database "
                f"needs {LOW_DISK // 2**20} MB to write safely")
    return None


@contextlib.contextmanager
def database_failures() -> Iterator[None]:
    """Inside the block, a pymongo error that nothing handled becomes a StorageError
    (exit 2, one line) instead of an internal error with a traceback."""
    try:
        yield
    except Exception as exc:
        if not _is_pymongo_error(exc):
            raise
        raise storage_failure(exc) from None


def _is_pymongo_error(exc: BaseException) -> bool:
    # pymongo is not imported here: it costs 0.2 s, and commands without a database
    # (`vahti --help`, `scan`) pass through database_failures too. An exception can be
    # one of pymongo's only once pymongo has been imported.
    errors = sys.modules.get("pymongo.errors")
    return errors is not None and isinstance(exc, errors.PyMongoError)


class MigrationNeedsKey(StorageError):
    """An older schema whose migration needs the key, opened without it."""


class RotationInterrupted(StorageError):
    """A key rotation started and did not finish: the watchlist may be half re-keyed."""

    def __init__(self, old: str, new: str) -> None:
        super().__init__(
            f"a key rotation from key id {old} to {new} was interrupted: the watchlist may "
            "be half re-keyed, so nothing is scanned or searched until it is finished; run "
            "`vahti key rotate --register FILE` again (the same register) to finish it")
