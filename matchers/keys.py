"""The secret key behind every digest and fingerprint.

A 256-bit random key, kept in a file of mode 0600. Only a short key id (a hash
of the key, domain-separated so it reveals nothing usable) ever leaves this
module: it is stored beside digests so that a scan with the wrong key fails
loudly instead of silently finding nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from vahti.matchers.private import private_dir, write_new_private_file

KEY_BYTES = 32
KEY_ID_LABEL = b"vahti key id v1\x00"


class KeyFileError(Exception):
    """A key that cannot be used: missing, unsafe permissions, wrong size."""


@dataclass(frozen=True)
class Key:
    """The secret key. `repr` never shows the secret."""

    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise KeyFileError(f"key must be {KEY_BYTES} bytes, got {len(self.secret)}")

    @property
    def key_id(self) -> str:
        return key_id(self.secret)

    def __repr__(self) -> str:  # never the secret, also not in tracebacks
        return f"Key(id={self.key_id})"

    __str__ = __repr__


def key_id(secret: bytes) -> str:
    """A short public name for a key: 16 hex chars of a labelled SHA-256."""
    return hashlib.sha256(KEY_ID_LABEL + secret).hexdigest()[:16]


def create_key_file(path: Path) -> bool:
    """Write a new random key to `path` (O_EXCL, mode 0600).

    Returns False, changing nothing, when the file already exists: a key is
    never overwritten, because every digest in the database depends on it.
    """
    return write_key_file(path, new_key())


def secret_file_problem(path: Path) -> str | None:
    """Why `path` may not be read as a secret (the key, a password file), or None:
    missing, not a regular file, or accessible by group or others (as ssh refuses)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return f"{path} does not exist"
    except OSError as exc:
        return f"cannot read {path} ({exc.strerror})"
    if not stat.S_ISREG(st.st_mode):
        return f"{path} is not a regular file"
    if st.st_mode & 0o077:
        return (f"{path} has mode {stat.S_IMODE(st.st_mode):04o}: it must not be accessible "
                f"by group or others (run `chmod 600 {path}`)")
    return None


def load_key_file(path: Path) -> Key:
    """Read a key file, refusing one that group or others can read (as ssh does)."""
    if not path.exists():
        raise KeyFileError(f"no key at {path}: run `vahti init` or set VAHTI_KEY_FILE")
    if problem := secret_file_problem(path):
        raise KeyFileError(f"key {problem}")
    return parse_key(path.read_bytes(), f"key {path}")


def parse_key(raw: bytes, what: str) -> Key:
    """A key from its hex text ("#" comment lines, such as a backup's header, and
    whitespace ignored). `what` names where it came from in the error, which never
    repeats the text itself."""
    try:
        secret = bytes.fromhex(key_text(raw))
    except (UnicodeDecodeError, ValueError):
        raise KeyFileError(f"{what} is not a hex-encoded key") from None
    if len(secret) != KEY_BYTES:
        raise KeyFileError(f"{what} holds {len(secret)} bytes, expected {KEY_BYTES}")
    return Key(secret)


def key_text(data: bytes) -> str:
    """The hex of a key file: its lines without "#" comments (a backup's header), so
    that a backup is restored by copying it back. Raises ValueError when not ASCII."""
    lines = data.decode("ascii").splitlines()
    return "".join(line.strip() for line in lines if not line.lstrip().startswith("#"))


def key_file_bytes(key: Key, comment: str = "") -> bytes:
    """A key file's content: an optional comment line (never the secret), then the hex."""
    header = f"# {comment}\n" if comment else ""
    return (header + key.secret.hex() + "\n").encode("ascii")


def write_key_file(path: Path, key: Key, comment: str = "") -> bool:
    """Write `key` to a new file (O_EXCL, mode 0600); False, changing nothing, when the
    file exists: a key file is never overwritten."""
    private_dir(path.parent)
    return write_new_private_file(path, key_file_bytes(key, comment))


def new_key() -> Key:
    return Key(secrets.token_bytes(KEY_BYTES))


def derive_subkey(key: Key, label: str) -> bytes:
    """A 256-bit subkey for one purpose (digests, fragments, ...).

    Separate subkeys keep the uses apart: a fingerprint can never collide with
    a digest, and a new use never weakens an old one.
    """
    return hmac.new(key.secret, b"vahti subkey v1\x00" + label.encode(), hashlib.sha256).digest()
