"""`vahti key show | backup | rotate | retire`: the key's lifecycle.

Rotation re-keys the watchlist from the register, given again (vahti never holds the
plaintext); what cannot be re-keyed without plaintext (retained candidates, pages and
sightings named by keyed content ids and URL tokens, alerts) stays under the old key
id until retention removes it, and the old key is kept as a retired key in the home
while anything that needs it is left (storage/keyids.py, vahti/keyring.py).

Rotation steps, each leaving a state a rerun finishes (or `vahti status` explains):
  1. read the register under the new key (the pending key of an interrupted run, or a
     fresh one) and check who is missing: nothing is written before that check;
  2. write the new key to keys/pending.key (and to --out when the key does not live
     in the key file);
  3. mark the rotation in the database (meta `key_rotation`): from here on every
     command with a key refuses to scan or search until the rotation is finished;
  4. copy each person's candidate keys under the old key (storage/retired_people.py,
     for `vahti forget`), re-key the watchlist (upsert: every entry changes, the key
     id is part of it) and drop the missing people when allowed;
  5. copy the old key to keys/retired/<id>.key;
  6. switch the database to the new key id in one update (active key id, retired key
     ids, the rotation mark removed);
  7. install the new key in the key file (a new file renamed over it) and remove the
     pending key.
A crash before 6 leaves the old key active: rerun with the register. A crash after 6
leaves the database on the new key and the key file on the old one: rerun (without
the register) installs it.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.table import Table

from vahti import keyring
from vahti.clictx import config_of, console
from vahti.cmd_enroll import (
    column_map_of,
    column_options,
    read_register_bytes,
    register_people,
    watchlist_entries,
)
from vahti.config import Config
from vahti.display import echo
from vahti.errors import VahtiError
from vahti.key_source import chosen_source
from vahti.matchers.keys import Key, load_key_file, new_key, write_key_file
from vahti.matchers.register import RegisterError, RegisterSummary
from vahti.storage import keyids, leases, retired_people, schema, watchlist
from vahti.storage.connection import Storage
from vahti.storage.errors import KeyMismatch
from vahti.storage.forget import person_keys
from vahti.wiring import load_key, open_db, retention_settings

ROTATE_LEASE = "key-rotate"
ROTATE_LEASE_S = 300.0
REFS_SHOWN = 50
OFFLINE = ("keep it offline (an encrypted USB stick in a safe, a password manager's "
           "vault): whoever has it and the database can test identifiers against it")


@click.group("key")
def key_group() -> None:
    """The secret key: show, back up, rotate, retire."""


@key_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def key_show(ctx: click.Context, as_json: bool) -> None:
    """The active key id and where it comes from, and every live key id with the
    documents still under it (counting reads every keyed collection)."""
    cfg = config_of(ctx)
    key = load_key(cfg)
    with open_db(cfg, key, rotating=True) as storage:
        info = key_status(cfg, storage, key, counts=True)
    if as_json:
        echo(json.dumps(info, indent=2, default=str))
        return
    out = console()
    out.print(f"active key id {info['active']} (from {info['source']})")
    for live in info["live"]:
        docs = ", ".join(f"{c} {n}" for c, n in live["documents"].items() if n) or "none"
        out.print(f"  {live['key_id']} ({live['state']}): documents {docs}")
    for line in info["notes"]:
        out.print(line)


def key_status(cfg: Config, storage: Storage, key: Key | None, counts: bool) -> dict:
    """The key part of `vahti key show` and `vahti status`."""
    meta_active = keyids.active(storage)
    info: dict = {"active": meta_active, "source": chosen_source(cfg).describe() if key else "",
                  "live": [], "notes": []}
    retention = retention_settings(cfg)
    for kid in keyids.live(storage):
        live: dict = {"key_id": kid, "state": "active" if kid == meta_active else "retired"}
        if live["state"] == "retired":
            live["file"] = str(keyring.retired_path(cfg, kid))
            live["file_present"] = keyring.retired_path(cfg, kid).exists()
        if counts:
            rows = keyids.remaining(storage, kid, retention)
            live["documents"] = {r.collection: r.documents for r in rows}
            live["until"] = {r.collection: r.until.isoformat() if r.until else None
                             for r in rows if r.documents}
        info["live"].append(live)
    info["notes"] = key_notes(cfg, storage, key)
    return info


def key_notes(cfg: Config, storage: Storage, key: Key | None) -> list[str]:
    """What the operator must act on: an unfinished rotation, a key not installed."""
    notes = []
    running = keyids.rotation(storage)
    if running:
        notes.append(f"a key rotation from {running.get('from')} to {running.get('to')} is "
                     "unfinished: run `vahti key rotate --register FILE` again")
    pending = keyring.pending_path(cfg)
    if pending.exists() and not running:
        notes.append(f"{pending} is left from a key rotation: run `vahti key rotate` again "
                     "to finish it")
    active = keyids.active(storage)
    if key is not None and active and key.key_id != active:
        if key.key_id in keyids.retired(storage):
            notes.append(f"the database was rotated to key id {active}, but the key vahti "
                         f"loads is the retired {key.key_id}: install the new key")
    for kid in keyring.missing_retired(cfg, storage):
        notes.append(f"retired key id {kid} has no file in this home: what is under it "
                     "cannot be compared with until it expires")
    return notes


def in_key_file(cfg: Config) -> bool:
    """Does vahti's key come from the key file (not a credential, a descriptor or a
    command: vahti.key_source)? Only then may a rotation install the new key itself."""
    return chosen_source(cfg).is_file


@key_group.command("backup")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="The backup file to create (never overwritten).")
@click.pass_context
def key_backup(ctx: click.Context, out: str) -> None:
    """Write the active key, with its key id, to a new file of mode 0600.

    Restore by copying the file back to the key file (`vahti init` shows where)."""
    cfg = config_of(ctx)
    key = load_key(cfg)
    path = Path(out)
    if path.exists():
        raise VahtiError(f"{path} exists: a backup never overwrites a file")
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        written = write_key_file(path, key, f"vahti key id {key.key_id} created {stamp}")
    except OSError as exc:
        raise VahtiError(f"cannot write {path}: {exc.strerror}") from None
    if not written:
        raise VahtiError(f"{path} exists: a backup never overwrites a file")
    echo(f"key id {key.key_id} backed up to {path} (mode 0600)")
    echo(f"Now {OFFLINE}; restore by copying it back to the key file.")


@key_group.command("retire")
@click.pass_context
def key_retire(ctx: click.Context) -> None:
    """Delete every retired key that no document is under any more (done after each
    retention purge too)."""
    cfg = config_of(ctx)
    with open_db(cfg, rotating=True) as storage:
        done = keyring.retire_unused_keys(cfg, storage)
        left = keyids.retired(storage)
    for kid in done:
        echo(f"retired key id {kid}: deleted, nothing is under it any more")
    for kid in left:
        echo(f"retired key id {kid}: kept, documents are still under it (vahti key show)")
    if not done and not left:
        echo("no retired key")


@key_group.command("rotate")
@click.option("--register", "register", type=click.Path(dir_okay=False, allow_dash=True),
              help="The register, given again: the watchlist is re-keyed from it "
                   "(the same columns as `vahti enroll`).")
@column_options
@click.option("--drop-missing", is_flag=True,
              help="Allow it when people of the watchlist are missing from the register: "
                   "they are no longer watched.")
@click.option("--out", "out", type=click.Path(dir_okay=False),
              help="Also write the new key here (mode 0600); required when the key does "
                   "not come from the key file (a credential, a file descriptor, a command).")
@click.option("--json", "as_json", is_flag=True, help="The summary as JSON.")
@click.pass_context
def key_rotate(ctx: click.Context, register: str | None, mappings: tuple[str, ...],
               drop_missing: bool, out: str | None, as_json: bool) -> None:
    """Rotate the key: a new key, the watchlist re-keyed from the register.

    Stop the daemon first. What cannot be re-keyed (retained candidates, pages,
    sightings, alerts) stays under the old key id until retention removes it; the
    old key is kept in the home until then. Safe to interrupt: run it again."""
    cfg = config_of(ctx)
    old = load_key(cfg)
    with open_db(cfg, old, rotating=True) as storage:
        refuse_running_daemons(storage)
        with leases.held(storage, ROTATE_LEASE, leases.make_owner(), ROTATE_LEASE_S) as ours:
            if not ours:
                raise VahtiError("another `vahti key rotate` is running on this database")
            report = _rotate(cfg, storage, old, register, column_map_of(mappings),
                             drop_missing, out)
    if as_json:
        echo(json.dumps(report, indent=2, default=str))
    else:
        _print_rotation(report)


def refuse_running_daemons(storage: Storage) -> None:
    running = leases.live_daemons(storage)
    if running:
        owners = ", ".join(str(d.get("owner", "?")) for d in running)
        raise VahtiError(f"a daemon is running on this database ({owners}): stop it before "
                         "rotating the key (systemctl stop vahti), then start it again after")


def _rotate(cfg: Config, storage: Storage, old: Key, register: str | None,
            column_map: dict[str, str], drop_missing: bool, out: str | None) -> dict:
    active = keyids.active(storage)
    pending = keyring.load_if_present(keyring.pending_path(cfg))
    if pending is not None and pending.key_id == old.key_id == active and register is None:
        # crashed after 6, and the new key was installed before this rerun
        return _finish(cfg, storage, old, pending, out, resumed=True)
    if active and active != old.key_id:
        if pending is not None and pending.key_id == active and old.key_id in \
                keyids.retired(storage):
            return _finish(cfg, storage, old, pending, out, resumed=True)  # crashed after 6
        raise KeyMismatch(active, old.key_id)
    storage.bind_key(old.key_id)
    if register is None:
        raise VahtiError("--register FILE is required: the watchlist is re-keyed from the "
                         "register (vahti never keeps the plaintext)")
    if not in_key_file(cfg) and not out:
        raise VahtiError("the key does not come from the key file "
                         f"{cfg.key_path}: give --out FILE for the new key, to install it "
                         "where the key comes from")
    new = pending or new_key()  # an interrupted rotation's key: its entries are kept

    # 1. the register under the new key, and who would stop being watched
    data = read_register_bytes(register)
    summary = RegisterSummary()
    refs: set[str] = set()
    try:
        entries = list(watchlist_entries(
            register_people(cfg, data, register, new, column_map, summary), new, refs))
    except RegisterError as exc:
        raise VahtiError(str(exc)) from None
    if not entries:
        raise VahtiError("nobody in the register could be enrolled: nothing rotated "
                         "(check it with `vahti enroll` options; the problems are by row)")
    missing = sorted(set(_watched_refs(storage)) - refs)
    if missing and not drop_missing:
        shown = ", ".join(missing[:REFS_SHOWN]) + (" ..." if len(missing) > REFS_SHOWN else "")
        raise VahtiError(f"{len(missing)} people of the watchlist are not in the register "
                         f"(refs: {shown}); nothing rotated: give the full register, or "
                         "--drop-missing to stop watching them")

    # 2. the pending key (and --out), before anything in the database changes
    if pending is None:
        _write_new(keyring.pending_path(cfg), new, f"vahti key id {new.key_id}, pending "
                   f"rotation from {old.key_id}")
    if out:
        _write_out(Path(out), new)

    # 3.-4. the rotation mark, then the watchlist under the new key
    storage.db[schema.META].update_one({"_id": schema.META_ID}, {"$set": {
        keyids.ROTATION_FIELD: {"from": old.key_id, "to": new.key_id,
                                "started": datetime.now(UTC)}}})
    # what forgetting a person needs under the old key, before the entries change
    retired_people.keep(storage, old.key_id, (
        (e.ref, person_keys(e)) for e in watchlist.iter_entries(storage)
        if e.key_id == old.key_id))
    result = watchlist.upsert_entries(storage, entries)
    dropped = watchlist.remove_refs_except(storage, refs) if missing else 0

    # 5.-6. the old key kept, then the switch in one update
    retired = keyring.retired_path(cfg, old.key_id)
    if not retired.exists():
        _write_new(retired, old, f"vahti key id {old.key_id}, retired")
    switched = storage.db[schema.META].update_one(
        {"_id": schema.META_ID, "key_id": old.key_id},
        {"$set": {"key_id": new.key_id, "key_bound": datetime.now(UTC)},
         "$addToSet": {keyids.RETIRED_FIELD: old.key_id},
         "$unset": {keyids.ROTATION_FIELD: ""}})
    if switched.matched_count != 1:
        raise VahtiError("the database's key id changed during the rotation: run "
                         "`vahti key show`")
    report = _finish(cfg, storage, old, new, out, resumed=False)
    report.update(people=len(entries), updated=result.updated + result.inserted,
                  dropped=dropped, dropped_refs=missing,
                  rows_with_problems=summary.rows_with_problems)
    return report


def _watched_refs(storage: Storage) -> list[str]:
    return [d["_id"] for d in storage.db[schema.WATCHLIST].find({}, {"_id": 1})]


def _write_new(path: Path, key: Key, comment: str) -> None:
    try:
        write_key_file(path, key, comment)
    except OSError as exc:
        raise VahtiError(f"cannot write {path}: {exc.strerror}") from None
    if load_key_file(path).key_id != key.key_id:  # an existing file of another key
        raise VahtiError(f"{path} holds another key: move it away and run this again")


def _write_out(path: Path, key: Key) -> None:
    if path.exists() and load_key_file(path).key_id == key.key_id:
        return  # written by the interrupted run
    if path.exists():
        raise VahtiError(f"{path} exists: the new key never overwrites a file")
    _write_new(path, key, f"vahti key id {key.key_id}: install it where vahti's key comes "
               "from")


def _finish(cfg: Config, storage: Storage, old: Key, new: Key, out: str | None,
            resumed: bool) -> dict:
    """7.: the new key into the key file when it lived there, the pending key removed;
    then what is left under the old key id."""
    installed = False
    if in_key_file(cfg):
        _replace_key_file(cfg.key_path, new)
        installed = True
    keyring.pending_path(cfg).unlink(missing_ok=True)
    try:
        loaded = load_key(cfg).key_id
    except Exception:  # noqa: BLE001 - reported below as not installed
        loaded = ""
    remaining = keyids.remaining(storage, old.key_id, retention_settings(cfg))
    retired_now = old.key_id in keyring.retire_unused_keys(cfg, storage)
    return {
        "old_key_id": old.key_id, "new_key_id": new.key_id, "resumed": resumed,
        "key_file": str(cfg.key_path) if installed else None, "out": out,
        "key_installed": loaded == new.key_id,
        "retired_key_file": str(keyring.retired_path(cfg, old.key_id)),
        "retired_key_deleted": retired_now,
        "left_under_old_key": [
            {"collection": r.collection, "documents": r.documents,
             "until": r.until.isoformat() if r.until else None}
            for r in remaining if r.documents],
        "retro_hunt": "people enrolled later are also hunted in what was retained under "
                      "the old key while its key file is kept (vahti enroll re-keys the "
                      "register under it)",
    }


def _replace_key_file(path: Path, key: Key) -> None:
    """A new file beside the key file, renamed over it: the key file is always whole."""
    tmp = path.with_name(f".{path.name}.new")
    tmp.unlink(missing_ok=True)
    _write_new(tmp, key, "")
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _until(row: dict) -> str:
    if row["until"]:
        return row["until"][:10]
    if row["collection"] == schema.RETIRED_PEOPLE:
        return "deleted with the old key"
    return "kept (no retention)"


def _print_rotation(report: dict) -> None:
    out = console()
    verb = "finished" if report["resumed"] else "rotated"
    out.print(f"key {verb}: key id {report['old_key_id']} -> {report['new_key_id']}")
    if "people" in report:
        out.print(f"watchlist re-keyed: {report['people']} people"
                  + (f", {report['dropped']} not in the register dropped"
                     if report["dropped"] else ""))
    if report["key_file"]:
        out.print(f"the new key is in {report['key_file']}; back it up: vahti key backup "
                  "--out FILE")
    if report["out"]:
        out.print(f"the new key is in {report['out']}: install it where vahti's key comes "
                  f"from, then {OFFLINE}")
    if not report["key_installed"]:
        out.print("vahti does not load the new key yet: until it does, every command "
                  "refuses the database (key id mismatch)")
    left = report["left_under_old_key"]
    if left:
        table = Table("left under the old key id", "documents", "until at the latest")
        for row in left:
            table.add_row(row["collection"], str(row["documents"]), _until(row))
        out.print(table)
    else:
        out.print("nothing is left under the old key id")
    if report["retired_key_deleted"]:
        out.print("the old key was deleted: no page, sighting or retained candidate needs it")
    else:
        out.print(f"the old key is kept in {report['retired_key_file']} until nothing but "
                  "alerts is under it (then deleted, and said so)")
    out.print(report["retro_hunt"])
