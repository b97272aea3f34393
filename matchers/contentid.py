"""Keyed content ids: what vahti stores and shows instead of a plain hash of page bytes.

A plain SHA-256 of a small or templated content (a file holding one identity code,
a "No results for <code>" page) is brute-forced back to the identifier without any
key: the attacker knows the template and enumerates the ~10^8 identity codes. So a
content is named by `HMAC-SHA256(subkey "content", SHA-256(bytes))`, cut to 128
bits (32 hex digits): a PRF of the content, useless without the 256-bit key.

It is keyed over the SHA-256 rather than over the bytes so that hashing can stay
where it is (a thread or worker hashing a big file needs no key) and so that a
stored plain SHA-256 maps to its content id with the key alone: the schema
migration (storage/migrations.py) converts an old database without losing the links
between pages, sightings, candidates and alerts.

A plain SHA-256 leaves vahti only on explicit request (`--share-sha256`, for
matching a dump with other teams) and only for content of at least
`SHARE_MIN_BYTES`; it is printed, never stored.
"""

from __future__ import annotations

import hashlib
import hmac

from .keys import Key, derive_subkey

SUBKEY_LABEL = "content"
ID_HEX_DIGITS = 32  # 128 bits, like the identifier digests
# Below this a plain SHA-256 is withheld even on request: small content is where
# enumeration works (see README "Content ids").
SHARE_MIN_BYTES = 1 << 20


class ContentIds:
    """Content ids under one key. Cheap: one HMAC over a 32-byte digest per content."""

    def __init__(self, key: Key) -> None:
        self._mac = hmac.new(derive_subkey(key, SUBKEY_LABEL), digestmod=hashlib.sha256)

    def of_digest(self, sha256_digest: bytes) -> str:
        """The content id of a content whose raw SHA-256 digest this is."""
        mac = self._mac.copy()
        mac.update(sha256_digest)
        return mac.hexdigest()[:ID_HEX_DIGITS]

    def of_bytes(self, data: bytes) -> str:
        return self.of_digest(hashlib.sha256(data).digest())

    def of_sha256_hex(self, sha256_hex: str) -> str:
        """The content id of a stored plain SHA-256 (the v1 -> v2 migration)."""
        return self.of_digest(bytes.fromhex(sha256_hex))


def shareable_sha256(size: int, sha256_digest: bytes) -> str:
    """The plain SHA-256 (hex) of a content of `size` bytes when it may be shared, else
    "" (withheld: a small content's plain hash gives its identifiers back)."""
    return sha256_digest.hex() if size >= SHARE_MIN_BYTES else ""
