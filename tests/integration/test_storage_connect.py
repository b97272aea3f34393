"""Connecting: unreachable URIs fail fast and clearly; credentials are never shown."""

from __future__ import annotations

import socket
import threading
import time

import pytest

pytestmark = pytest.mark.integration


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SilentServer:
    """Accepts connections on loopback and never answers: a hung database."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        deadline = time.monotonic() + 60  # bounded: stops by itself
        while not self.stop and time.monotonic() < deadline:
            try:
                self.conns.append(self.sock.accept()[0])
            except TimeoutError:
                continue

    def close(self) -> None:
        self.stop = True
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.mark.parametrize("kind", ["refused", "silent"])
def test_unreachable_uri_fails_within_5s_without_credentials(vahti, kind):
    silent = SilentServer() if kind == "silent" else None
    port = silent.port if silent else closed_port()
    uri = f"mongodb://watcher:pa55word@127.0.0.1:{port}/?authSource=admin"
    # the same CLI start-up without a database, timed alongside: a loaded CI
    # machine can take seconds just to import, which is not what is tested here
    started = time.monotonic()
    vahti.run("config", "show", extra_env={"VAHTI_MONGO_URI": uri})
    startup = time.monotonic() - started
    try:
        started = time.monotonic()
        result = vahti.run("status", extra_env={"VAHTI_MONGO_URI": uri})
        elapsed = time.monotonic() - started
    finally:
        if silent:
            silent.close()
    assert result.returncode == 2
    assert elapsed - startup < 5.0 + 1.0, (elapsed, startup)  # 5 s budget
    out = result.stdout + result.stderr
    assert f"127.0.0.1:{port}" in out and "cannot reach" in out
    assert "pa55word" not in out and "watcher" not in out


def test_invalid_uri_is_a_clear_error(vahti):
    result = vahti.run("status", extra_env={"VAHTI_MONGO_URI": "mongodb://u:secretpw@/"})
    assert result.returncode == 2
    assert "secretpw" not in result.stdout + result.stderr
