"""The key's lifecycle end to end with real `vahti` processes on the test database:
backup and restore, rotation (the watchlist re-keyed from the register, what cannot be
re-keyed left under the old key id and listed, retro-hunts under the retired key, the
retired key deleted once retention removed the last document under it), rotations
interrupted at each step and finished by a rerun, and nothing plaintext left."""

from __future__ import annotations

import json
import shutil
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.privacy import assert_no_plaintext, everything_written
from vahti.demo.synthetic import make_people, register_csv
from vahti.matchers.keys import load_key_file
from vahti.storage import keyids, schema
from vahti.storage.clock import now
from vahti.storage.retention import PURGED_FIELD

pytestmark = pytest.mark.integration

PEOPLE = make_people(4, seed=1313)
A, B, C, D = PEOPLE  # A enrolled before the rotation, B only after, C never
KEYED = ("watchlist", "pages", "sightings", "candidates", "alerts", "retired_people")


def write_register(tmp_path: Path, people, name: str = "register.csv") -> Path:
    path = tmp_path / name
    path.write_text(register_csv(people), encoding="utf-8")
    return path


def run(vahti, *args: str, ok: tuple[int, ...] = (0,), **kw):
    result = vahti.run(*args, **kw)
    assert result.returncode in ok, (args, result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr
    return result


def under(vahti, key_id: str) -> dict[str, int]:
    """Documents under `key_id`, per keyed collection (those with any)."""
    with vahti.storage() as st:
        counts = {c: st.db[c].count_documents({"key_id": key_id}) for c in KEYED}
    return {c: n for c, n in counts.items() if n}


def dump_with(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "leak.txt").write_text(text, encoding="utf-8")
    return folder


def test_backup_and_restore_round_trip(vahti, tmp_path):
    run(vahti, "init")
    register = write_register(tmp_path, [A])
    run(vahti, "enroll", str(register))
    dump = dump_with(tmp_path, "dump", f"asiakas {A.hetu}\n")
    key_path = vahti.home / "key"
    key_id = load_key_file(key_path).key_id

    backup = tmp_path / "offline" / "vahti.key"
    backup.parent.mkdir()
    made = run(vahti, "key", "backup", "--out", str(backup))
    assert key_id in made.stdout and "offline" in made.stdout
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert backup.read_text().splitlines()[0].startswith(f"# vahti key id {key_id} created ")
    before = backup.read_bytes()
    again = run(vahti, "key", "backup", "--out", str(backup), ok=(2,))
    assert "never overwrites" in again.stderr and backup.read_bytes() == before

    key_path.unlink()  # the key is lost ...
    lost = run(vahti, "scan", str(dump), ok=(2,))
    assert "no key" in lost.stderr
    shutil.copy(backup, key_path)  # ... and restored by copying the backup back
    key_path.chmod(0o600)
    found = run(vahti, "scan", str(dump), "--json", ok=(1,))
    assert A.ref in found.stdout
    status = json.loads(run(vahti, "status", "--json").stdout)
    assert status["key"]["id"] == key_id == status["storage"]["key_id"]


@pytest.mark.slow  # over 15 s (pytest --durations)
def test_rotation_end_to_end(vahti, tmp_path):
    run(vahti, "init")
    outputs: list[tuple[str, str]] = []
    register_a = write_register(tmp_path, [A])
    run(vahti, "enroll", str(register_a))
    old = load_key_file(vahti.home / "key").key_id
    # a leak of A, beside B (not enrolled yet): A is sighted, B's codes retained
    first = dump_with(tmp_path, "first", f"{A.hetu};{A.email}\n{B.hetu};{B.email}\n")
    run(vahti, "hunt", str(first), "--json", ok=(1,))
    left_before = under(vahti, old)
    assert set(left_before) == {"watchlist", "pages", "sightings", "candidates"}

    # a register without A: refused before anything changes
    register_c = write_register(tmp_path, [C], "other.csv")
    refused = run(vahti, "key", "rotate", "--register", str(register_c), ok=(2,))
    outputs.append(("refused", refused.stdout + refused.stderr))
    assert "1 people of the watchlist are not in the register" in refused.stderr
    assert A.ref in refused.stderr and "--drop-missing" in refused.stderr
    assert load_key_file(vahti.home / "key").key_id == old
    assert under(vahti, old) == left_before
    assert not (vahti.home / "keys" / "pending.key").exists()

    # the daemon must be stopped: a live daemon heartbeat refuses the rotation
    with vahti.storage() as st:
        from vahti.storage import leases
        leases.heartbeat(st, leases.make_owner(), 60.0)
    busy = run(vahti, "key", "rotate", "--register", str(register_a), ok=(2,))
    assert "stop it before rotating" in busy.stderr
    with vahti.storage() as st:
        st.db[schema.LEASES].delete_many({"kind": "daemon"})

    rotated = run(vahti, "key", "rotate", "--register", str(register_a), "--json")
    outputs.append(("rotate", rotated.stdout + rotated.stderr))
    report = json.loads(rotated.stdout)
    new = load_key_file(vahti.home / "key").key_id
    assert report["old_key_id"] == old and report["new_key_id"] == new != old
    assert report["key_installed"] and report["people"] == 1
    # the summary lists exactly what is left under the old key id
    left = under(vahti, old)
    # the watchlist is re-keyed; A's candidate keys under the old key kept for forget
    assert set(left) == {"pages", "sightings", "candidates", "retired_people"}
    assert {r["collection"]: r["documents"] for r in report["left_under_old_key"]} == left
    assert all(r["until"] for r in report["left_under_old_key"]  # each expires
               if r["collection"] != "retired_people")  # deleted with the key
    assert under(vahti, new) == {"watchlist": 1}
    retired = vahti.home / "keys" / "retired" / f"{old}.key"
    assert stat.S_IMODE(retired.stat().st_mode) == 0o600
    assert load_key_file(retired).key_id == old
    backup = tmp_path / "backup.key"
    run(vahti, "key", "backup", "--out", str(backup))
    key_files = [("retired key", retired.read_bytes()), ("backup", backup.read_bytes())]
    text = run(vahti, "key", "rotate", "--register", str(register_a), "--drop-missing")
    outputs.append(("rotate again", text.stdout + text.stderr))
    assert "left under the old key id" in text.stdout  # now two retired keys

    status = json.loads(run(vahti, "status", "--json").stdout)
    newest = load_key_file(vahti.home / "key").key_id
    live = {k["key_id"]: k["state"] for k in status["storage"]["keys"]["live"]}
    assert live == {newest: "active", old: "retired"}  # `new` had nothing left: deleted
    shown = run(vahti, "key", "show")
    assert old in shown.stdout and "retired" in shown.stdout

    # a new leak of A is found under the new key, by scan and by search
    second = dump_with(tmp_path, "second", f"uusi vuoto {A.hetu}\n")
    found = run(vahti, "scan", str(second), "--json", ok=(1,))
    assert A.ref in found.stdout
    searched = json.loads(run(vahti, "search", "--json", input=A.hetu + "\n", ok=(1,)).stdout)
    assert searched["answers"][0]["enrolled"] == [A.ref]

    # B, not enrolled, is searched in what was retained under the old key too
    stranger = json.loads(run(vahti, "search", "--json", input=B.email + "\n", ok=(1,)).stdout)
    assert [r["url"] for r in stranger["answers"][0]["retained"]] == [
        (first / "leak.txt").as_uri()]
    # B, enrolled after the rotation, is found in what was retained under the old key
    enrolled = json.loads(run(vahti, "enroll", str(write_register(tmp_path, [A, B], "ab.csv")),
                              "--json").stdout)
    assert enrolled["already_exposed"] == 1
    retro = vahti.stored("sightings", {"ref": B.ref})
    assert retro and {s["via"] for s in retro} == {"retro"}
    assert {s["key_id"] for s in retro} == {old}  # named by the old key's content ids

    # forgetting A removes A's keys from what was retained under the old key too
    def retained_pages_of_a() -> list:
        answer = json.loads(run(vahti, "search", "--json", input=A.email + "\n",
                                ok=(0, 1)).stdout)["answers"][0]
        return [r["url"] for r in answer["retained"]]

    assert retained_pages_of_a() == [(first / "leak.txt").as_uri()]
    forgot = json.loads(run(vahti, "forget", "--ref", A.ref, "--yes", "--json").stdout)
    assert forgot["retired_key_copies"] == 1  # the second retired key had nothing left
    assert retained_pages_of_a() == []

    # retention: everything under the old key ages past its limit; the next command's
    # purge removes it and the retired key file with it, and says so
    with vahti.storage() as st:
        long_ago = now() - timedelta(days=4000)
        for name in ("pages", "sightings"):
            st.db[name].update_many({"key_id": {"$ne": newest}},
                                    {"$set": {"last_seen": long_ago}})
        st.db["candidates"].update_many({"key_id": {"$ne": newest}},
                                        {"$set": {"seen_at": long_ago}})
        st.db[schema.META].update_one({"_id": schema.META_ID},
                                      {"$set": {PURGED_FIELD: long_ago}})
    purged = run(vahti, "status", "--json")
    outputs.append(("purge", purged.stdout + purged.stderr))
    assert f"retired key id {old} deleted" in purged.stderr
    assert not retired.exists() and not list((vahti.home / "keys" / "retired").iterdir())
    assert under(vahti, old) == {} and under(vahti, new) == {}
    with vahti.storage() as st:
        assert keyids.live(st) == [newest]
    assert run(vahti, "key", "retire").stdout.strip() == "no retired key"

    plaintext = [v for p in (A, B, C) for v in (p.hetu, p.email, p.phone, p.full_name)]
    for path in (register_a, register_c, tmp_path / "ab.csv"):
        path.unlink()
    shutil.rmtree(first)
    shutil.rmtree(second)
    written = everything_written(vahti, tmp_path / "out", outputs + key_files)
    assert_no_plaintext(written, plaintext)


class Crash(Exception):
    """The process dying in the middle of a rotation."""


def rotate_in_process(vahti, monkeypatch, *args: str):
    """`vahti key rotate` in this process (to make it die at a chosen step)."""
    from vahti.cli import cli
    for name, value in vahti.env.items():
        if name.startswith("VAHTI_"):
            monkeypatch.setenv(name, value)
    return CliRunner().invoke(cli, ["key", "rotate", *args], catch_exceptions=True)


def crashed_rotation(vahti, tmp_path, monkeypatch, module, step: str):
    """Enroll A and B, then a rotation that dies at `module.step`: (register, old key id,
    the pending key's id)."""
    run(vahti, "init")
    register = write_register(tmp_path, [A, B])
    run(vahti, "enroll", str(register))
    old = load_key_file(vahti.home / "key").key_id

    def dying(*args):
        raise Crash

    monkeypatch.setattr(module, step, dying)
    crashed = rotate_in_process(vahti, monkeypatch, "--register", str(register))
    assert isinstance(crashed.exception, Crash)
    return register, old, load_key_file(vahti.home / "keys" / "pending.key").key_id


def test_a_rotation_interrupted_while_re_keying_is_finished_by_a_rerun(vahti, tmp_path,
                                                                       monkeypatch):
    from vahti.storage import watchlist
    register, old, pending = crashed_rotation(vahti, tmp_path, monkeypatch, watchlist,
                                              "upsert_entries")
    assert load_key_file(vahti.home / "key").key_id == old

    dump = dump_with(tmp_path, "dump", f"{A.hetu}\n")
    refused = run(vahti, "scan", str(dump), ok=(2,))
    assert "key rotation" in refused.stderr and "interrupted" in refused.stderr
    notes = json.loads(run(vahti, "status", "--json").stdout)["storage"]["keys"]["notes"]
    assert "unfinished" in " ".join(notes)

    monkeypatch.undo()
    finished = json.loads(run(vahti, "key", "rotate", "--register", str(register),
                              "--json").stdout)
    assert finished["new_key_id"] == pending == load_key_file(vahti.home / "key").key_id
    assert not (vahti.home / "keys" / "pending.key").exists()
    assert run(vahti, "scan", str(dump), "--json", ok=(1,)).stdout.count(A.ref) >= 1


def test_a_rotation_interrupted_after_the_switch_is_finished_by_a_rerun(vahti, tmp_path,
                                                                        monkeypatch):
    from vahti import cmd_key
    _, old, new = crashed_rotation(vahti, tmp_path, monkeypatch, cmd_key, "_replace_key_file")
    with vahti.storage() as st:
        assert keyids.active(st) == new and keyids.retired(st) == [old]

    dump = dump_with(tmp_path, "dump", f"{A.hetu}\n")
    refused = run(vahti, "scan", str(dump), ok=(2,))
    assert old in refused.stderr and new in refused.stderr
    notes = " ".join(json.loads(run(vahti, "status", "--json", ok=(2,)).stdout)
                     ["storage"]["keys"]["notes"])
    assert "install the new key" in notes and "pending.key" in notes

    monkeypatch.undo()
    finished = run(vahti, "key", "rotate")  # no register needed any more
    assert "key finished" in finished.stdout
    assert load_key_file(vahti.home / "key").key_id == new
    assert run(vahti, "scan", str(dump), "--json", ok=(1,)).stdout.count(A.ref) >= 1


def test_a_key_from_elsewhere_is_rotated_to_an_out_file(vahti, tmp_path, monkeypatch,
                                                       capsys):
    """When the key vahti loads is not the key file's (a credential, a descriptor, a
    command), rotate writes the new key to --out only and says to install it."""
    run(vahti, "init")
    register = write_register(tmp_path, [A])
    run(vahti, "enroll", str(register))
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    elsewhere = credentials / "vahti-key"
    shutil.copy(vahti.home / "key", elsewhere)
    elsewhere.chmod(0o400)
    from vahti.cli import main

    # the key comes from a systemd credential while the key file is still there
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    for name, value in vahti.env.items():
        if name.startswith("VAHTI_"):
            monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert main(["key", "rotate", "--register", str(register)]) == 2
    assert "give --out FILE" in capsys.readouterr().err
    out = tmp_path / "new.key"
    assert main(["key", "rotate", "--register", str(register), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    new = load_key_file(out).key_id
    assert load_key_file(elsewhere).key_id != new  # not vahti's to write
    assert load_key_file(vahti.home / "key").key_id != new  # the key file is left alone
    assert "install it where vahti's key comes from" in " ".join(printed.split())
