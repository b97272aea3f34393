"""Shared fixtures.

Integration tests run against a real MongoDB-protocol server: the embedded
SecantusDB started here on a unix socket in a throwaway path, or a
real MongoDB given by VAHTI_TEST_MONGO_URI. Each test gets a database of its
own on that server, so tests never see each other's data. Nothing is mocked,
and nothing is skipped: a missing server fails the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from vahti.storage.connection import Storage, StorageSettings, open_storage
from vahti.storage.embedded import EmbeddedServer

REPO = Path(__file__).resolve().parent.parent

# `webhook` and `smtp_server`: loopback receivers for the alert channels
pytest_plugins = ["tests.support.receivers"]

TOR_TESTS = REPO / "tests" / "tor"
TOR_FIXTURES = {"tor_network", "onion_for"}  # tests/tor/conftest.py: a private Tor network


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/tor/ (run in the loopback-only network namespace of
    tests/tor/run_in_netns.sh) and every test using a Tor network fixture is marked
    `tor`, so `pytest -m "not tor"` runs where there is no tor and no namespace."""
    for item in items:
        if item.path.is_relative_to(TOR_TESTS) or TOR_FIXTURES & set(
                getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.tor)


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("VAHTI_TEST_MONGO_URI")
    if given:
        yield given
        return
    server = EmbeddedServer(tmp_path_factory.mktemp("test-mongo"))
    try:
        yield server.client_uri()  # handed to vahti as an external database
    finally:
        server.release()


@dataclass
class VahtiRunner:
    """Runs the real `vahti` command in a subprocess with a home of its own."""

    home: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, input: str | bytes | None = None, timeout: float = 120,
            extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **(extra_env or {})}
        return subprocess.run(
            [sys.executable, "-m", "vahti", *args],
            input=input, capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO,
        )

    def popen(self, *args: str, **kw) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "vahti", *args], env=self.env,
                                text=True, cwd=REPO, **kw)

    @contextmanager
    def storage(self) -> Iterator[Storage]:
        """The database this runner's commands use (external URI), opened here to
        plant or read records."""
        db = open_storage(StorageSettings(home=self.home, uri=self.env["VAHTI_MONGO_URI"],
                                          database=self.env["VAHTI_MONGO_DB"]))
        try:
            yield db
        finally:
            db.close()

    def stored(self, collection: str, query: dict | None = None) -> list[dict]:
        with self.storage() as db:
            return list(db.db[collection].find(query or {}, {"_id": 0}))


def base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAHTI_")}
    env["VAHTI_HOME"] = str(home)
    env["PYTHONPATH"] = str(REPO)
    # the embedded server stops with the last command, as the tests expect, and no
    # test leaves one running (tests of the grace period set their own)
    env["VAHTI_STORAGE_EMBEDDED_LINGER_S"] = "0"
    return env


@pytest.fixture
def vahti(tmp_path: Path, mongo_uri: str) -> VahtiRunner:
    """vahti on the shared test server, in a fresh home and a database of its own."""
    home = tmp_path / "home"
    env = base_env(home)
    env["VAHTI_MONGO_URI"] = mongo_uri
    env["VAHTI_MONGO_DB"] = "t_" + uuid.uuid4().hex[:12]
    return VahtiRunner(home, env)


@pytest.fixture
def vahti_embedded(tmp_path: Path) -> Iterator[VahtiRunner]:
    """vahti on its embedded default: no URI, the server under the home."""
    home = tmp_path / "home"
    runner = VahtiRunner(home, base_env(home))
    yield runner
    # a test that failed half-way may leave the home's server running: stop it
    server = EmbeddedServer(home / "db")
    if (home / "db" / "server.json").exists():
        server.acquire()
        server.release()


@pytest.fixture
def storage(tmp_path: Path, mongo_uri: str):
    """An open Storage on the test server, in a database of its own."""
    from vahti.storage.connection import StorageSettings, open_storage

    db = open_storage(StorageSettings(home=tmp_path, uri=mongo_uri,
                                      database="t_" + uuid.uuid4().hex[:12]))
    try:
        yield db
    finally:
        db.client.drop_database(db.db.name)
        db.close()
