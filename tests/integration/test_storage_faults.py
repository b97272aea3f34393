"""Faults around the database and the home: each is one clear line and exit 2, never
a traceback. The database lost mid-command (embedded server killed, external server
gone), a full disk, a read-only home, a missing home (never created by `status`,
never created other than 0700)."""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymongo import MongoClient

from tests.conftest import REPO, VahtiRunner, base_env
from vahti.demo.synthetic import make_person, register_csv
from vahti.storage.embedded import EmbeddedServer

pytestmark = pytest.mark.integration


def write_register(path: Path, people: int) -> Path:
    rng = random.Random(12)
    path.write_text(register_csv([make_person(rng, i) for i in range(people)]))
    return path


def assert_one_clear_line(result_stderr: str, *words: str) -> None:
    lines = [line for line in result_stderr.splitlines() if line.strip()]
    assert "Traceback" not in result_stderr, result_stderr
    assert "Logging error" not in result_stderr, result_stderr
    errors = [line for line in lines if line.startswith("vahti: error:")]
    assert len(errors) == 1, result_stderr
    for word in words:
        assert word.lower() in errors[0].lower(), (word, errors[0])


def wait_for(predicate, timeout: float) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


# -- database loss -------------------------------------------------------------------


def enroll_and_kill_server(vahti, register: Path, server: EmbeddedServer,  # noqa: ANN001
                           database: str) -> subprocess.CompletedProcess:
    """Kill `server` (SIGKILL) once `vahti enroll` has written part of the watchlist."""
    client: MongoClient = MongoClient(server.client_uri())
    proc = vahti.popen("enroll", str(register), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: client[database]["watchlist"].estimated_document_count() > 0,
                        timeout=120)
    finally:
        client.close()
    assert proc.poll() is None, "enroll finished before the database was killed"
    os.kill(server.state.pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.slow  # over 15 s (pytest --durations)
def test_embedded_server_killed_mid_command(vahti_embedded, tmp_path):
    vahti = vahti_embedded
    assert vahti.run("init").returncode == 0
    register = write_register(tmp_path / "register.csv", 20_000)
    server = EmbeddedServer(vahti.home / "db")  # the home's own server, used by enroll too
    try:
        result = enroll_and_kill_server(vahti, register, server, "vahti")
    finally:
        server.release()
    assert result.returncode == 2, result.stderr
    assert_one_clear_line(result.stderr, "database")
    # the next command starts a new server and sees what was committed
    status = vahti.run("status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["storage"]["counts"]["watchlist"] > 0


@pytest.mark.slow  # over 15 s (pytest --durations)
def test_external_database_gone_mid_command(vahti, tmp_path):
    server = EmbeddedServer(tmp_path / "external-db")
    try:
        vahti.env["VAHTI_MONGO_URI"] = server.client_uri()
        assert vahti.run("init").returncode == 0
        register = write_register(tmp_path / "register.csv", 20_000)
        result = enroll_and_kill_server(vahti, register, server, vahti.env["VAHTI_MONGO_DB"])
    finally:
        server.release()
    assert result.returncode == 2, result.stderr
    assert_one_clear_line(result.stderr, "database")


# -- full disk and read-only home: in a mount namespace of their own ---------------------


# `unshare -m` needs root: as root anywhere, otherwise inside tests/tor/run_in_netns.sh
# (a user namespace's mapped root), like the tor tests, hence their marker
NAMESPACE = pytest.mark.tor


def in_mount_namespace(script: str, env: dict[str, str], timeout: float = 240
                       ) -> subprocess.CompletedProcess[str]:
    """Run a shell script in a private mount namespace: its mounts vanish with it."""
    env = {**env, "PY": sys.executable}
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                          env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)


def outcomes(out_dir: Path, *names: str) -> dict[str, tuple[int, str, str]]:
    found = {}
    for name in names:
        rc = int((out_dir / f"{name}.rc").read_text())
        found[name] = (rc, (out_dir / f"{name}.out").read_text(),
                       (out_dir / f"{name}.err").read_text())
    return found


def run_line(name: str, args: str, prefix: str = "") -> str:
    """A script line running `vahti ARGS`, its outcome kept under $OUT/NAME.*"""
    return (f'{prefix}"$PY" -m vahti {args} > "$OUT/{name}.out" 2> "$OUT/{name}.err"; '
            f'echo $? > "$OUT/{name}.rc"\n')


# fills the disk up (again: a server that stops frees its journal), or all but 40 MB
LEAVE_40MB = ('head -c $(( $(df --output=avail -k "$VAHTI_HOME" | tail -1) - 40960 ))k '
              '/dev/zero > "$VAHTI_HOME/fill.40mb"\n')
FILL = 'head -c 64m /dev/zero > "$(mktemp -p "$VAHTI_HOME" fill.XXXXXX)" 2>/dev/null\n'


@pytest.mark.slow  # over 15 s (pytest --durations)
@NAMESPACE
def test_full_disk(vahti_embedded, tmp_path):
    """A home on a 96 MB tmpfs, filled up after init: enroll with the server running and
    40 MB left (the server stops itself with 32 MB left, before WiredTiger's journal
    breaks), enroll that has to start the server on the full disk (it does not), status,
    and init of a second home (config and key writes fail); then space is freed and the
    database starts again with what it had acknowledged."""
    vahti = vahti_embedded
    out = tmp_path / "out"
    out.mkdir()
    vahti.home.mkdir(mode=0o700)
    register = write_register(tmp_path / "register.csv", 20_000)
    linger = "VAHTI_STORAGE_EMBEDDED_LINGER_S=60 "
    script = (
        'mount -t tmpfs -o size=96m,mode=0700 tmpfs "$VAHTI_HOME" || exit 99\n'
        + run_line("init", "init")
        + run_line("start", "status", linger)  # the server keeps running after it
        + LEAVE_40MB + run_line("enroll_running", f"enroll {register}", linger)
        + run_line("stop", "status")  # its last user, lingering 0 s: stops the server
        + FILL + run_line("enroll_start", f"enroll {register}")
        + FILL + run_line("status", "status")
        + FILL + run_line("init2", '--home "$VAHTI_HOME/second" init')
        + 'rm -f "$VAHTI_HOME"/fill.*\n' + run_line("freed", "status --json")
    )
    ran = in_mount_namespace(script, {**vahti.env, "OUT": str(out)})
    assert ran.returncode == 0, ran.stderr
    got = outcomes(out, "init", "start", "enroll_running", "stop", "enroll_start", "status",
                   "init2", "freed")
    for name in ("init", "start"):
        assert got[name][0] == 0, got[name]
    for name in ("enroll_running", "enroll_start", "init2"):
        rc, _, err = got[name]
        assert rc == 2, (name, got[name])
        assert_one_clear_line(err, "No space left on device")
    assert "the database cannot write" in got["enroll_running"][2]
    for name in ("stop", "status"):
        rc, stdout, err = got[name]
        assert "Traceback" not in stdout + err and "Logging error" not in err, got[name]
    assert "No space left on device" in " ".join(got["status"][1].split())
    # space freed: the database starts again, with what it had acknowledged
    rc, stdout, err = got["freed"]
    assert rc == 0, got["freed"]
    print("watchlist entries kept:", json.loads(stdout)["storage"]["counts"]["watchlist"])


EMBEDDED = "env -u VAHTI_MONGO_URI -u VAHTI_MONGO_DB "  # no URI: the embedded default


@NAMESPACE
def test_read_only_home(vahti, tmp_path):
    """`status` on a read-only home: logging falls back to stderr with one warning; an
    external database still answers (exit 0); the embedded one cannot start, which the
    storage line says, and the rest is still printed."""
    out = tmp_path / "out"
    out.mkdir()
    embedded = VahtiRunner(tmp_path / "embedded-home", base_env(tmp_path / "embedded-home"))
    for runner in (vahti, embedded):
        assert runner.run("init").returncode == 0
    script = (
        'mount --bind -o ro "$EXT_HOME" "$EXT_HOME" || exit 99\n'
        'mount --bind -o ro "$EMB_HOME" "$EMB_HOME" || exit 99\n'
        + run_line("external", '--home "$EXT_HOME" status')
        + run_line("embedded", '--home "$EMB_HOME" status', EMBEDDED)
        + run_line("embedded_json", '--home "$EMB_HOME" status --json', EMBEDDED)
    )
    env = {**vahti.env, "EXT_HOME": str(vahti.home), "EMB_HOME": str(embedded.home),
           "OUT": str(out)}
    ran = in_mount_namespace(script, env)
    assert ran.returncode == 0, ran.stderr
    got = outcomes(out, "external", "embedded", "embedded_json")
    rc, stdout, err = got["external"]
    assert rc == 0, got["external"]
    assert "Traceback" not in err and "Logging error" not in err, err
    assert "read-only" in err.lower() and len(err.strip().splitlines()) == 1, err
    assert "server" in stdout
    rc, stdout, err = got["embedded"]
    assert rc == 2, got["embedded"]
    assert "Traceback" not in err + stdout and "Logging error" not in err, err
    flat = " ".join(stdout.split())
    assert "read-only" in flat.lower() and "key id" in flat and "tor" in flat, stdout
    status = json.loads(got["embedded_json"][1])
    assert "read-only" in status["storage"]["error"].lower()
    assert "id" in status["key"]


# -- missing home ----------------------------------------------------------------------


@pytest.mark.parametrize("storage", ["embedded", "external"])
def test_status_on_a_missing_home_does_not_create_it(vahti, vahti_embedded, storage):
    runner = vahti_embedded if storage == "embedded" else vahti
    result = runner.run("status")
    assert result.returncode == 2
    assert "missing: vahti init" in " ".join(result.stdout.split())
    assert "Traceback" not in result.stdout + result.stderr
    assert not runner.home.exists(), "status created the home"


def test_home_and_everything_in_it_are_private_whatever_the_umask(vahti_embedded, tmp_path):
    vahti = vahti_embedded
    home = vahti.home.parent / "deep" / "er" / "home"  # parents too are created by vahti
    vahti.env["VAHTI_HOME"] = str(home)
    vahti.home = home
    register = write_register(tmp_path / "register.csv", 20)
    for args in (("init",), ("enroll", str(register)), ("status",)):
        result = subprocess.run(
            [sys.executable, "-m", "vahti", *args], env=vahti.env, cwd=REPO,
            capture_output=True, text=True, timeout=120, preexec_fn=lambda: os.umask(0))
        assert result.returncode == 0, (args, result.stderr)
    wide = []
    for path in [vahti.home.parent.parent, vahti.home.parent, vahti.home,
                 *vahti.home.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_dir() and mode != 0o700:
            wide.append(f"{path}: {mode:04o}")
        elif path.is_file() and mode & 0o077:
            wide.append(f"{path}: {mode:04o}")
    assert wide == []
