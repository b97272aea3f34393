"""Who can reach the embedded database, and how long it outlives its users.

Only vahti's own user, holding the per-home credential, may connect: another OS user
cannot reach it at all, and vahti's user without the credential cannot read. A
server whose users all died (kill -9) stops by itself within its grace period.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from pymongo import MongoClient

from tests.conftest import VahtiRunner, base_env
from tests.integration.test_embedded_server import start_holder, wait_gone
from vahti.storage.embedded import EmbeddedServer
from vahti.storage.processes import alive

pytestmark = pytest.mark.integration


@pytest.fixture
def open_home() -> Iterator[VahtiRunner]:
    """A home whose parent any user may traverse (pytest's own temporary folders are
    0700, which would hide the home from other users whatever vahti did)."""
    parent = Path(tempfile.mkdtemp(prefix="vahti-access-"))
    os.chmod(parent, 0o755)
    home = parent / "home"
    runner = VahtiRunner(home, base_env(home))
    try:
        yield runner
    finally:
        state = server_state(home)
        if state and alive(state["pid"]):
            os.kill(state["pid"], signal.SIGKILL)
        shutil.rmtree(parent, ignore_errors=True)


def server_state(home: Path) -> dict | None:
    path = home / "db" / "server.json"
    return json.loads(path.read_text()) if path.exists() else None


@contextmanager
def holding(vahti: VahtiRunner) -> Iterator[subprocess.Popen[str]]:
    """A vahti process using the embedded server for the block's time."""
    holder, _ = start_holder(vahti, "hold")
    try:
        yield holder
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def addresses(state: dict) -> list[str]:
    """Every address the server may be reached at, credential-less."""
    found = []
    if state.get("port"):
        found.append(f"mongodb://127.0.0.1:{state['port']}/?directConnection=true")
    if state.get("socket"):
        found.append(f"mongodb://{quote_plus(state['socket'])}/?directConnection=true")
    assert found, state
    return found


def try_reading(uri: str) -> str:
    client: MongoClient = MongoClient(uri, serverSelectionTimeoutMS=2000,
                                      connectTimeoutMS=2000)
    try:
        client["vahti"]["meta"].find_one()
        client["vahti"]["meta"].insert_one({"planted": True})
        return "read and wrote"
    except Exception as exc:  # noqa: BLE001 - the kind of refusal is the result
        return f"refused: {type(exc).__name__}"
    finally:
        client.close()


def as_user(user: str, work, *args) -> str:  # noqa: ANN001
    """Run `work(*args)` in a forked child that runs as `user`; return its answer."""
    entry = pwd.getpwnam(user)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to the other user, never return into pytest
        answer = "child failed"
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            answer = work(*args)
        except BaseException as exc:  # noqa: BLE001
            answer = f"child error: {type(exc).__name__}"
        finally:
            os.write(write_end, answer.encode())
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as fh:
        answer = fh.read().decode()
    os.waitpid(pid, 0)
    return answer


def tcp_listeners(pid: int) -> list[str]:
    """The TCP ports `pid` listens on (from /proc: its socket inodes in LISTEN state)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                ports.append(fields[1])
    return ports


def test_another_os_user_cannot_reach_the_database(open_home):
    vahti = open_home
    assert vahti.run("init").returncode == 0
    with holding(vahti):
        state = server_state(vahti.home)
        try_reading("mongodb://127.0.0.1:1/")  # pymongo fully imported before the fork
        for uri in addresses(state):
            answer = as_user("nobody", try_reading, uri)
            assert answer.startswith("refused"), (uri, answer)
        assert tcp_listeners(state["pid"]) == [], "the server listens on a TCP port"


def test_vahtis_user_without_the_credential_cannot_read(vahti_embedded):
    vahti = vahti_embedded
    assert vahti.run("init").returncode == 0
    with holding(vahti):
        for uri in addresses(server_state(vahti.home)):
            assert try_reading(uri) == "refused: OperationFailure", uri
        # vahti's own commands, holding the credential, still work
        status = vahti.run("status", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["storage"]["mode"] == "embedded"


def test_the_credential_is_never_shown(vahti_embedded):
    vahti = vahti_embedded
    assert vahti.run("init").returncode == 0
    secret_file = vahti.home / "db" / "credential"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    secret = secret_file.read_text().strip()
    assert len(secret) >= 32
    with holding(vahti) as holder:
        pid = server_state(vahti.home)["pid"]
        seen = {
            "server arguments": Path(f"/proc/{pid}/cmdline").read_bytes(),
            "server environment": Path(f"/proc/{pid}/environ").read_bytes(),
            "holder environment": Path(f"/proc/{holder.pid}/environ").read_bytes(),
        }
        for args in (("status",), ("status", "--json"), ("config", "show"),
                     ("config", "show", "--json"), ("--debug", "status")):
            result = vahti.run(*args)
            assert result.returncode == 0, result.stderr
            seen[" ".join(args)] = (result.stdout + result.stderr).encode()
    for path in vahti.home.rglob("*"):
        if path.is_file() and path != secret_file and "data" not in path.parts:
            seen[str(path)] = path.read_bytes()
    leaks = [where for where, data in seen.items() if secret.encode() in data]
    assert leaks == []


def test_orphaned_server_stops_by_itself_and_the_next_command_works(vahti_embedded):
    vahti = vahti_embedded
    assert vahti.run("init").returncode == 0
    holder, info = start_holder(vahti, "hold")
    pid = info["pid"]
    holder.kill()  # SIGKILL: the holder never leaves; nobody else uses the server
    holder.wait(timeout=10)
    started = time.monotonic()
    assert wait_gone(pid, timeout=15), "an orphaned server kept running"
    print(f"orphaned server stopped {time.monotonic() - started:.1f} s after its last user died")
    result = vahti.run("status", "--json")
    assert result.returncode == 0, result.stderr
    assert server_state(vahti.home) is None  # and that command stopped its own server


@pytest.mark.slow  # over 15 s (pytest --durations)
def test_linger_keeps_the_server_for_the_next_command_then_stops_it(vahti_embedded):
    vahti = vahti_embedded
    # long enough for the next command to start up on a loaded machine (seconds)
    vahti.env["VAHTI_STORAGE_EMBEDDED_LINGER_S"] = "15"
    assert vahti.run("init").returncode == 0
    first = server_state(vahti.home)
    assert first is not None and alive(first["pid"]), "no server lingered after init"
    assert vahti.run("status").returncode == 0
    assert server_state(vahti.home)["pid"] == first["pid"], "the next command did not adopt it"
    assert wait_gone(first["pid"], timeout=15 + 15), "a lingering server never stopped"
    assert vahti.run("status").returncode == 0


def test_a_user_left_from_before_authentication_is_removed(tmp_path):
    """Before authentication, anyone could have created a database user: such a user
    must not outlive the next start of the server."""
    server = EmbeddedServer(tmp_path / "db")
    client: MongoClient = MongoClient(server.client_uri())
    try:
        client.admin.command("createUser", "intruder", pwd="letmein", roles=["root"])
        assert {u["user"] for u in client.admin.command("usersInfo")["users"]} == {
            "intruder", "vahti"}
    finally:
        client.close()
        server.release()
    server = EmbeddedServer(tmp_path / "db")
    client = MongoClient(server.client_uri())
    try:
        assert [u["user"] for u in client.admin.command("usersInfo")["users"]] == ["vahti"]
    finally:
        client.close()
        server.release()


def test_the_embedded_server_keeps_no_oplog(tmp_path):
    """A replica set's oplog keeps every write as a whole document (SecantusDB: an hour),
    so a forgotten person's watchlist entry would stay readable there: the embedded
    server runs standalone."""
    server = EmbeddedServer(tmp_path / "db")
    client: MongoClient = MongoClient(server.client_uri())
    try:
        client.t.watchlist.insert_one({"_id": "P-1", "d": b"digest"})
        client.t.watchlist.delete_one({"_id": "P-1"})
        assert client.admin.command("hello").get("setName") is None
        assert client.local["oplog.rs"].count_documents({}) == 0
    finally:
        client.close()
        server.release()


def test_the_credential_is_stored_at_scrams_floor_of_iterations(tmp_path):
    """The stored credential asks for SCRAM's floor of PBKDF2 rounds, which every
    command pays when it connects (`storage.embedded_main.SCRAM_ITERATIONS` says why
    that is safe), and pymongo accepts it."""
    server = EmbeddedServer(tmp_path / "db")
    client: MongoClient = MongoClient(server.client_uri())
    try:
        (user,) = client.admin.command("usersInfo", showCredentials=True)["users"]
        assert user["credentials"]["SCRAM-SHA-256"]["iterationCount"] == 4096
        assert client.admin.command("ping")["ok"] == 1.0  # and pymongo takes it
    finally:
        client.close()
        server.release()
