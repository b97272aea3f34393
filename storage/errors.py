"""Storage errors. Messages name hosts, files and key ids, never credentials or data."""


class StorageError(Exception):
    """The database cannot be used as asked."""

    exit_code = 2


class StorageUnavailable(StorageError):
    """The server could not be reached or started."""


class KeyMismatch(StorageError):
    """The database was written with another key: every lookup would silently miss."""

    def __init__(self, stored: str, given: str) -> None:
        super().__init__(
            f"this database was written with key id {stored}, but the key in use has id {given}: "
            "scanning with it would silently find nothing. Use the original key "
            "(VAHTI_KEY_FILE) or another database."
        )
        self.stored = stored
        self.given = given


class SchemaTooNew(StorageError):
    """The database was written by a newer vahti."""


class MigrationNeedsKey(StorageError):
    """An older schema whose migration needs the key, opened without it."""
