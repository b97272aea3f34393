"""Child processes a test starts (a daemon, a server): gone when the test ends."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def reaped(proc: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """Yield `proc`; whatever the block does, kill it if it still runs when the block
    ends (a failed assertion must not leave a daemon behind), and wait for it."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
