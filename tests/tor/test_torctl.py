"""spiders.torctl against real tor: the private network's client (external mode) and a
tor that vahti launches into that network (launch mode). Runs inside the loopback-only
network namespace (tests/tor/run_in_netns.sh), like every test that starts tor."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from stem.control import Controller

from tests.conftest import REPO, VahtiRunner, base_env
from vahti.demo.guard import assert_loopback_only
from vahti.demo.socks import http_get
from vahti.spiders.torctl import (
    LaunchedTor,
    TorSettings,
    TorUnavailable,
    build_tor_settings,
    check_ready,
    open_tor,
    request_newnym,
    tor_status,
)

pytestmark = pytest.mark.integration


def dead_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fixture_settings(tor_network, tmp_path: Path, *, socks: bool = True,
                     control: bool = True) -> TorSettings:
    return build_tor_settings(tmp_path, {
        "socks": f"127.0.0.1:{tor_network.socks_port}" if socks else "",
        "control": f"127.0.0.1:{tor_network.control_port}" if control else "",
    })


def tor_env(tor_network) -> dict[str, str]:
    return {"VAHTI_TOR_SOCKS": f"127.0.0.1:{tor_network.socks_port}",
            "VAHTI_TOR_CONTROL": f"127.0.0.1:{tor_network.control_port}"}


def launch_settings(tor_network, home: Path, extra: str = "") -> TorSettings:
    lines = tor_network.network.client_torrc_lines()
    assert "TestingTorNetwork 1" in lines and any(x.startswith("DirAuthority ") for x in lines)
    return build_tor_settings(home, {"mode": "launch", "bootstrap_timeout_s": 90,
                                     "torrc_extra": "\n".join(lines) + "\n" + extra})


def pids_with(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if text in cmdline and state != "Z":
                found.append(int(proc.name))
    return found


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


# -- external mode: the private network's client ---------------------------------


def test_check_ready_against_running_tor(tor_network, tmp_path: Path) -> None:
    state = check_ready(fixture_settings(tor_network, tmp_path), timeout_s=30)
    assert state.mode == "external"
    assert state.bootstrapped is True and state.progress == 100
    assert state.circuit_established is True
    assert (state.socks_host, state.socks_port) == ("127.0.0.1", tor_network.socks_port)
    assert state.control_port == tor_network.control_port
    assert state.version and state.version[0].isdigit()
    assert state.notes == ()


def test_check_ready_with_control_port_only_finds_socks(tor_network, tmp_path: Path) -> None:
    state = check_ready(fixture_settings(tor_network, tmp_path, socks=False))
    assert state.socks_port == tor_network.socks_port and state.bootstrapped is True


def test_check_ready_with_socks_only_says_bootstrap_is_unknown(tor_network,
                                                                tmp_path: Path) -> None:
    state = check_ready(fixture_settings(tor_network, tmp_path, control=False))
    assert state.socks_port == tor_network.socks_port
    assert state.bootstrapped is None and "unknown" in state.notes[0]


def test_check_ready_dead_port_fails_fast(tor_network, tmp_path: Path) -> None:
    settings = build_tor_settings(tmp_path, {
        "socks": f"127.0.0.1:{tor_network.socks_port}", "control": f"127.0.0.1:{dead_port()}"})
    started = time.monotonic()
    with pytest.raises(TorUnavailable, match="unreachable.*control port") as excinfo:
        check_ready(settings, timeout_s=60)
    assert time.monotonic() - started < 5
    assert excinfo.value.reason == "unreachable"


def test_tor_status_shows_bootstrap_and_circuits(tor_network, tmp_path: Path) -> None:
    # an onion request makes sure there are built circuits to count
    assert http_get(tor_network.socks_port, tor_network.onion, "/", timeout=60).status == 200
    info = tor_status(fixture_settings(tor_network, tmp_path))
    assert "error" not in info, info
    assert info["ready"] is True and info["reachable"] is True and info["state"] == "ready"
    assert info["bootstrap"]["progress"] == 100
    assert info["circuit_established"] is True
    assert info["circuits"]["built"] >= 1
    assert sum(info["circuits"]["purposes"].values()) == info["circuits"]["built"]
    assert info["streams"]["open"] >= 0
    assert info["socks_listeners"] == [f"127.0.0.1:{tor_network.socks_port}"]
    assert "pid" not in info  # not vahti's tor
    json.dumps(info)


def test_cli_tor_status_with_environment(tor_network, tmp_path: Path) -> None:
    home = tmp_path / "home"
    runner = VahtiRunner(home, {**base_env(home), **tor_env(tor_network)})
    result = runner.run("tor", "status", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    info = json.loads(result.stdout)
    assert info["mode"] == "external" and info["ready"] is True
    assert info["bootstrap"]["progress"] == 100 and info["circuits"]["built"] >= 0
    table = runner.run("tor", "status")
    assert table.returncode == 0 and "100 %" in table.stdout


def test_vahti_status_shows_tor_without_changing_exit_code(vahti, tor_network) -> None:
    assert vahti.run("init").returncode == 0
    result = vahti.run("status", "--json", extra_env=tor_env(tor_network))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["tor"]["ready"] is True
    assert "ready" in vahti.run("status", extra_env=tor_env(tor_network)).stdout
    # tor down: reported, but `vahti status` is about storage and key
    down = vahti.run("status", "--json",
                     extra_env={"VAHTI_TOR_CONTROL": f"127.0.0.1:{dead_port()}"})
    assert down.returncode == 0
    assert "unreachable" in json.loads(down.stdout)["tor"]["error"]


def test_newnym_sent_then_rate_limited(tor_network, tmp_path: Path) -> None:
    settings = fixture_settings(tor_network, tmp_path)
    first = request_newnym(settings)
    assert first.sent is True and first.wait_s == 0
    started = time.monotonic()
    second = request_newnym(settings)
    assert time.monotonic() - started < 1  # answered from the bookkeeping, no waiting
    assert second.sent is False and 8 < second.wait_s <= 10
    # a controller of the caller's own shares the bookkeeping (same tor)
    with Controller.from_port(address="127.0.0.1", port=tor_network.control_port) as c:
        c.authenticate()
        third = request_newnym(c)
        assert third.sent is False and third.wait_s > 5


# -- launch mode: vahti's own tor, joined to the private network -------------------


def test_open_tor_launches_bootstraps_and_stops(tor_network, tmp_path: Path) -> None:
    assert_loopback_only()
    home = tmp_path / "home"
    settings = launch_settings(tor_network, home)
    torrc = str(home / "tor" / "torrc")
    with open_tor(settings) as state:
        pid = state.pid
        assert pid and pids_with(torrc) == [pid]
        assert state.mode == "launch" and state.progress == 100
        assert state.circuit_established is True
        assert state.socks_host == "127.0.0.1" and state.socks_port != tor_network.socks_port
        # it really is a client of the private network: the test onion answers through it
        response = http_get(state.socks_port, tor_network.onion, "/paste/1", timeout=60)
        assert response.body == b"nothing to see here\n"
        assert check_ready(settings).pid == pid  # launch mode: checks vahti's running tor
        info = tor_status(settings)
        assert info["running"] is True and info["pid"] == pid and info["ready"] is True
        assert info["users"] == "in use"
        assert (home / "tor").stat().st_mode & 0o777 == 0o700
        assert (home / "tor" / "data").stat().st_mode & 0o777 == 0o700
        assert (home / "tor" / "data" / "control_auth_cookie").is_file()
    assert gone(pid)
    assert pids_with(torrc) == []
    assert not (home / "tor" / "tor.json").exists()
    assert tor_status(settings)["running"] is False


HOLDER = textwrap.dedent("""
    import sys, time
    from vahti.demo.guard import assert_loopback_only
    from vahti.spiders.torctl import LaunchedTor, build_tor_settings
    assert_loopback_only()
    settings = build_tor_settings(sys.argv[1], {"torrc_extra": sys.stdin.read()})
    state = LaunchedTor(settings).acquire()
    print(state.pid, flush=True)
    if sys.argv[2] == "hold":
        time.sleep(600)
""")


def test_launched_tor_is_shared_and_survives_a_crashed_user(tor_network,
                                                            tmp_path: Path) -> None:
    assert_loopback_only()
    home = tmp_path / "home"
    extra = "\n".join(tor_network.network.client_torrc_lines()) + "\n"
    settings = launch_settings(tor_network, home)
    torrc = str(home / "tor" / "torrc")
    env = {**base_env(home), "PYTHONPATH": str(REPO)}

    # 1. another process launches vahti's tor and is killed without cleaning up
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(home), "hold"], cwd=REPO,
                              env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        holder.stdin.write(extra)
        holder.stdin.close()
        pid = int(holder.stdout.readline())
        assert tor_status(settings)["users"] == "in use"
    finally:
        holder.send_signal(signal.SIGKILL)  # only the process this test started
        holder.wait(10)
    assert not gone(pid)  # tor lives on (its own session), unused
    info = tor_status(settings)
    assert info["running"] is True and info["users"] == "idle" and info["ready"] is True

    # 2. the next user adopts it; a second user joins; `vahti tor status` sees it
    first = LaunchedTor(settings)
    assert first.acquire().pid == pid and not first.started_here
    try:
        second = LaunchedTor(settings)
        assert second.acquire().pid == pid
        second.release()
        assert not gone(pid)  # the first user is still there
        other = subprocess.run([sys.executable, "-c", HOLDER, str(home), "once"], cwd=REPO,
                               env=env, input=extra, capture_output=True, text=True,
                               timeout=120)
        assert other.returncode == 0, other.stderr
        assert int(other.stdout) == pid  # a process that exits without release leaves it
        status = VahtiRunner(home, env).run("tor", "status", "--json")
        assert status.returncode == 0, status.stderr
        shown = json.loads(status.stdout)
        assert shown["running"] is True and shown["pid"] == pid and shown["ready"] is True
        # other [tor] settings cannot join a tor in use
        with pytest.raises(TorUnavailable, match="other \\[tor\\] settings") as excinfo:
            LaunchedTor(launch_settings(tor_network, home, extra="ClientUseIPv4 1")).acquire()
        assert excinfo.value.reason == "config-mismatch"
    finally:
        first.release()  # the last user: stops it
    assert gone(pid)
    assert pids_with(torrc) == []
    assert not (home / "tor" / "tor.json").exists()
    assert os.listdir(home / "tor")  # the home's tor dir stays (data, log) for next time

    # 3. an unused tor left behind with other settings is replaced, not refused
    once = subprocess.run([sys.executable, "-c", HOLDER, str(home), "once"], cwd=REPO,
                          env=env, input=extra, capture_output=True, text=True, timeout=120)
    assert once.returncode == 0, once.stderr
    left = int(once.stdout)
    assert not gone(left)
    with open_tor(launch_settings(tor_network, home, extra="ClientUseIPv4 1")) as state:
        assert state.pid != left and gone(left)
        replaced = state.pid
    assert gone(replaced) and pids_with(torrc) == []
