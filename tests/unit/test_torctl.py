"""spiders.torctl without tor: settings, clear failures on dead or wrong ports, NEWNYM
bookkeeping, and launch-mode failures with a stand-in binary (never a real tor here)."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import VahtiRunner, base_env
from vahti.config import load_config
from vahti.errors import VahtiError
from vahti.spiders import torctl
from vahti.spiders.torctl import (
    LaunchedTor,
    TorConfigError,
    TorSettings,
    TorUnavailable,
    build_tor_settings,
    check_ready,
    parse_bootstrap_phase,
    parse_host_port,
    request_newnym,
    socks5_greeting,
    tor_status,
)
from vahti.wiring import tor_settings


def dead_port() -> int:
    """A loopback port nothing listens on: bound, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeServer:
    """A loopback TCP server that answers every connection with `reply` (or stays silent)."""

    def __init__(self, reply: bytes | None) -> None:
        self.reply = reply
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.received.append(conn.recv(1024))
                    if self.reply is None:
                        self._stop.wait(5)
                    else:
                        conn.sendall(self.reply)
                        time.sleep(0.05)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self.server.close()
        self._thread.join(6)


@pytest.fixture
def fake_server() -> Iterator:
    servers: list[FakeServer] = []

    def make(reply: bytes | None) -> FakeServer:
        servers.append(FakeServer(reply))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def external(tmp_path: Path, socks: int | None, control: int | None, **kw) -> TorSettings:
    values = {"socks": f"127.0.0.1:{socks}" if socks else "",
              "control": f"127.0.0.1:{control}" if control else "", **kw}
    return build_tor_settings(tmp_path, values)


# -- settings ---------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:9050", ("127.0.0.1", 9050)),
    (" localhost:9150 ", ("localhost", 9150)),
    ("tor.internal.example:1", ("tor.internal.example", 1)),
    ("[::1]:9050", ("::1", 9050)),
])
def test_parse_host_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text) == expected


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("9050", "no port"),
    ("127.0.0.1", "no port"),
    (":9050", "no host"),
    ("127.0.0.1:0", "outside 1-65535"),
    ("127.0.0.1:65536", "outside 1-65535"),
    ("127.0.0.1:90x", "not a number"),
    ("127.0.0.1:\uff19\uff10", "not a number"),  # full-width digits
    ("socks5h://127.0.0.1:9050", "without a scheme"),
    ("::1:9050", "brackets"),
    ("bad host:9050", "not a host name"),
    ("[localhost]:9050", "not an IPv6 address"),
    ("[::1]9050", r"\[IPv6\]:PORT"),
])
def test_parse_host_port_refuses(text: str, message: str) -> None:
    with pytest.raises(TorConfigError, match=message):
        parse_host_port(text, "tor.socks")


def test_default_is_launch_mode_under_home(tmp_path: Path) -> None:
    cfg = load_config(home_flag=str(tmp_path), environ={})
    settings = tor_settings(cfg)
    assert settings.mode == "launch"
    assert settings.data_dir == tmp_path / "tor"
    assert settings.socks is None and settings.control is None
    assert settings.bootstrap_timeout_s == 90.0 and settings.binary == "tor"


def test_environment_selects_external_mode(tmp_path: Path) -> None:
    env = {"VAHTI_TOR_SOCKS": "127.0.0.1:9050", "VAHTI_TOR_CONTROL": "127.0.0.1:9051"}
    settings = tor_settings(load_config(home_flag=str(tmp_path), environ=env))
    assert settings.mode == "external"
    assert (settings.socks_host, settings.socks_port) == ("127.0.0.1", 9050)
    assert (settings.control_host, settings.control_port) == ("127.0.0.1", 9051)
    assert settings.socks == "127.0.0.1:9050" and settings.control == "127.0.0.1:9051"
    # the control port alone is enough: tor is asked for its SOCKS listener
    only_control = tor_settings(load_config(home_flag=str(tmp_path),
                                            environ={"VAHTI_TOR_CONTROL": "127.0.0.1:9051"}))
    assert only_control.mode == "external" and only_control.socks is None


def test_bad_address_names_setting_and_origin(tmp_path: Path) -> None:
    cfg = load_config(home_flag=str(tmp_path), environ={"VAHTI_TOR_SOCKS": "localhost"})
    with pytest.raises(VahtiError, match=r"tor\.socks \(env VAHTI_TOR_SOCKS\).*no port"):
        tor_settings(cfg)


def test_external_mode_needs_an_address(tmp_path: Path) -> None:
    with pytest.raises(TorConfigError, match="neither tor.socks nor tor.control"):
        build_tor_settings(tmp_path, {"mode": "external"})
    with pytest.raises(TorConfigError, match="not one of launch, external"):
        build_tor_settings(tmp_path, {"mode": "bridge"})
    with pytest.raises(TorConfigError, match="IPv4 only"):
        build_tor_settings(tmp_path, {"control": "[::1]:9051"})


def test_control_password_file_permissions(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("s3cret-pass\n")
    pw.chmod(0o600)
    settings = external(tmp_path, 9050, 9051, control_password_file=str(pw))
    assert settings.control_password == "s3cret-pass"
    assert "s3cret" not in repr(settings)
    for mode in (0o640, 0o604):
        pw.chmod(mode)
        with pytest.raises(TorConfigError, match=r"mode 06.*chmod 600"):
            external(tmp_path, 9050, 9051, control_password_file=str(pw))
    with pytest.raises(TorConfigError, match="does not exist"):
        external(tmp_path, 9050, 9051, control_password_file=str(tmp_path / "missing"))
    empty = tmp_path / "empty"
    empty.write_text("\n")
    empty.chmod(0o600)
    with pytest.raises(TorConfigError, match="is empty"):
        external(tmp_path, 9050, 9051, control_password_file=str(empty))


def test_torrc_extra_lines_and_managed_options(tmp_path: Path) -> None:
    settings = build_tor_settings(tmp_path, {"torrc_extra": "# a comment\n\nUseBridges 1\n"})
    assert settings.torrc_extra == ("UseBridges 1",)
    with pytest.raises(TorConfigError, match="line 2 sets SocksPort, which vahti manages"):
        build_tor_settings(tmp_path, {"torrc_extra": "UseBridges 1\nSocksPort 9050\n"})


def test_parse_bootstrap_phase() -> None:
    done = parse_bootstrap_phase('NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"')
    assert (done.progress, done.tag, done.summary, done.warning) == (100, "done", "Done", None)
    warn = parse_bootstrap_phase('WARN BOOTSTRAP PROGRESS=10 TAG=conn_done SUMMARY="Connected '
                                 'to a relay" WARNING="Connection refused" REASON=CONNECTREFUSED')
    assert warn.progress == 10 and warn.warning == "Connection refused"
    assert warn.summary == "Connected to a relay"


# -- failures on dead or wrong ports ---------------------------------------------


def test_check_ready_dead_ports_fail_fast_and_clearly(tmp_path: Path) -> None:
    socks, control = dead_port(), dead_port()
    started = time.monotonic()
    with pytest.raises(TorUnavailable) as excinfo:
        check_ready(external(tmp_path, socks, control), timeout_s=30)
    assert time.monotonic() - started < 2
    exc = excinfo.value
    assert exc.reason == "unreachable" and exc.address == f"127.0.0.1:{socks}"
    message = str(exc)
    assert "\n" not in message
    assert f"SOCKS port 127.0.0.1:{socks}" in message and "refused" in message
    assert "VAHTI_TOR_SOCKS" in message  # what to do

    with pytest.raises(TorUnavailable, match=f"control port 127.0.0.1:{control}") as excinfo:
        check_ready(external(tmp_path, None, control), timeout_s=30)
    assert excinfo.value.reason == "unreachable"


def test_socks_only_tor_is_checked_by_greeting(tmp_path: Path, fake_server) -> None:
    socks = fake_server(b"\x05\x00")
    state = check_ready(external(tmp_path, socks.port, None))
    assert socks.received == [b"\x05\x01\x00"]  # a greeting, no request
    assert state.socks_port == socks.port and state.proxy_url == f"socks5h://127.0.0.1:{socks.port}"
    assert state.bootstrapped is None and state.progress is None
    assert any("bootstrap and circuits unknown" in note for note in state.notes)


@pytest.mark.parametrize("reply, message", [
    (b"HTTP/1.0 400 Bad Request\r\n\r\n", "not a SOCKS5 proxy"),
    (b"\x05\xff", "refuses SOCKS5 without authentication"),
    (b"", "not a SOCKS5 proxy"),
])
def test_wrong_socks_port(tmp_path: Path, fake_server, reply: bytes, message: str) -> None:
    server = fake_server(reply)
    with pytest.raises(TorUnavailable, match=message) as excinfo:
        check_ready(external(tmp_path, server.port, None))
    assert excinfo.value.reason == "socks"


def test_silent_socks_port_times_out(fake_server) -> None:
    server = fake_server(None)
    started = time.monotonic()
    with pytest.raises(TorUnavailable, match="no answer within 0.3 s"):
        socks5_greeting("127.0.0.1", server.port, timeout_s=0.3)
    assert time.monotonic() - started < 2


def test_control_port_that_is_not_tor(tmp_path: Path, fake_server) -> None:
    socks = fake_server(b"\x05\x00")
    control = fake_server(b"HTTP/1.0 400 Bad Request\r\n\r\n")
    with pytest.raises(TorUnavailable, match="is not a tor control port") as excinfo:
        check_ready(external(tmp_path, socks.port, control.port))
    assert excinfo.value.reason == "not-tor"
    assert control.received == [b"PROTOCOLINFO 1\r\n"]


def test_tor_status_never_raises(tmp_path: Path) -> None:
    socks, control = dead_port(), dead_port()
    info = tor_status(external(tmp_path, socks, control))
    assert info["mode"] == "external" and info["ready"] is False
    assert info["reachable"] is False and info["state"] == "unreachable"
    assert "refused" in info["error"]
    json.dumps(info)  # JSON-ready


def test_tor_status_launch_mode_does_not_start_tor(tmp_path: Path) -> None:
    info = tor_status(build_tor_settings(tmp_path, {"binary": sys.executable}))
    assert info["running"] is False and "error" not in info
    assert info["state"] == "launch mode: tor is started by crawls/daemon; not running now"
    assert not (tmp_path / "tor").exists()  # nothing created, nothing started
    missing = tor_status(build_tor_settings(tmp_path, {"binary": "/nonexistent/tor"}))
    assert "not found" in missing["error"]


def test_check_ready_launch_mode_without_a_running_tor(tmp_path: Path) -> None:
    with pytest.raises(TorUnavailable, match="not running") as excinfo:
        check_ready(build_tor_settings(tmp_path, {}))
    assert excinfo.value.reason == "not-running"


# -- NEWNYM bookkeeping ----------------------------------------------------------


def test_newnym_rate_limit_answers_without_connecting(tmp_path: Path) -> None:
    control = dead_port()
    settings = external(tmp_path, None, control)
    with pytest.raises(TorUnavailable, match="unreachable"):
        request_newnym(settings)  # nothing there: a clear error, not a hang
    torctl._last_newnym[("127.0.0.1", control)] = time.monotonic() - 4
    try:
        started = time.monotonic()
        result = request_newnym(settings)  # rate-limited: no connection is even tried
        assert time.monotonic() - started < 0.5
        assert result.sent is False and 5 < result.wait_s <= 6
    finally:
        torctl._last_newnym.pop(("127.0.0.1", control), None)
    with pytest.raises(TorUnavailable, match="control port"):
        request_newnym(external(tmp_path, 9050, None))


# -- launch mode with a stand-in binary (a shell script, not tor) ------------------


def fake_tor(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake-tor"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return str(script)


def live_pids_with(text: str) -> list[int]:
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


def test_launch_failure_names_the_log(tmp_path: Path) -> None:
    binary = fake_tor(tmp_path, 'echo "Jan 01 00:00:00.000 [warn] Failed to parse/validate '
                                'config: Unknown option \'Bogus\'."\nexit 1\n')
    settings = build_tor_settings(tmp_path / "home", {"binary": binary})
    with pytest.raises(TorUnavailable) as excinfo:
        LaunchedTor(settings).acquire()
    exc = excinfo.value
    assert exc.reason == "launch-failed"
    assert "exited with code 1" in str(exc) and "Unknown option 'Bogus'" in str(exc)
    assert str(settings.log_path) in str(exc)
    tor_dir = tmp_path / "home" / "tor"
    assert not (tor_dir / "tor.json").exists()
    assert (tor_dir / "torrc").stat().st_mode & 0o777 == 0o600
    assert (tor_dir / "data").stat().st_mode & 0o777 == 0o700
    assert "ControlPort 127.0.0.1:auto" in (tor_dir / "torrc").read_text()


def test_launch_timeout_stops_the_process(tmp_path: Path) -> None:
    binary = fake_tor(tmp_path, "exec sleep 60\n")  # never opens a control port
    settings = build_tor_settings(tmp_path / "home", {"binary": binary,
                                                       "bootstrap_timeout_s": 1})
    started = time.monotonic()
    with pytest.raises(TorUnavailable, match=r"did not bootstrap within 1 s.*tor\.log") as ei:
        LaunchedTor(settings).acquire()
    assert ei.value.reason == "bootstrapping"
    assert time.monotonic() - started < 10
    assert live_pids_with(str(tmp_path / "home" / "tor" / "torrc")) == []


def test_stale_state_is_ignored(tmp_path: Path) -> None:
    settings = build_tor_settings(tmp_path, {})
    tor_dir = tmp_path / "tor"
    tor_dir.mkdir()
    # a pid that exists but is not our tor (this test process): never adopted or signalled
    (tor_dir / "tor.json").write_text(json.dumps({
        "pid": os.getpid(), "socks_host": "127.0.0.1", "socks_port": 9, "control_host":
        "127.0.0.1", "control_port": 9, "torrc_sha256": "x"}))
    assert LaunchedTor(settings).running_state() is None
    assert tor_status(settings)["running"] is False


# -- the CLI ---------------------------------------------------------------------


def test_cli_tor_status(tmp_path: Path) -> None:
    runner = VahtiRunner(tmp_path / "home", base_env(tmp_path / "home"))
    idle = runner.run("tor", "status", "--json")
    assert idle.returncode == 0, idle.stderr
    assert json.loads(idle.stdout)["running"] is False
    assert "not running now" in runner.run("tor", "status").stdout

    dead = runner.run("tor", "status", "--json",
                      extra_env={"VAHTI_TOR_SOCKS": f"127.0.0.1:{dead_port()}"})
    assert dead.returncode == 2
    info = json.loads(dead.stdout)
    assert info["mode"] == "external" and "refused" in info["error"]

    bad = runner.run("tor", "status", extra_env={"VAHTI_TOR_CONTROL": "127.0.0.1:x"})
    assert bad.returncode == 2 and "is not a number" in " ".join(bad.stdout.split())
    assert "Traceback" not in bad.stdout + bad.stderr
