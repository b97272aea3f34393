"""`vahti scan --no-store` leaves the database to a second process (vahti.scan_start):
the same findings, the index of the watchlist as it is now, every warning and error
said once, and pymongo never imported by the process that scans."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO
from tests.integration.test_watchlist_consistency import found_refs, register
from vahti.storage import schema, watchlist

pytestmark = pytest.mark.integration

LOADED = "database check: the cached index it named is loaded"
OPENED_HERE = "the database is opened here"


def dump_of(tmp_path, hetus: list[str], name: str = "dump.txt"):
    path = tmp_path / name
    path.write_text("".join(f"asiakas {h} soitti\n" for h in hetus))
    return path


def no_store(vahti, path, *more: str) -> subprocess.CompletedProcess:
    return vahti.run("--debug", "scan", "--no-store", "--json", *more, str(path))


def enrolled(vahti, tmp_path, first: int, n: int, name: str = "register.csv") -> dict:
    text, hetus = register(first, n)
    (tmp_path / name).write_text(text)
    done = vahti.run("enroll", str(tmp_path / name))
    assert done.returncode == 0, done.stderr
    return hetus


def test_the_index_named_by_the_check_finds_what_the_database_has(vahti_embedded, tmp_path):
    vahti = vahti_embedded
    assert vahti.run("init").returncode == 0
    hetus = enrolled(vahti, tmp_path, 0, 40)
    dump = dump_of(tmp_path, [hetus["K000003"], hetus["K000031"]])

    shutil.rmtree(vahti.home / "cache" / "watchlist")  # (enroll built it)
    first = no_store(vahti, dump)  # builds the cache: the check named none
    assert first.returncode == 1, first.stderr
    assert OPENED_HERE in first.stderr and LOADED not in first.stderr
    second = no_store(vahti, dump)
    assert second.returncode == 1, second.stderr
    assert LOADED in second.stderr and OPENED_HERE not in second.stderr
    assert second.stdout == first.stdout
    assert found_refs(second) == {"K000003", "K000031"}

    # a new enrolment draws a new state (and caches its index): the new person is found
    more = enrolled(vahti, tmp_path, 40, 5, "more.csv")
    dump = dump_of(tmp_path, [more["K000042"], hetus["K000003"]], "dump2.txt")
    for _ in range(2):
        again = no_store(vahti, dump)
        assert again.returncode == 1, again.stderr
        assert found_refs(again) == {"K000042", "K000003"}
    assert LOADED in again.stderr

    # a storing scan opens the database itself, as before
    stored = vahti.run("--debug", "scan", "--json", str(dump))
    assert stored.returncode == 1 and found_refs(stored) == {"K000042", "K000003"}
    assert "database check" not in stored.stderr


def test_the_scanning_process_never_imports_pymongo(vahti_embedded, tmp_path):
    """The point of the check: the parent runs the command in process and reports what
    it imported (a fresh interpreter, one thread, as the `vahti` command is)."""
    vahti = vahti_embedded
    assert vahti.run("init").returncode == 0
    hetus = enrolled(vahti, tmp_path, 0, 10)
    dump = dump_of(tmp_path, [hetus["K000004"]])
    assert no_store(vahti, dump).returncode == 1  # the cache is built
    probe = textwrap.dedent(f"""
        import sys
        from vahti.cli import main
        code = main(["scan", "--no-store", "--json", {str(dump)!r}])
        print(json.dumps({{"code": code, "pymongo": "pymongo" in sys.modules}}), file=sys.stderr)
    """).replace("import sys", "import json, sys", 1)
    done = subprocess.run([sys.executable, "-c", probe], env=vahti.env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report == {"code": 1, "pymongo": False}, done.stderr
    assert found_refs(done) == {"K000004"}
    # without --no-store it is imported, as the scan stores
    storing = probe.replace('"--no-store", ', "")
    done = subprocess.run([sys.executable, "-c", storing], env=vahti.env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert json.loads(done.stderr.strip().splitlines()[-1]) == {"code": 1, "pymongo": True}


def test_an_interrupted_enrolment_is_said_once_and_read_from_the_database(vahti, tmp_path):
    assert vahti.run("init").returncode == 0
    hetus = enrolled(vahti, tmp_path, 0, 20)
    dump = dump_of(tmp_path, [hetus["K000011"]])
    assert no_store(vahti, dump).returncode == 1
    assert LOADED in no_store(vahti, dump).stderr  # a database given by URI too
    # an enrolment killed inside its write: its mark stays, its owner is gone
    kill = textwrap.dedent(f"""
        import os
        from vahti.storage import watchlist
        from vahti.storage.connection import StorageSettings, open_storage
        from pathlib import Path
        storage = open_storage(StorageSettings(home=Path({str(tmp_path)!r}),
                               uri={vahti.env["VAHTI_MONGO_URI"]!r},
                               database={vahti.env["VAHTI_MONGO_DB"]!r}))
        watchlist._WriteMark(storage, watchlist.ENROLL).begin()
        os._exit(0)
    """)
    subprocess.run([sys.executable, "-c", kill], cwd=REPO, check=True, timeout=60,
                   env={**vahti.env, "PYTHONPATH": str(REPO)})
    with vahti.storage() as db:
        assert watchlist.state(db).interrupted()
    scan = no_store(vahti, dump)
    assert scan.returncode == 1, scan.stderr
    assert found_refs(scan) == {"K000011"}
    assert scan.stderr.count("was interrupted before it finished") == 1
    assert OPENED_HERE in scan.stderr and LOADED not in scan.stderr


def test_a_user_error_of_the_check_is_said_once(vahti, tmp_path):
    assert vahti.run("init").returncode == 0
    hetus = enrolled(vahti, tmp_path, 0, 5)
    dump = dump_of(tmp_path, [hetus["K000001"]])
    assert no_store(vahti, dump).returncode == 1
    # another key against this database: refused (by the check), in one line
    other = tmp_path / "other-home"
    init = subprocess.run([sys.executable, "-m", "vahti", "init"], cwd=REPO, timeout=120,
                          env={**vahti.env, "VAHTI_HOME": str(other),
                               "VAHTI_MONGO_DB": vahti.env["VAHTI_MONGO_DB"] + "x"},
                          capture_output=True, text=True)
    assert init.returncode == 0, init.stderr
    wrong = vahti.run("scan", "--no-store", "--json", str(dump),
                      extra_env={"VAHTI_KEY_FILE": str(other / "key")})
    assert wrong.returncode == 2
    errors = [line for line in wrong.stderr.splitlines() if line.startswith("vahti: error:")]
    assert len(errors) == 1 and "key" in errors[0], wrong.stderr
    assert wrong.stdout == ""
    # nobody enrolled: the parent's own words, once
    with vahti.storage() as db:
        db.db[schema.WATCHLIST].delete_many({})
        watchlist.bump_version(db)
    empty = vahti.run("scan", "--no-store", "--json", str(dump))
    assert empty.returncode == 2
    assert empty.stderr.count("the watchlist is empty") == 1, empty.stderr


def test_an_unreachable_database_is_said_once(vahti, tmp_path):
    assert vahti.run("init").returncode == 0
    dump = dump_of(tmp_path, ["131052-308T"])
    gone = vahti.run("scan", "--no-store", "--json", str(dump), extra_env={
        "VAHTI_MONGO_URI": "mongodb://127.0.0.1:9/", "VAHTI_STORAGE_CONNECT_TIMEOUT_S": "1"})
    assert gone.returncode == 2
    errors = [line for line in gone.stderr.splitlines() if line.startswith("vahti: error:")]
    assert len(errors) == 1, gone.stderr
