"""Is this pid still the process we started? Used before signalling the servers
vahti starts and shares between its processes (the embedded database, its own
tor): a pid in a state file may by now belong to anything else."""

from __future__ import annotations

import os


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
