"""deploy/systemd/vahti.service: `systemd-analyze verify` finds nothing to say about it,
and `vahti daemon` runs in the environment the unit gives it: VAHTI_HOME from the unit,
the key as a systemd credential (a 0400 vahti-key in $CREDENTIALS_DIRECTORY, no key file
in the home), umask 0077, a HOME that does not exist. It comes up, crawls, reloads on
SIGHUP as documented and exits 0 on SIGTERM."""

from __future__ import annotations

import json
import os
import secrets
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.test_daemon import wait_for
from tests.support.processes import reaped
from tests.tor.crawling import Cast
from vahti.demo.sites.content import Planted, plant_paste_texts
from vahti.demo.sites.paste import PasteSite
from vahti.demo.synthetic import register_csv
from vahti.matchers.keys import key_id
from vahti.spiders.sources import Source, edit_sources
from vahti.storage import schema
from vahti.storage.embedded import EmbeddedServer

pytestmark = pytest.mark.integration

UNIT = REPO / "deploy" / "systemd" / "vahti.service"
INSTALLED = "/opt/vahti/bin/vahti"
VENV_VAHTI = Path(sys.executable).parent / "vahti"


def service_settings() -> dict[str, list[str]]:
    """The unit's [Service] settings: name -> values in order."""
    settings: dict[str, list[str]] = {}
    section = ""
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            settings.setdefault(name, []).append(value)
    return settings


def test_unit_verifies_without_a_word(tmp_path):
    assert VENV_VAHTI.exists(), "the venv's vahti entry point (pip install -e .)"
    rendered = tmp_path / "vahti.service"  # verify needs ExecStart's program to exist
    rendered.write_text(UNIT.read_text().replace(INSTALLED, str(VENV_VAHTI)))
    result = subprocess.run(["/usr/bin/systemd-analyze", "verify", str(rendered)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "" and result.stdout == "", result

    # and it would say something about a mistake (the test is not blind)
    broken = tmp_path / "broken" / "vahti.service"
    broken.parent.mkdir()
    broken.write_text(rendered.read_text().replace("ProtectHome=yes", "ProtectHom=yes"))
    said = subprocess.run(["/usr/bin/systemd-analyze", "verify", str(broken)],
                          capture_output=True, text=True, timeout=60)
    assert "Unknown key" in said.stderr


def test_unit_settings_vahti_relies_on():
    unit = service_settings()
    assert unit["ExecStart"] == [f"{INSTALLED} daemon"]
    assert unit["ExecStartPre"] == [f"{INSTALLED} init"]
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert unit["LoadCredential"] == ["vahti-key:/etc/vahti/key"]
    assert unit["Environment"] == ["VAHTI_HOME=/var/lib/vahti"]
    assert unit["StateDirectory"] == ["vahti"] and unit["ReadWritePaths"] == ["/var/lib/vahti"]
    assert unit["KillMode"] == ["mixed"]  # the daemon stops its crawls itself
    assert unit["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    assert unit["UMask"] == ["0077"] and unit["Restart"] == ["on-failure"]
    for name in ("NoNewPrivileges", "PrivateTmp", "ProtectHome"):
        assert unit[name] == ["yes"], name
    assert unit["ProtectSystem"] == ["strict"] and unit["CapabilityBoundingSet"] == [""]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[dict]:
    """A state directory, a credentials directory, and the unit's environment."""
    unit = service_settings()
    home_setting = unit["Environment"][0].split("=", 1)[1]
    home = tmp_path / "state" / Path(home_setting).name  # /var/lib/vahti, under tmp
    home.parent.mkdir()
    home.mkdir(mode=0o700)  # StateDirectoryMode=0700
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o500)
    secret = secrets.token_bytes(32)
    name = unit["LoadCredential"][0].split(":", 1)[0]
    os.chmod(credentials, 0o700)
    (credentials / name).write_text(secret.hex() + "\n")
    os.chmod(credentials / name, 0o400)  # as systemd makes it
    os.chmod(credentials, 0o500)
    nohome = tmp_path / "nonexistent"
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
           "PYTHONPATH": str(REPO), "VAHTI_HOME": str(home),
           "CREDENTIALS_DIRECTORY": str(credentials), "HOME": str(nohome),
           "USER": "vahti", "LOGNAME": "vahti", "SHELL": "/usr/sbin/nologin",
           # what test_daemon.py uses, so commands reach the daemon quickly
           "VAHTI_DAEMON_POLL_S": "0.5", "VAHTI_DAEMON_LEASE_S": "6",
           "VAHTI_DAEMON_STOP_GRACE_S": "10"}
    yield {"home": home, "env": env, "secret": secret, "nohome": nohome,
           "umask": int(unit["UMask"][0], 8)}
    if (home / "db" / "server.json").exists():  # a failed test's embedded server
        server = EmbeddedServer(home / "db")
        server.acquire()
        server.release()


def as_service(service: dict, *args: str, **kw) -> subprocess.Popen:
    umask = service["umask"]
    return subprocess.Popen([str(VENV_VAHTI), *args], env=service["env"], cwd="/",
                            preexec_fn=lambda: os.umask(umask), **kw)


def run_as_service(service: dict, *args: str, **kw) -> subprocess.CompletedProcess:
    proc = as_service(service, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                      text=True, **kw)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_daemon_in_the_units_environment(service, tmp_path):
    home, secret = service["home"], service["secret"]
    cast = Cast.make(seed=1331, enrolled=8, decoys=3)
    init = run_as_service(service, "init")  # ExecStartPre
    assert init.returncode == 0, init.stderr
    assert "key from systemd credential" in init.stdout
    assert not (home / "key").exists()
    register = tmp_path / "register.csv"
    register.write_text(register_csv(cast.enrolled))
    assert run_as_service(service, "enroll", str(register)).returncode == 0
    register.unlink()
    planted = plant_paste_texts(cast.enrolled, cast.decoys, cast.rng, texts=3)

    journal = tmp_path / "journal.log"
    with PasteSite(seed=1331) as site, journal.open("wb") as out:
        for item in planted:
            site.add_paste(item.text)
        with edit_sources(home / "sources.toml") as sources:
            sources["pastes"] = Source(name="pastes", kind="paste_listing",
                                       urls=(site.url("/"),), schedule="every 1h", direct=True)
        with reaped(as_service(service, "daemon", stdout=out, stderr=subprocess.STDOUT)) as proc:
            wait_for("the daemon", lambda: b"SIGHUP reloads" in journal.read_bytes(), 60)
            listing = json.loads(run_as_service(service, "jobs", "list", "--json").stdout)
            assert [d["pid"] for d in listing["daemons"]] == [proc.pid]
            status = json.loads(run_as_service(service, "status", "--json").stdout)
            assert status["key"]["source"] == "credential"
            assert status["key"]["id"] == key_id(secret) == status["storage"]["key_id"]

            # a crawl (a child process) finds the key the same way
            assert run_as_service(service, "jobs", "run", "pastes").returncode == 0
            runs = wait_for("the crawl", lambda: run_states(service, "pastes"), 60)
            assert runs == ["done"], journal.read_text()

            # SIGHUP: config.toml read again, the log file opened anew (moved away by a
            # log rotation), sources.toml synced; [storage] kept until a restart
            log = home / "logs" / "vahti.log"
            config = home / "config.toml"
            config.write_text("[log\n")  # a broken edit: refused, the daemon carries on
            proc.send_signal(signal.SIGHUP)
            wait_for("the refusal", lambda: "config not reloaded (SIGHUP)" in log.read_text()
                     and "not valid TOML" in log.read_text(), 20)
            log.rename(log.with_suffix(".log.1"))
            config.write_text('[log]\nlevel = "DEBUG"\n[daemon]\ndeliver_every_s = 7.0\n'
                              'poll_s = 0.3\n[storage]\ndatabase = "elsewhere"\n')
            with edit_sources(home / "sources.toml") as sources:
                sources["more"] = Source(name="more", kind="url", urls=(site.url("/"),),
                                         schedule="every 2h", direct=True)
            proc.send_signal(signal.SIGHUP)
            # poll_s stays 0.5: the environment (VAHTI_DAEMON_POLL_S) still wins over the file
            wait_for("the reload", lambda: log.exists() and "config reloaded (SIGHUP): log "
                     "level DEBUG, poll 0.5s, lease 6s, delivery every 7s" in log.read_text(), 20)
            # the commands here read the new config.toml: they are pointed at the old database
            service["env"]["VAHTI_MONGO_DB"] = "vahti"
            wait_for("the new job", lambda: "more" in job_names(service), 20)
            text = log.read_text()
            assert "storage.database changed: that takes a restart" in text
            # and the daemon's crawls keep the daemon's database too
            assert wait_for("the new source's crawl", lambda: run_states(service, "more"),
                            30) == ["done"], text
            assert proc.poll() is None

            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0
    assert f"daemon {listing['daemons'][0]['owner']} stopped" in log.read_text()

    found = run_as_service(service, "search", "--ref", cast.enrolled[0].ref, "--json")
    assert found.returncode in (0, 1), found.stderr
    assert {s["ref"] for s in sightings(service)} == Planted.union(planted).refs
    # nothing of it outside the home, nothing in it for group or others, no key on disk
    assert not service["nohome"].exists()
    for path in [home, *home.rglob("*")]:
        if path.is_symlink() or path.is_socket():
            continue
        assert stat.S_IMODE(path.lstat().st_mode) & 0o077 == 0, path
        assert path.name != "key"
    written = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    assert secret.hex().encode() not in written + journal.read_bytes()


def run_states(service: dict, source: str) -> list[str]:
    listing = json.loads(run_as_service(service, "jobs", "list", "--json").stdout)
    row = next(r for r in listing["jobs"] if r["source"] == source)
    last = row.get("last_run")
    return [last["state"]] if last and last.get("state") != "running" and not row["running"] \
        else []


def job_names(service: dict) -> set[str]:
    listing = json.loads(run_as_service(service, "jobs", "list", "--json").stdout)
    return {r["source"] for r in listing["jobs"] if r["scheduled"]}


def sightings(service: dict) -> list[dict]:
    dump = Path(service["home"]).parent / "dump"
    assert run_as_service(service, "db", "dump", "--out", str(dump)).returncode == 0
    lines = (dump / f"{schema.SIGHTINGS}.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]
