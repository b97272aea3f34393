"""A process that closed its database does not wait at exit for pymongo's monitor
threads to sleep out their 0.5 s (a third of a short command's time)."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from tests.conftest import REPO
from vahti.storage.connection import pymongo_exit_hooks

pytestmark = pytest.mark.integration

# opens and closes a database, runs the exit hooks, then names pymongo's threads
# still running: the hooks would have joined them (waiting out their sleep)
CLOSE_THEN_EXIT = """
import atexit, sys, threading
from pathlib import Path
from vahti.storage.connection import StorageSettings, open_storage
db = open_storage(StorageSettings(home=Path(sys.argv[1]), uri=sys.argv[2], database=sys.argv[3]))
db.client.drop_database(db.db.name)
db.close()
atexit._run_exitfuncs()
print(sorted(t.name for t in threading.enumerate() if t.name.startswith("pymongo")))
"""


def test_pymongo_s_exit_hooks_are_where_vahti_looks():
    # pymongo internals: an upgrade that moves them must fail here, not slow every command
    assert pymongo_exit_hooks()


def test_a_process_that_closed_its_database_exits_without_waiting(tmp_path, mongo_uri):
    done = subprocess.run(
        [sys.executable, "-c", CLOSE_THEN_EXIT, str(tmp_path), mongo_uri,
         "t_" + uuid.uuid4().hex[:12]],
        capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "pymongo_server_monitor_thread" in done.stdout, "the exit hooks joined them"
