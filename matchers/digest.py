"""Keyed digests of canonical identifiers: AES-256-CMAC, 16 bytes.

digest = CMAC(subkey, id_type || 0x00 || canonical UTF-8), with the subkey
``derive_subkey(key, "digest")``. The id_type prefix keeps the types apart (a
phone number and a customer id with the same digits digest differently). Like
the HMAC in DESIGN.md, this is a PRF: without the key, the ~10^8 plausible
identity codes cannot be tried.

CMAC rather than HMAC because it vectorises: all messages of one length are
MAC'ed together, one AES-ECB call per block position over the whole batch
(CBC-MAC over columns). A HETU message ("hetu\\0" + 11 characters) is exactly
one block, so a whole chunk's candidates cost a single ECB call.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .keys import Key, derive_subkey

DIGEST_BYTES = 16
SUBKEY_LABEL = "digest"
_BLOCK = 16


def message(id_type: str, canonical: str) -> bytes:
    return id_type.encode("ascii") + b"\x00" + canonical.encode("utf-8")


class Digester:
    """CMAC state for one key: the AES subkey and CMAC's K1/K2, computed once."""

    def __init__(self, key: Key) -> None:
        self._subkey = derive_subkey(key, SUBKEY_LABEL)
        self._cipher = Cipher(algorithms.AES(self._subkey), modes.ECB())
        l_block = self._ecb(bytes(_BLOCK))
        self._k1 = _dbl(l_block)
        self._k2 = _dbl(self._k1)
        self._k1_arr = np.frombuffer(self._k1, dtype=np.uint8)
        self._k2_arr = np.frombuffer(self._k2, dtype=np.uint8)

    def __repr__(self) -> str:  # never the subkey
        return "Digester()"

    def _ecb(self, data: bytes) -> bytes:
        enc = self._cipher.encryptor()
        return enc.update(data) + enc.finalize()

    def digest(self, id_type: str, canonical: str) -> bytes:
        """The 16-byte digest of one value (cryptography's CMAC)."""
        c = cmac.CMAC(algorithms.AES(self._subkey))
        c.update(message(id_type, canonical))
        return c.finalize()

    def digest_messages(self, messages: np.ndarray) -> np.ndarray:
        """CMAC of equal-length messages given as an (n, L) uint8 array -> (n, 16) uint8."""
        n, length = messages.shape
        if n == 0:
            return np.zeros((0, DIGEST_BYTES), dtype=np.uint8)
        nblocks = max(1, -(-length // _BLOCK))
        padded_len = nblocks * _BLOCK
        if length == padded_len:
            blocks = np.array(messages, dtype=np.uint8, copy=True)
            last_key = self._k1_arr
        else:  # 10* padding, then K2 (RFC 4493)
            blocks = np.zeros((n, padded_len), dtype=np.uint8)
            blocks[:, :length] = messages
            blocks[:, length] = 0x80
            last_key = self._k2_arr
        blocks[:, -_BLOCK:] ^= last_key
        state = np.zeros((n, _BLOCK), dtype=np.uint8)
        for i in range(nblocks):
            state ^= blocks[:, i * _BLOCK : (i + 1) * _BLOCK]
            out = self._ecb(np.ascontiguousarray(state).tobytes())
            state = np.frombuffer(out, dtype=np.uint8).reshape(n, _BLOCK).copy()
        return state

    def digest_many(self, id_type: str, canonicals: Sequence[str]) -> np.ndarray:
        """Digests of many values -> (n, 16) uint8, in input order.

        Messages are grouped by block count (not exact length), each row padded
        and keyed (K1 or K2) on its own, so a batch of names costs a few AES calls.
        """
        result = np.zeros((len(canonicals), DIGEST_BYTES), dtype=np.uint8)
        encoded = [message(id_type, c) for c in canonicals]
        groups: dict[int, list[int]] = {}
        for i, m in enumerate(encoded):
            groups.setdefault(max(1, -(-len(m) // _BLOCK)), []).append(i)
        for nblocks, idx in groups.items():
            width = nblocks * _BLOCK
            blocks = np.zeros((len(idx), width), dtype=np.uint8)
            for row, i in enumerate(idx):
                m = encoded[i]
                blocks[row, : len(m)] = np.frombuffer(m, dtype=np.uint8)
                if len(m) == width:
                    blocks[row, -_BLOCK:] ^= self._k1_arr
                else:
                    blocks[row, len(m)] = 0x80
                    blocks[row, -_BLOCK:] ^= self._k2_arr
            result[idx] = self._cbc_mac(blocks)
        return result

    def _cbc_mac(self, blocks: np.ndarray) -> np.ndarray:
        """CBC-MAC over rows of already padded and keyed blocks, one ECB call per column."""
        n, width = blocks.shape
        state = np.zeros((n, _BLOCK), dtype=np.uint8)
        for i in range(width // _BLOCK):
            state ^= blocks[:, i * _BLOCK : (i + 1) * _BLOCK]
            out = self._ecb(state.tobytes())
            state = np.frombuffer(out, dtype=np.uint8).reshape(n, _BLOCK).copy()
        return state

    def digest_fixed(self, id_type: str, canonicals: np.ndarray) -> np.ndarray:
        """Digests of equal-length ASCII canonicals given as an (n, L) uint8 array (hot path)."""
        prefix = np.frombuffer(id_type.encode("ascii") + b"\x00", dtype=np.uint8)
        n = len(canonicals)
        msgs = np.empty((n, len(prefix) + canonicals.shape[1]), dtype=np.uint8)
        msgs[:, : len(prefix)] = prefix
        msgs[:, len(prefix) :] = canonicals
        return self.digest_messages(msgs)


def _dbl(block: bytes) -> bytes:
    """Doubling in GF(2^128), as CMAC's subkey generation needs."""
    v = int.from_bytes(block, "big") << 1
    if v >> 128:
        v = (v & ((1 << 128) - 1)) ^ 0x87
    return v.to_bytes(_BLOCK, "big")


def to_u64(digests: np.ndarray) -> np.ndarray:
    """First 8 bytes of each (n, 16) digest as little-endian uint64 (the in-memory lookup key)."""
    digests = np.ascontiguousarray(digests, dtype=np.uint8).reshape(-1, DIGEST_BYTES)
    return digests[:, :8].copy().view("<u8").reshape(-1).astype(np.uint64, copy=False)


def u64_of(digest_bytes: bytes) -> int:
    return int.from_bytes(digest_bytes[:8], "little")


_DIGESTERS: dict[bytes, Digester] = {}


def digester(key: Key) -> Digester:
    """A cached `Digester` for `key` (deriving the subkey once per process)."""
    d = _DIGESTERS.get(key.secret)
    if d is None:
        d = _DIGESTERS[key.secret] = Digester(key)
    return d


def digest(key: Key, id_type: str, canonical: str) -> bytes:
    """16-byte keyed digest of one canonical value."""
    return digester(key).digest(id_type, canonical)


def digest_many(key: Key, id_type: str, canonicals: Sequence[str]) -> np.ndarray:
    """(n, 16) uint8 digests of many canonical values, vectorised per message length."""
    return digester(key).digest_many(id_type, canonicals)


def digest_u64(key: Key, id_type: str, canonical: str) -> int:
    """First 8 digest bytes as a little-endian unsigned integer."""
    return u64_of(digest(key, id_type, canonical))
