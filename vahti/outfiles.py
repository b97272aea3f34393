"""Files a command writes for the operator (reports, exports): whole or not at all, and
readable by the owner only (they name pages and counts of the protected people)."""

from __future__ import annotations

import os
from pathlib import Path

from vahti.errors import VahtiError


def write_private(path: Path, text: str) -> None:
    """Write via a temporary file in the same directory (mode 0600), then rename: a
    reader never sees half a file, and a failure leaves the old file as it was."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise VahtiError(f"cannot write {path}: {exc.strerror}") from None
