"""Folders and files only vahti's user may open: the home and everything in it.

A folder is created with mode 0700 exactly, each missing parent included: `mkdir`'s
mode is narrowed by the umask (a umask of 0 or 022 must not matter) and
`mkdir(parents=True)` gives the parents the default mode (0755 under the usual
umask), which let `vahti status` create a world-readable home.
"""

from __future__ import annotations

import os
from pathlib import Path


def private_dir(path: Path) -> Path:
    """Make `path` and any missing parent, each mode 0700; existing folders are kept as
    they are (the home's own mode is checked and tightened by `vahti init`)."""
    path = Path(path)
    missing: list[Path] = []
    for folder in (path, *path.parents):
        if folder.is_dir():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue  # made meanwhile by another process: it made it 0700 too
        os.chmod(folder, 0o700)
    return path


def write_new_private_file(path: Path, data: bytes) -> bool:
    """Create `path` holding `data` (O_EXCL, mode 0600, synced). False, changing nothing,
    when it exists. A failed write (a full disk) removes the file again: never a
    half-written key, credential or config that a later run would take as whole."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, 0o600)  # the umask may have narrowed it; never widened
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    os.close(fd)
    return True
