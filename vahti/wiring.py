"""Wiring: turn the configuration into the parts' own settings objects."""

from __future__ import annotations

from matchers.keys import Key, load_key_file
from storage.connection import Storage, StorageSettings, open_storage
from vahti.config import Config


def storage_settings(cfg: Config) -> StorageSettings:
    return StorageSettings(
        home=cfg.home,
        uri=cfg.get("storage.uri"),
        database=cfg.get("storage.database"),
        connect_timeout_s=cfg.get("storage.connect_timeout_s"),
        embedded_start_timeout_s=cfg.get("storage.embedded_start_timeout_s"),
        embedded_cache_size=cfg.get("storage.embedded_cache_size"),
    )


def load_key(cfg: Config) -> Key:
    return load_key_file(cfg.key_path)


def open_db(cfg: Config, key: Key | None = None) -> Storage:
    """Open storage; with a key, bind it (first use) or refuse a mismatched one."""
    storage = open_storage(storage_settings(cfg))
    if key is not None:
        try:
            storage.bind_key(key.key_id)
        except BaseException:
            storage.close()
            raise
    return storage
