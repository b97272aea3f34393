"""Key files in the home besides the active key: a rotation's pending key and the
retired keys that documents are still under (storage/keyids.py).

    $VAHTI_HOME/keys/pending.key          the new key while `vahti key rotate` runs
    $VAHTI_HOME/keys/retired/<id>.key     an old key, while documents are under it

All mode 0600 in 0700 folders, written O_EXCL (never overwritten), each with a
comment line naming its key id, readable by `load_key_file` as they are.
"""

from __future__ import annotations

import logging
from pathlib import Path

from vahti.config import Config
from vahti.matchers.keys import Key, KeyFileError, load_key_file
from vahti.storage import keyids, retired_people, schema
from vahti.storage.connection import Storage

log = logging.getLogger("vahti.keys")


def keys_dir(cfg: Config) -> Path:
    return cfg.home / "keys"


def pending_path(cfg: Config) -> Path:
    return keys_dir(cfg) / "pending.key"


def retired_path(cfg: Config, key_id: str) -> Path:
    return keys_dir(cfg) / "retired" / f"{key_id}.key"


def load_if_present(path: Path) -> Key | None:
    """The key in `path`, None when there is no such file; a damaged one is an error."""
    if not path.exists():
        return None
    return load_key_file(path)


def retired_key(cfg: Config, key_id: str) -> Key | None:
    """The retired key `key_id` from its file, or None when the file is gone."""
    key = load_if_present(retired_path(cfg, key_id))
    if key is not None and key.key_id != key_id:
        raise KeyFileError(f"{retired_path(cfg, key_id)} holds key id {key.key_id}, "
                           f"not {key_id}")
    return key


def retired_keys(cfg: Config, storage: Storage) -> list[Key]:
    """The retired keys still in use whose files are here (see `missing_retired`)."""
    return [k for kid in keyids.retired(storage) if (k := retired_key(cfg, kid)) is not None]


def retired_key_files(cfg: Config) -> list[Key]:
    """Every retired key in this home's files (each file is deleted when its key is
    retired for good, so these are the retired keys in use), without the database."""
    folder = keys_dir(cfg) / "retired"
    if not folder.is_dir():
        return []
    return [k for path in sorted(folder.glob("*.key"))
            if (k := retired_key(cfg, path.stem)) is not None]


def missing_retired(cfg: Config, storage: Storage) -> list[str]:
    """Retired key ids in use whose file is not in this home (another machine's home,
    or deleted by hand): what is under them can no longer be compared with."""
    return [kid for kid in keyids.retired(storage) if not retired_path(cfg, kid).exists()]


def retire_unused_keys(cfg: Config, storage: Storage) -> list[str]:
    """Delete the file of every retired key with no document left under it (retention
    removed the last), and forget it in the database; returns the key ids retired.
    Run after each retention purge (vahti.wiring.open_db) and by `vahti key retire`."""
    done = []
    for kid in keyids.retired(storage):
        if keyids.in_use(storage, kid):
            continue
        alerts = storage.db[schema.ALERTS].count_documents({"key_id": kid})
        retired_path(cfg, kid).unlink(missing_ok=True)  # the key first: never kept longer
        retired_people.drop_key(storage, kid)  # nothing retained under it to forget from
        keyids.drop_retired(storage, kid)
        log.warning("retired key id %s deleted (%s): no page, sighting or retained "
                    "candidate is under it any more%s", kid, retired_path(cfg, kid),
                    f"; {alerts} alerts keep its content ids as labels only" if alerts else "")
        done.append(kid)
    return done
