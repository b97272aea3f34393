"""Short values vahti must read back but may not keep in the clear: HTTP entity tags.

A page record keeps the server's ETag to send it back in `If-None-Match`. Many
servers make the ETag a plain hash of the body (Django's ConditionalGetMiddleware
MD5, Express and Werkzeug SHA-1, Rails MD5): for a small or templated page it gives
the identifier back by brute force exactly like a stored plain SHA-256 (see
matchers/contentid.py). So it is stored sealed: AES-256-GCM under the key's subkey
"validators", a random nonce, as `sealed1:<base64url(nonce + ciphertext)>`.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .keys import Key, derive_subkey

PREFIX = "sealed1:"
NONCE_BYTES = 12
ASSOCIATED = b"vahti http validator v1"


class ValidatorSeal:
    """Seals and opens HTTP validators under one key."""

    def __init__(self, key: Key) -> None:
        self._aead = AESGCM(derive_subkey(key, "validators"))

    def seal(self, value: str) -> str:
        if not value:
            return ""
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, value.encode("utf-8"), ASSOCIATED)
        return PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii")

    def open(self, stored: str) -> str:
        """The value, or "" when `stored` is empty, not sealed or not sealed with this key
        (the page is then fetched unconditionally: nothing is lost but one 304)."""
        if not stored.startswith(PREFIX):
            return ""
        try:
            raw = base64.urlsafe_b64decode(stored[len(PREFIX):])
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:],
                                      ASSOCIATED).decode("utf-8")
        except (ValueError, InvalidTag):
            return ""
