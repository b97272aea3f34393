"""The embedded server outlives its last command by a grace period (`[storage]
embedded_linger_s`, like ssh's ControlPersist), so commands in a row share one server;
it stops by itself when the period ends, and at once when its home or its credential
goes away (it must never serve a home or a password that no longer exist)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from pymongo import MongoClient

from tests.integration.test_embedded_access import server_state
from tests.integration.test_embedded_server import wait_gone
from tests.integration.test_schema_migration import plant_v1
from vahti.matchers.keys import load_key_file
from vahti.storage import schema
from vahti.storage.embedded import EmbeddedServer
from vahti.storage.processes import alive

pytestmark = pytest.mark.integration

LINGER = "VAHTI_STORAGE_EMBEDDED_LINGER_S"


@contextmanager
def lingering(vahti, seconds: str | None) -> Iterator[int]:
    """`vahti init` with the given linger (None: the default); the pid of the server
    left running. Killed at the end if a failed test left it."""
    if seconds is None:
        vahti.env.pop(LINGER, None)
    else:
        vahti.env[LINGER] = seconds
    result = vahti.run("init")
    assert result.returncode == 0, result.stderr
    state = server_state(vahti.home)
    assert state is not None and alive(state["pid"]), "no server lingered after init"
    try:
        yield state["pid"]
    finally:
        if alive(state["pid"]):
            os.kill(state["pid"], signal.SIGKILL)


def test_by_default_the_next_command_reuses_the_server(vahti_embedded):
    vahti = vahti_embedded
    with lingering(vahti, None) as pid:
        assert vahti.run("status").returncode == 0
        assert server_state(vahti.home)["pid"] == pid, "the next command did not reuse it"
        assert alive(pid)
        # a command with linger 0 is the last user: it stops the server as before
        assert vahti.run("status", extra_env={LINGER: "0"}).returncode == 0
        assert wait_gone(pid, timeout=10)
        assert server_state(vahti.home) is None


def test_the_server_stops_by_itself_when_the_grace_period_ends(vahti_embedded):
    vahti = vahti_embedded
    with lingering(vahti, "4") as pid:
        time.sleep(1)
        assert alive(pid), "the server stopped before its grace period ended"
        started = time.monotonic()
        assert wait_gone(pid, timeout=4 + 10), "a lingering server never stopped"
        print(f"stopped {time.monotonic() - started + 1:.1f} s after its last command")
        assert server_state(vahti.home) is None
        assert not (vahti.home / "db" / "server.sock").exists()


def test_linger_0_stops_the_server_with_its_last_command(vahti_embedded):
    vahti = vahti_embedded
    vahti.env[LINGER] = "0"
    assert vahti.run("init").returncode == 0
    assert server_state(vahti.home) is None


def test_a_lingering_server_stops_when_its_home_is_removed(vahti_embedded):
    vahti = vahti_embedded
    with lingering(vahti, "600") as pid:
        shutil.rmtree(vahti.home)
        assert wait_gone(pid, timeout=10), "the server outlived its home"


def test_a_lingering_server_stops_when_its_credential_changes(vahti_embedded):
    vahti = vahti_embedded
    with lingering(vahti, "600") as pid:
        credential = vahti.home / "db" / "credential"
        credential.unlink()  # how the README says to rotate the password
        assert wait_gone(pid, timeout=10), "the server kept serving an old credential"
        assert vahti.run("status").returncode == 0  # a new credential, a new server
        assert server_state(vahti.home)["pid"] != pid
        assert vahti.run("status", extra_env={LINGER: "0"}).returncode == 0
        assert server_state(vahti.home) is None


def test_a_lingering_server_is_not_stopped_while_a_command_uses_it(vahti_embedded):
    """The grace period counts from the last user's leaving, not from the start."""
    vahti = vahti_embedded
    with lingering(vahti, "2") as pid:
        server = EmbeddedServer(vahti.home / "db")
        assert server.acquire().pid == pid
        time.sleep(2 + 2)
        assert alive(pid), "the server stopped under a user"
        server.linger_s = 2  # leave it lingering: it stops by itself
        server.release()
        assert wait_gone(pid, timeout=2 + 10)


def test_a_schema_migration_runs_on_a_lingering_server(vahti_embedded):
    """An upgrade's migration needs no server of its own: the next command migrates
    through the lingering one."""
    vahti = vahti_embedded
    with lingering(vahti, "600") as pid:
        server = EmbeddedServer(vahti.home / "db", linger_s=600)
        client: MongoClient = MongoClient(server.client_uri())
        try:
            plant_v1(client["vahti"], load_key_file(vahti.home / "key"))
        finally:
            client.close()
            server.release()
        result = vahti.run("status", "--json")
        assert result.returncode == 0, result.stderr
        assert "database migrated to schema" in result.stderr
        assert json.loads(result.stdout)["storage"]["schema_version"] == schema.SCHEMA_VERSION
        assert server_state(vahti.home)["pid"] == pid
        assert vahti.run("status", extra_env={LINGER: "0"}).returncode == 0
        assert wait_gone(pid, timeout=10)
