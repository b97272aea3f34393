"""The embedded default server: shared by processes on one home, recovered
after crashes, and losing nothing a write had committed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote_plus

import pytest

from vahti.storage.embedded import EmbeddedServer
from vahti.storage.errors import StorageUnavailable
from vahti.storage.processes import alive

pytestmark = pytest.mark.integration

HOLDER = [sys.executable, "-m", "tests.integration.holder"]


def start_holder(vahti, mode: str) -> tuple[subprocess.Popen[str], dict]:
    proc = subprocess.Popen(HOLDER + [mode], env=vahti.env, cwd=os.environ.get("PWD", "."),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    first = json.loads(proc.stdout.readline())
    assert first["ready"]
    return proc, first


def state(vahti) -> dict | None:
    path = vahti.home / "db" / "server.json"
    return json.loads(path.read_text()) if path.exists() else None


def wait_gone(pid: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_two_processes_share_one_server_and_the_last_stops_it(vahti_embedded):
    vahti = vahti_embedded
    assert vahti.run("init").returncode == 0
    assert state(vahti) is None  # init's server stopped with it
    a, a_info = start_holder(vahti, "hold")
    b, b_info = start_holder(vahti, "hold")
    try:
        assert a_info["pid"] == b_info["pid"] and a_info["socket"] == b_info["socket"]
        status = json.loads(vahti.run("status", "--json").stdout)
        assert status["storage"]["mode"] == "embedded"
        assert quote_plus(a_info["socket"]) in status["storage"]["uri"]
        a.stdin.close()
        assert a.wait(timeout=30) == 0
        assert alive(a_info["pid"]), "server stopped while another process used it"
        assert vahti.run("status").returncode == 0
    finally:
        b.stdin.close()
        b.wait(timeout=30)
    assert wait_gone(a_info["pid"]), "the last user did not stop the server"
    assert state(vahti) is None


def test_concurrent_first_starts_make_one_server(vahti_embedded):
    vahti = vahti_embedded
    assert vahti.run("init").returncode == 0
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: vahti.run("status", "--json"), range(4)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert state(vahti) is None


def test_stale_state_file_is_recovered(vahti_embedded):
    vahti = vahti_embedded
    assert vahti.run("init").returncode == 0
    # a state file left by a crash, whose pid now belongs to an unrelated process
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        (vahti.home / "db" / "server.json").write_text(json.dumps(
            {"pid": bystander.pid, "socket": str(vahti.home / "db" / "server.sock"),
             "data_path": str(vahti.home / "db" / "data")}))
        result = vahti.run("status", "--json")
        assert result.returncode == 0, result.stderr
        assert bystander.poll() is None, "vahti signalled a process that was not its server"
    finally:
        bystander.kill()
        bystander.wait()
    # a garbled state file
    (vahti.home / "db" / "server.json").write_text("{not json")
    assert vahti.run("status").returncode == 0


def test_server_killed_hard_is_restarted(vahti_embedded):
    vahti = vahti_embedded
    assert vahti.run("init").returncode == 0
    holder, info = start_holder(vahti, "hold")
    try:
        os.kill(info["pid"], signal.SIGKILL)
        assert wait_gone(info["pid"])
        result = vahti.run("status", "--json")
        assert result.returncode == 0, result.stderr
        replacement = state(vahti)
        assert replacement is not None and replacement["pid"] != info["pid"]
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    # the holder, last to leave, stops the replacement it never knew about
    assert wait_gone(replacement["pid"])
    assert state(vahti) is None


@pytest.mark.parametrize("also_kill_server", [False, True])
def test_kill_9_mid_write_loses_nothing_committed(vahti_embedded, also_kill_server):
    vahti = vahti_embedded
    assert vahti.run("init").returncode == 0
    writer, info = start_holder(vahti, "write")
    acked = 0
    while acked < 500:
        acked = json.loads(writer.stdout.readline())["acked"]
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=10)
    if also_kill_server:
        os.kill(info["pid"], signal.SIGKILL)
        assert wait_gone(info["pid"])
    result = vahti.run("status", "--json")
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)["storage"]["counts"]
    assert counts["sightings"] >= acked
    # the writer's own lock died with it: this command was the last user
    assert state(vahti) is None
    assert wait_gone(info["pid"])


def test_server_that_does_not_come_up_names_its_log(tmp_path):
    # a cache size WiredTiger cannot read makes the server exit at start
    server = EmbeddedServer(tmp_path / "db", start_timeout_s=15, cache_size="lots")
    with pytest.raises(StorageUnavailable) as err:
        server.acquire()
    assert str(tmp_path / "db" / "server.log") in str(err.value)
    assert "exited with code" in str(err.value)


def test_home_too_long_for_the_socket_is_a_clear_error(tmp_path):
    deep = tmp_path / ("d" * 100) / "db"
    deep.parent.mkdir()
    with pytest.raises(StorageUnavailable) as err:
        EmbeddedServer(deep).acquire()
    assert "too long" in str(err.value) and "storage.uri" in str(err.value)
