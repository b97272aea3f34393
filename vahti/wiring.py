"""Wiring: turn the configuration into the parts' own settings objects."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from vahti import key_source
from vahti.config import Config
from vahti.errors import VahtiError
from vahti.matchers.keys import Key, KeyFileError
from vahti.matchers.lazy import lazy_module
from vahti.storage.errors import MigrationNeedsKey, RotationInterrupted

if TYPE_CHECKING:
    from vahti.matchers.index import WatchlistIndex
    from vahti.matchers.locations import LocationRedactor
    from vahti.spiders.torctl import TorSettings
    from vahti.storage import connection, keyids, migrations, retention
    from vahti.storage.connection import Storage, StorageSettings
    from vahti.storage.retention import RetentionSettings
else:
    # Loaded when a database is opened: importing this module (every command does)
    # brings neither pymongo nor numpy, so `vahti scan --no-store` can leave the
    # database to a second process (vahti.scan_start) and not import them itself.
    connection = lazy_module("vahti.storage.connection")
    keyids = lazy_module("vahti.storage.keyids")
    migrations = lazy_module("vahti.storage.migrations")
    retention = lazy_module("vahti.storage.retention")

log = logging.getLogger(__name__)


def storage_settings(cfg: Config) -> StorageSettings:
    return connection.StorageSettings(
        home=cfg.home,
        uri=cfg.get("storage.uri"),
        database=cfg.get("storage.database"),
        connect_timeout_s=cfg.get("storage.connect_timeout_s"),
        embedded_start_timeout_s=cfg.get("storage.embedded_start_timeout_s"),
        embedded_cache_size=cfg.get("storage.embedded_cache_size"),
        embedded_linger_s=cfg.get("storage.embedded_linger_s"),
    )


def load_key(cfg: Config) -> Key:
    """The key from its source: a credential, a descriptor, a command or the key file."""
    return key_source.load_key(cfg)[0]


def location_redactor(cfg: Config, key: Key, index: WatchlistIndex) -> LocationRedactor:
    """How locations are stored: identifiers by shape, and the enrolled people's phones
    (read in the configured region) and names, as keyed tokens (matchers.locations)."""
    from vahti.matchers.locations import LocationRedactor

    return LocationRedactor(key, index, region=cfg.get("matchers.phone_region"))


def open_db(cfg: Config, key: Key | None = None, *, rotating: bool = False) -> Storage:
    """Open storage, migrated to the current schema; with a key, bind it (first use)
    or refuse a mismatched one, and refuse while a key rotation is unfinished (unless
    `rotating`: `vahti key rotate` itself)."""
    storage = connection.open_storage(storage_settings(cfg))
    try:
        migrate(cfg, storage, key)
        settings = retention_settings(cfg)
        retention.apply_retention(storage, settings)
        if retention.purge_if_due(storage, settings) is not None:
            from vahti.keyring import retire_unused_keys  # numpy: only after a purge

            retire_unused_keys(cfg, storage)
        if key is not None and not rotating and (running := keyids.rotation(storage)):
            raise RotationInterrupted(running.get("from", "?"), running.get("to", "?"))
        if key is not None and not rotating:
            storage.bind_key(key.key_id)
    except BaseException:
        storage.close()
        raise
    return storage


def migrate(cfg: Config, storage: Storage, key: Key | None) -> None:
    """Run a pending schema migration (or resume one that was interrupted). It needs
    the key (stored plain hashes become keyed content ids): a command that does not
    use the key reads it for this once, and without it the database is refused."""
    if not migrations.pending(storage):
        return
    if not migrations.needs_key(storage):
        tagged = migrations.migrate(storage, _no_rekey)
        log.warning("database migrated to schema %d: every keyed document names its key, "
                    "every alert has a triage state (%d documents updated)",
                    migrations.schema_version(storage), sum(tagged.values()))
        return
    if key is None:
        try:
            key = load_key(cfg)
        except KeyFileError:
            raise MigrationNeedsKey(
                f"the database has schema {migrations.schema_version(storage)} and needs a "
                "one-time migration with the key (plain page hashes become keyed content "
                "ids): run `vahti status` where the key is readable (VAHTI_KEY_FILE, "
                "VAHTI_KEY_FD, key.command or a systemd credential)"
            ) from None
    storage.check_key(key.key_id)  # the content ids must be those of the database's key
    from vahti.matchers.contentid import ContentIds

    rewritten = migrations.migrate(storage, ContentIds(key).of_sha256_hex)
    log.warning("database migrated to schema %d: page content hashes are keyed content ids "
                "now, and every keyed document names its key (%d documents rewritten)",
                migrations.schema_version(storage), sum(rewritten.values()))


def _no_rekey(sha256_hex: str) -> str:
    raise AssertionError("the schema 2 -> 3 step keys nothing")  # needs_key said so


def retention_settings(cfg: Config) -> RetentionSettings:
    return retention.RetentionSettings(
        pages_days=cfg.get("retention.pages_days"),
        sightings_days=cfg.get("retention.sightings_days"),
        candidates_days=cfg.get("retention.candidates_days"),
    )



TOR_KEYS = ("mode", "socks", "control", "control_password_file", "binary", "torrc_extra",
            "bootstrap_timeout_s", "newnym_after")


def tor_settings(cfg: Config) -> TorSettings:
    """The [tor] section as TorSettings; a bad value is a VahtiError naming the setting."""
    # imported here: stem and the spiders are for commands that use tor, not for
    # every command that opens the database (search, status, enroll)
    from vahti.spiders.torctl import TorConfigError, build_tor_settings

    try:
        return build_tor_settings(
            cfg.home,
            {key: cfg.get(f"tor.{key}") for key in TOR_KEYS},
            {key: cfg.origins[f"tor.{key}"] for key in TOR_KEYS},
        )
    except TorConfigError as exc:
        raise VahtiError(str(exc)) from None
