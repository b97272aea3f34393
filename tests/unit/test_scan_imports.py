"""What `vahti scan` loads before it reads a byte: libraries it may never use are
imported when they are used (py7zr when a 7z archive is opened, rich when a table or a
progress bar is shown), not by every scan (their import was 0.1 s of its start-up)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO

# py7zr and what it brings (pycryptodomex, cffi's C parser); rich
DEFERRED = ("py7zr", "Cryptodome", "pycparser", "rich")


def loaded_by(code: str) -> list[str]:
    """The modules of DEFERRED that `code` leaves in sys.modules (a fresh interpreter)."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
             f"{DEFERRED!r})))\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                          text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_importing_the_scan_command_loads_no_archive_or_terminal_library():
    assert loaded_by("import vahti.cmd_scan") == []


def test_they_load_when_used():
    assert "py7zr" in loaded_by("from vahti.matchers.archive_7z import iter_7z")
    assert "rich" in loaded_by("from vahti.display import console\nconsole()")
