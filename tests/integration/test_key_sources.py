"""Key sources end to end: real `vahti` processes taking the key from a systemd
credential, an inherited descriptor (pass_fds), a command, and the key file; and a
real daemon whose crawls get a descriptor's key through a pipe of their own."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.test_daemon import FAST, add_source, daemon, ended, stop, wait_for
from tests.privacy import assert_no_plaintext, everything_written
from tests.tor.crawling import Cast
from vahti.demo.sites.content import Planted, plant_paste_texts
from vahti.demo.sites.paste import PasteSite
from vahti.demo.synthetic import register_csv
from vahti.matchers.keys import key_id
from vahti.storage import schema

pytestmark = pytest.mark.integration


def credentials(tmp_path: Path, secret: bytes) -> Path:
    """A credentials directory as systemd makes it: vahti-key, mode 0400."""
    folder = tmp_path / "credentials"
    folder.mkdir(mode=0o700)
    (folder / "vahti-key").write_text(secret.hex() + "\n")
    os.chmod(folder / "vahti-key", 0o400)
    return folder


def run_with_fd(vahti, secret: bytes, *args: str, **extra_env: str
                ) -> subprocess.CompletedProcess[str]:
    """`vahti ARGS` with the key on an inherited pipe, VAHTI_KEY_FD=N."""
    read_end, write_end = os.pipe()
    os.write(write_end, secret.hex().encode() + b"\n")
    os.close(write_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "vahti", *args], capture_output=True, text=True,
            env={**vahti.env, **extra_env, "VAHTI_KEY_FD": str(read_end)},
            pass_fds=(read_end,), cwd=REPO, timeout=120)
    finally:
        os.close(read_end)


def key_command(tmp_path: Path, secret: bytes, exit_code: int = 0) -> Path:
    """A stand-in for a secrets manager's CLI: prints the key."""
    program = tmp_path / f"get-vahti-key-{exit_code}"
    program.write_text(f"#!/bin/sh\necho {secret.hex()}\nexit {exit_code}\n")
    os.chmod(program, 0o700)
    return program


def status(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_each_source_gives_the_key_and_status_says_which(vahti, tmp_path):
    secret = secrets.token_bytes(32)
    kid = key_id(secret)
    creds = credentials(tmp_path, secret)

    init = vahti.run("init", extra_env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert init.returncode == 0, init.stderr
    assert not (vahti.home / "key").exists()  # the credential is the key: no file made
    assert f"key from systemd credential {creds / 'vahti-key'}: id {kid}" in init.stdout
    shown = status(vahti.run("status", "--json",
                             extra_env={"CREDENTIALS_DIRECTORY": str(creds)}))
    assert shown["key"] == {"id": kid, "source": "credential", "path": str(creds / "vahti-key"),
                            "from": f"systemd credential {creds / 'vahti-key'}"}
    assert shown["storage"]["key_id"] == kid

    shown = status(run_with_fd(vahti, secret, "status", "--json"))
    assert shown["key"]["id"] == kid and shown["key"]["source"] == "fd"

    program = key_command(tmp_path, secret)
    shown = status(vahti.run("status", "--json",
                             extra_env={"VAHTI_KEY_COMMAND": str(program)}))
    assert shown["key"] == {"id": kid, "source": "command", "from": f"key command {program}"}
    (vahti.home / "config.toml").write_text(f'[key]\ncommand = ["{program}"]\n')
    plain = vahti.run("status", extra_env={"COLUMNS": "400"})
    assert plain.returncode == 0, plain.stderr
    assert f"from key command {program}" in " ".join(plain.stdout.split())
    (vahti.home / "config.toml").unlink()

    # no source at all: the key file's error, as before
    missing = vahti.run("status", "--json")
    assert missing.returncode == 2
    assert json.loads(missing.stdout)["key"]["source"] == "file"

    for result in (init, plain):
        assert secret.hex() not in result.stdout + result.stderr


def test_enrol_with_a_descriptor_then_scan_with_a_command(vahti, tmp_path):
    secret = secrets.token_bytes(32)
    cast = Cast.make(seed=1301, enrolled=6, decoys=2)
    assert run_with_fd(vahti, secret, "init").returncode == 0
    assert not (vahti.home / "key").exists()
    register = tmp_path / "register.csv"
    register.write_text(register_csv(cast.enrolled))
    enrolled = run_with_fd(vahti, secret, "enroll", str(register))
    assert enrolled.returncode == 0, enrolled.stderr
    register.unlink()

    leak = tmp_path / "leak.txt"
    person = cast.enrolled[2]
    leak.write_text(f"dump\n{person.full_name};{person.hetu};{person.email}\n")
    found = vahti.run("scan", str(leak), "--json",
                      extra_env={"VAHTI_KEY_COMMAND": str(key_command(tmp_path, secret))})
    assert found.returncode == 1, found.stderr
    refs = {json.loads(line)["ref"] for line in found.stdout.splitlines()}
    assert refs == {person.ref}
    leak.unlink()
    written = everything_written(vahti, tmp_path / "dump",
                                 [("outputs", enrolled.stdout + enrolled.stderr + found.stdout)])
    assert_no_plaintext(written, cast.plaintext())
    assert not any(secret.hex().encode() in w.data for w in written)


def test_source_errors_are_one_line_without_the_output(vahti, tmp_path):
    secret = secrets.token_bytes(32)
    assert run_with_fd(vahti, secret, "init").returncode == 0
    failing = key_command(tmp_path, secret, exit_code=4)
    result = vahti.run("search", "--ref", "P-1",
                       extra_env={"VAHTI_KEY_COMMAND": str(failing)})
    assert result.returncode == 2
    assert result.stderr == f"vahti: error: key command {failing} failed with exit code 4\n"
    assert secret.hex() not in result.stdout + result.stderr

    closed = vahti.run("search", "--ref", "P-1", extra_env={"VAHTI_KEY_FD": "9"})
    assert closed.returncode == 2
    assert closed.stderr == "vahti: error: VAHTI_KEY_FD=9: cannot read the key " \
                            "(Bad file descriptor)\n"

    creds = credentials(tmp_path, secret)
    os.chmod(creds / "vahti-key", 0o444)
    readable = vahti.run("search", "--ref", "P-1",
                         extra_env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert readable.returncode == 2
    assert "must not be accessible by group or others" in readable.stderr
    assert readable.stderr.count("\n") == 1

    other = secrets.token_bytes(32)
    wrong = run_with_fd(vahti, other, "search", "--ref", "P-1")
    assert wrong.returncode == 2 and key_id(other) in wrong.stderr  # refused: not its key


def test_daemon_hands_a_descriptor_key_to_its_crawls(vahti, tmp_path):
    """The daemon read the key from its descriptor once; each crawl (a child process,
    which does not inherit that descriptor) gets it on a pipe of its own."""
    secret = secrets.token_bytes(32)
    cast = Cast.make(seed=1302, enrolled=8, decoys=3)
    vahti.env.update(FAST)
    assert run_with_fd(vahti, secret, "init").returncode == 0
    assert not (vahti.home / "key").exists()  # no key on disk for the crawls to find
    register = tmp_path / "register.csv"
    register.write_text(register_csv(cast.enrolled))
    assert run_with_fd(vahti, secret, "enroll", str(register)).returncode == 0
    register.unlink()
    planted = plant_paste_texts(cast.enrolled, cast.decoys, cast.rng, texts=3)
    read_end, write_end = os.pipe()
    os.write(write_end, secret.hex().encode())
    os.close(write_end)
    with PasteSite(seed=1302) as site, vahti.storage() as st:
        for item in planted:
            site.add_paste(item.text)
        add_source(vahti, "pastes", site.url("/"), "every 1h")
        with daemon(vahti, tmp_path / "daemon.log", {"VAHTI_KEY_FD": str(read_end)},
                    pass_fds=(read_end,)) as proc:
            os.close(read_end)
            assert vahti.run("jobs", "run", "pastes").returncode == 0
            run = wait_for("the crawl", lambda: ended(st, "pastes"), 40)[0]
            assert run["state"] == "done", (run, (tmp_path / "daemon.log").read_text())
            refs = {s["ref"] for s in st.db[schema.SIGHTINGS].find({"source": "pastes"})}
            assert refs == Planted.union(planted).refs
            assert stop(proc) == 0
