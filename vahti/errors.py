"""Errors the CLI reports as one clear line with exit code 2."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator

from vahti.matchers.redact import redact

# a full disk or a read-only home: the user can act on these
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


class VahtiError(Exception):
    """A problem the user can act on; its message never holds protected data."""

    exit_code = 2


@contextlib.contextmanager
def disk_failures() -> Iterator[None]:
    """Inside the block, a write that failed for a full disk or a read-only file system
    becomes a VahtiError (exit 2, one line) instead of an internal error."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in DISK_ERRNOS:
            raise
        where = f" {redact(str(exc.filename))}" if exc.filename else " a file"
        raise VahtiError(f"cannot write{where}: {exc.strerror}") from None
