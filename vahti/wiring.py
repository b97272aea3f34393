"""Wiring: turn the configuration into the parts' own settings objects."""

from __future__ import annotations

from matchers.index import WatchlistIndex
from matchers.keys import Key, load_key_file
from matchers.locations import LocationRedactor
from spiders.torctl import TorConfigError, TorSettings, build_tor_settings
from storage.connection import Storage, StorageSettings, open_storage
from storage.retention import RetentionSettings, apply_retention, purge_if_due
from vahti.config import Config
from vahti.errors import VahtiError


def storage_settings(cfg: Config) -> StorageSettings:
    return StorageSettings(
        home=cfg.home,
        uri=cfg.get("storage.uri"),
        database=cfg.get("storage.database"),
        connect_timeout_s=cfg.get("storage.connect_timeout_s"),
        embedded_start_timeout_s=cfg.get("storage.embedded_start_timeout_s"),
        embedded_cache_size=cfg.get("storage.embedded_cache_size"),
        embedded_linger_s=cfg.get("storage.embedded_linger_s"),
    )


def load_key(cfg: Config) -> Key:
    return load_key_file(cfg.key_path)


def location_redactor(cfg: Config, key: Key, index: WatchlistIndex) -> LocationRedactor:
    """How locations are stored: identifiers by shape, and the enrolled people's phones
    (read in the configured region) and names, as keyed tokens (matchers.locations)."""
    return LocationRedactor(key, index, region=cfg.get("matchers.phone_region"))


def open_db(cfg: Config, key: Key | None = None) -> Storage:
    """Open storage; with a key, bind it (first use) or refuse a mismatched one."""
    storage = open_storage(storage_settings(cfg))
    try:
        retention = retention_settings(cfg)
        apply_retention(storage, retention)
        purge_if_due(storage, retention)
        if key is not None:
            storage.bind_key(key.key_id)
    except BaseException:
        storage.close()
        raise
    return storage


def retention_settings(cfg: Config) -> RetentionSettings:
    return RetentionSettings(
        pages_days=cfg.get("retention.pages_days"),
        sightings_days=cfg.get("retention.sightings_days"),
        candidates_days=cfg.get("retention.candidates_days"),
    )



TOR_KEYS = ("mode", "socks", "control", "control_password_file", "binary", "torrc_extra",
            "bootstrap_timeout_s", "newnym_after")


def tor_settings(cfg: Config) -> TorSettings:
    """The [tor] section as TorSettings; a bad value is a VahtiError naming the setting."""
    try:
        return build_tor_settings(
            cfg.home,
            {key: cfg.get(f"tor.{key}") for key in TOR_KEYS},
            {key: cfg.origins[f"tor.{key}"] for key in TOR_KEYS},
        )
    except TorConfigError as exc:
        raise VahtiError(str(exc)) from None
