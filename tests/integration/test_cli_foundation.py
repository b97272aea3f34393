"""The CLI frame against a real MongoDB-protocol server."""

from __future__ import annotations

import json
import os
import stat

import pytest

from vahti.matchers.keys import create_key_file, load_key_file
from vahti.storage import schema

pytestmark = pytest.mark.integration


def test_init_creates_home_config_key_and_binds_key(vahti):
    result = vahti.run("init")
    assert result.returncode == 0, result.stderr
    home = vahti.home
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "key").stat().st_mode) == 0o600
    assert "[storage]" in (home / "config.toml").read_text()
    key_id = load_key_file(home / "key").key_id
    assert f"created, id {key_id}" in result.stdout
    status = json.loads(vahti.run("status", "--json").stdout)
    assert status["key"]["id"] == key_id
    assert status["storage"]["key_id"] == key_id
    assert status["storage"]["mode"] == "external"
    assert set(status["storage"]["counts"]) == {
        "watchlist", "sources", "pages", "sightings", "alerts", "outbox", "leases",
        "job_commands", "runs", "candidates", "retired_people", "false_positives"}


def test_init_twice_keeps_the_key(vahti):
    assert vahti.run("init").returncode == 0
    first = (vahti.home / "key").read_bytes()
    (vahti.home / "config.toml").write_text("# edited by the operator\n")
    again = vahti.run("init")
    assert again.returncode == 0, again.stderr
    assert "not overwritten" in again.stdout
    assert (vahti.home / "key").read_bytes() == first
    assert (vahti.home / "config.toml").read_text() == "# edited by the operator\n"


def test_world_readable_key_is_refused(vahti):
    assert vahti.run("init").returncode == 0
    os.chmod(vahti.home / "key", 0o644)
    for args in (("init",), ("status",)):
        result = vahti.run(*args)
        assert result.returncode == 2
        out = " ".join((result.stdout + result.stderr).split())  # tables wrap lines
        assert "must not be accessible by group or others" in out
        assert "Traceback" not in out


def test_key_file_elsewhere_and_key_mismatch(vahti, tmp_path):
    assert vahti.run("init").returncode == 0
    original = load_key_file(vahti.home / "key").key_id
    other = tmp_path / "elsewhere" / "other.key"
    create_key_file(other)
    other_id = load_key_file(other).key_id
    result = vahti.run("init", extra_env={"VAHTI_KEY_FILE": str(other)})
    assert result.returncode == 2
    assert original in result.stderr and other_id in result.stderr
    assert "silently find nothing" in result.stderr
    status = vahti.run("status", "--json", extra_env={"VAHTI_KEY_FILE": str(other)})
    assert status.returncode == 2
    assert "differs" in json.loads(status.stdout)["storage"]["error"]


def test_config_show_names_origins_and_hides_secrets(vahti):
    vahti.run("init")
    (vahti.home / "config.toml").write_text('[matchers]\nphone_region = "SE"\n')
    uri = "mongodb://operator:hunter2pw@127.0.0.1:9/"
    result = vahti.run("config", "show", "--json", extra_env={"VAHTI_MONGO_URI": uri})
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["matchers.phone_region"] == {"value": "SE", "origin": "config.toml"}
    assert shown["storage.uri"]["origin"] == "env VAHTI_MONGO_URI"
    assert "hunter2pw" not in result.stdout and "operator" not in result.stdout
    assert shown["storage.database"]["origin"] == "env VAHTI_MONGO_DB"


def test_db_dump_writes_every_collection(vahti, tmp_path):
    vahti.run("init")
    out = tmp_path / "dump"
    result = vahti.run("db", "dump", "--out", str(out))
    assert result.returncode == 0, result.stderr
    names = {p.stem for p in out.glob("*.jsonl")}
    assert {"meta", "watchlist", "sources", "pages", "sightings", "alerts", "runs"} <= names
    meta = [json.loads(line) for line in (out / "meta.jsonl").read_text().splitlines()]
    assert meta[0]["schema_version"] == schema.SCHEMA_VERSION and "key_id" in meta[0]


def test_exit_codes_and_one_line_errors(vahti):
    assert vahti.run("--version").returncode == 0
    assert vahti.run("--help").returncode == 0
    bad = vahti.run("no-such-command")
    assert bad.returncode == 2
    # no key yet: status reports it and exits 2, without a traceback
    status = vahti.run("status")
    assert status.returncode == 2 and "Traceback" not in status.stderr + status.stdout
    dump = vahti.run("db", "dump")
    assert dump.returncode == 2 and "--out" in dump.stderr
