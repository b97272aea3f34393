"""Moving a database: `vahti db dump` from one embedded home, `vahti db load` into
another (the second embedded server stands in for "the MongoDB server"), then the same
documents, the same search answers, and nothing but keyed data on the way."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from bson import json_util

from tests.conftest import VahtiRunner, base_env
from tests.privacy import assert_no_plaintext, everything_written
from tests.tor.crawling import Cast
from vahti.demo.synthetic import register_csv
from vahti.matchers.keys import create_key_file
from vahti.storage import schema
from vahti.storage.dump import LOADING, dump_meta
from vahti.storage.embedded import EmbeddedServer
from vahti.storage.retention import PURGED_FIELD

pytestmark = pytest.mark.integration


@pytest.fixture
def homes(tmp_path: Path) -> Iterator[tuple[VahtiRunner, VahtiRunner]]:
    """Two homes on their embedded servers; the second uses the first one's key."""
    old = VahtiRunner(tmp_path / "old", base_env(tmp_path / "old"))
    new = VahtiRunner(tmp_path / "new", base_env(tmp_path / "new"))
    new.env["VAHTI_KEY_FILE"] = str(tmp_path / "key")
    yield old, new
    for runner in (old, new):
        if (runner.home / "db" / "server.json").exists():
            server = EmbeddedServer(runner.home / "db")
            server.acquire()
            server.release()


def ok(result) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def jsonl(folder: Path) -> dict[str, list[dict]]:
    out = {}
    for path in sorted(folder.glob("*.jsonl")):
        out[path.stem] = [json.loads(line) for line in path.read_text().splitlines()]
    for doc in out.get(schema.META, []):
        doc.pop(PURGED_FIELD, None)  # when each database last purged: its own
    return out


@pytest.mark.slow  # over 15 s (pytest --durations)
def test_dump_then_load_into_another_server(homes, tmp_path):
    old, new = homes
    cast = Cast.make(seed=1313, enrolled=12, decoys=4)
    ok(old.run("init"))
    shutil.copy(old.home / "key", tmp_path / "key")  # the operator carries the key over
    os.chmod(tmp_path / "key", 0o600)
    register = tmp_path / "register.csv"
    register.write_text(register_csv(cast.enrolled))
    ok(old.run("enroll", str(register)))
    register.unlink()
    seen = cast.enrolled[3]
    leak = tmp_path / "leak.txt"
    leak.write_text(f"forum post\n{seen.full_name} {seen.hetu} {seen.email}\n"
                    f"{cast.decoys[0].full_name} {cast.decoys[0].hetu}\n")
    assert old.run("scan", str(leak)).returncode == 1
    leak.unlink()
    identifiers = tmp_path / "ids.txt"
    identifiers.write_text(f"{seen.hetu}\n{seen.email}\n")
    before = old.run("search", "--file", str(identifiers), "--json")
    assert before.returncode == 1, before.stderr
    found = json.loads(before.stdout)
    found.pop("query_ms")

    dump = tmp_path / "dump"
    ok(old.run("db", "dump", "--out", str(dump)))
    assert dump_meta(dump)["key_id"]

    ok(new.run("init"))
    assert not (new.home / "key").exists()
    loaded = ok(new.run("db", "load", "--from", str(dump)))
    counts = {line.split(": ")[0]: int(line.split(": ")[1])
              for line in loaded.splitlines() if ": " in line and not line.startswith("loaded")}
    assert counts[schema.SIGHTINGS] >= 2 and counts[schema.WATCHLIST] == 12
    old_status = json.loads(ok(old.run("status", "--json")))
    new_status = json.loads(ok(new.run("status", "--json")))
    assert new_status["storage"]["counts"] == old_status["storage"]["counts"]
    assert new_status["storage"]["key_id"] == old_status["storage"]["key_id"]
    assert new_status["storage"]["schema_version"] == schema.SCHEMA_VERSION

    # the same documents: ids and types included (a dump of the new one is the same)
    again = tmp_path / "again"
    ok(new.run("db", "dump", "--out", str(again)))
    assert jsonl(again) == jsonl(dump)
    after = new.run("search", "--file", str(identifiers), "--json")
    assert after.returncode == 1, after.stderr
    assert {**json.loads(after.stdout), "query_ms": None} == {**found, "query_ms": None}
    assert seen.ref in json.dumps(found)  # the sighting, found on the new server too
    identifiers.unlink()

    # loaded twice: refused, nothing changes
    twice = new.run("db", "load", "--from", str(dump))
    assert twice.returncode == 2
    assert "is not empty" in twice.stderr and twice.stderr.count("\n") == 1
    assert jsonl(again) == jsonl(dump)

    written = everything_written(new, tmp_path / "check", [("load output", loaded)])
    written += [w for w in everything_written(old, tmp_path / "check-old")]
    assert_no_plaintext(written, cast.plaintext())


def test_an_interrupted_load_goes_on_and_another_key_is_refused(vahti, tmp_path):
    cast = Cast.make(seed=1314, enrolled=20, decoys=2)
    ok(vahti.run("init"))
    register = tmp_path / "register.csv"
    register.write_text(register_csv(cast.enrolled))
    ok(vahti.run("enroll", str(register)))
    register.unlink()
    dump = tmp_path / "dump"
    ok(vahti.run("db", "dump", "--out", str(dump)))
    watchlist = (dump / f"{schema.WATCHLIST}.jsonl").read_text().splitlines()

    # another database on the same server, left as a load killed half-way leaves it
    vahti.env["VAHTI_MONGO_DB"] += "_moved"
    ok(vahti.run("status", "--json"))
    with vahti.storage() as st:
        key_id = dump_meta(dump)["key_id"]
        st.db[schema.META].update_one({"_id": schema.META_ID},
                                      {"$set": {LOADING: {"key_id": key_id}}})
        st.db[schema.WATCHLIST].insert_many(
            [json_util.loads(line) for line in watchlist[:7]])
    resumed = ok(vahti.run("db", "load", "--from", str(dump)))
    assert f"{schema.WATCHLIST}: 20" in resumed
    with vahti.storage() as st:
        assert st.db[schema.WATCHLIST].count_documents({}) == 20
        assert LOADING not in st.meta()

    # a dump written under another key is refused before anything is written
    vahti.env["VAHTI_MONGO_DB"] += "_other"
    vahti.env["VAHTI_KEY_FILE"] = str(tmp_path / "other.key")
    create_key_file(tmp_path / "other.key")
    refused = vahti.run("db", "load", "--from", str(dump))
    assert refused.returncode == 2
    assert f"written with key id {key_id}" in refused.stderr
    with vahti.storage() as st:
        assert st.db[schema.WATCHLIST].count_documents({}) == 0

    missing = vahti.run("db", "load", "--from", str(tmp_path / "nothing"))
    assert missing.returncode == 2 and "is not a folder" in missing.stderr
