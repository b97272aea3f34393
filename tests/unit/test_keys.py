import os
import stat

import pytest

from vahti.matchers.keys import (
    KEY_BYTES,
    Key,
    KeyFileError,
    create_key_file,
    derive_subkey,
    key_file_bytes,
    key_id,
    load_key_file,
    write_key_file,
)


def test_create_is_exclusive_and_private(tmp_path):
    path = tmp_path / "key"
    assert create_key_file(path) is True
    first = path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert create_key_file(path) is False  # never overwritten
    assert path.read_bytes() == first
    key = load_key_file(path)
    assert len(key.secret) == KEY_BYTES


def test_group_or_world_readable_key_is_refused(tmp_path):
    path = tmp_path / "key"
    create_key_file(path)
    for mode in (0o640, 0o604, 0o644):
        os.chmod(path, mode)
        with pytest.raises(KeyFileError, match="must not be accessible by group or others"):
            load_key_file(path)


def test_bad_and_missing_keys(tmp_path):
    with pytest.raises(KeyFileError, match="vahti init"):
        load_key_file(tmp_path / "nope")
    bad = tmp_path / "bad"
    bad.write_text("not hex at all")
    os.chmod(bad, 0o600)
    with pytest.raises(KeyFileError, match="not a hex-encoded key"):
        load_key_file(bad)
    short = tmp_path / "short"
    short.write_text("ab" * 8)
    os.chmod(short, 0o600)
    with pytest.raises(KeyFileError, match="holds 8 bytes, expected 32"):
        load_key_file(short)


def test_key_never_shows_its_secret():
    secret = bytes(range(32))
    key = Key(secret)
    for text in (repr(key), str(key), f"{key}"):
        assert secret.hex() not in text and key.key_id in text
    assert key.key_id == key_id(secret) and len(key.key_id) == 16
    assert secret.hex()[:16] not in key.key_id


def test_subkeys_differ_by_label():
    key = Key(bytes(32))
    assert derive_subkey(key, "digest") != derive_subkey(key, "fragment")
    assert len(derive_subkey(key, "digest")) == 32


def test_a_backup_file_with_its_header_is_read_as_the_key_itself(tmp_path):
    """A backup carries a comment line with the key id; restoring is copying it back."""
    key = Key(bytes(range(32)))
    backup = tmp_path / "backup.key"
    assert write_key_file(backup, key, f"vahti key id {key.key_id} created 2026-01-01")
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    lines = backup.read_text().splitlines()
    assert lines == [f"# vahti key id {key.key_id} created 2026-01-01", key.secret.hex()]
    assert load_key_file(backup).key_id == key.key_id
    assert not write_key_file(backup, Key(bytes(32)))  # never overwritten
    assert load_key_file(backup).key_id == key.key_id
    assert key_file_bytes(key) == (key.secret.hex() + "\n").encode()
