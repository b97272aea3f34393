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

import threading
from collections.abc import Sequence

import numpy as np
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from . import native
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
        self._local = threading.local()  # one encryptor per thread
        l_block = self._ecb(bytes(_BLOCK))
        self._k1 = _dbl(l_block)
        self._k2 = _dbl(self._k1)
        self._k1_arr = np.frombuffer(self._k1, dtype=np.uint8)
        self._k2_arr = np.frombuffer(self._k2, dtype=np.uint8)

    def __repr__(self) -> str:  # never the subkey
        return "Digester()"

    def _ecb(self, data: bytes) -> bytes:
        # ECB keeps no state between blocks, so one encryptor serves every call
        # (creating a context costs more than encrypting a small batch).
        enc = getattr(self._local, "encryptor", None)
        if enc is None:
            enc = self._local.encryptor = self._cipher.encryptor()
        return enc.update(data)

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
        """Digests of many values -> (n, 16) uint8, in input order."""
        n = len(canonicals)
        if n == 0:
            return np.zeros((0, DIGEST_BYTES), dtype=np.uint8)
        # One encode for all values; NUL separators give the offsets (values never
        # hold NUL in practice; if one does, encode them one by one).
        joined = "\x00".join(canonicals).encode("utf-8") + b"\x00"
        flat = np.frombuffer(joined, dtype=np.uint8)
        ends = np.flatnonzero(flat == 0)
        if len(ends) != n:
            encoded = [c.encode("utf-8") for c in canonicals]
            lengths = np.fromiter(map(len, encoded), np.int64, n)
            flat = np.frombuffer(b"".join(encoded) + b"\x00", dtype=np.uint8)
            offsets = np.cumsum(lengths) - lengths
        else:
            offsets = np.concatenate(([0], ends[:-1] + 1))
            lengths = ends - offsets
        return self.digest_packed(id_type, flat, offsets, lengths)

    def digest_packed(
        self, id_type: str, flat: np.ndarray, offsets: np.ndarray, lengths: np.ndarray
    ) -> np.ndarray:
        """Digests of UTF-8 values packed in `flat` (uint8): value i is the `lengths[i]`
        bytes at `offsets[i]` -> (n, 16) uint8, in that order."""
        if not len(offsets):
            return np.zeros((0, DIGEST_BYTES), dtype=np.uint8)
        lib = native.lib
        if lib is not None:  # the messages straight from `flat` (no (n, width) copy)
            prefix = id_type.encode("ascii") + b"\x00"
            return self._cbc(len(offsets), *lib.cmac_prepare_packed(
                np.ascontiguousarray(flat, dtype=np.uint8),
                np.ascontiguousarray(offsets, dtype=np.int64),
                np.ascontiguousarray(lengths, dtype=np.int64), prefix, self._k1, self._k2))
        return self._digest_gathered(id_type, flat, offsets, lengths)

    def _digest_gathered(
        self, id_type: str, flat: np.ndarray, offsets: np.ndarray, lengths: np.ndarray
    ) -> np.ndarray:
        """`digest_packed` through an (n, longest value) array of rows (numpy)."""
        if not len(offsets):
            return np.zeros((0, DIGEST_BYTES), dtype=np.uint8)
        if not len(flat):
            flat = np.zeros(1, dtype=np.uint8)
        width = max(1, int(lengths.max()))
        idx = np.minimum(offsets[:, None] + np.arange(width), len(flat) - 1)
        return self.digest_rows(id_type, flat[idx], lengths)

    def digest_rows(self, id_type: str, values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Digests of values given as rows of an (n, W) uint8 array, row i holding
        `lengths[i]` bytes (the rest is ignored) -> (n, 16) uint8, in row order.

        Variable-length CMAC without a Python loop over rows: every row is padded
        and keyed (K1/K2) on its own, rows are sorted by block count so that each
        CBC step is one ECB call over the rows that still have a block.
        """
        n = len(values)
        if n == 0:
            return np.zeros((0, DIGEST_BYTES), dtype=np.uint8)
        prefix = id_type.encode("ascii") + b"\x00"
        lib = native.lib
        if lib is not None:
            values = np.ascontiguousarray(values, dtype=np.uint8)
            return self._cbc(n, *lib.cmac_prepare(
                values, values.shape[1], np.ascontiguousarray(lengths, dtype=np.int64),
                prefix, self._k1, self._k2))
        return self._cbc(n, *self._messages(prefix, values, lengths))

    def _cbc(self, n: int, order: np.ndarray | bytes, active: np.ndarray | bytes,
             msgs: np.ndarray | bytes) -> np.ndarray:
        """CMAC's CBC over the messages of `_messages` (or `cmac_prepare`, as bytes):
        one ECB call per block position -> (n, 16) uint8, in the values' order."""
        lib = native.lib
        if isinstance(order, bytes) and lib is not None:  # the XORs in C, on bytes
            nb = len(active) // 8
            states, prev = [], None
            for i, m in enumerate(np.frombuffer(active, np.int64).tolist()):
                prev = self._ecb(lib.cmac_cbc_block(prev, msgs, nb, i, m))
                states.append(prev)
            return np.frombuffer(lib.cmac_cbc_finish(states, active, order),
                                 np.uint8).reshape(n, _BLOCK)
        if isinstance(order, bytes):
            order = np.frombuffer(order, np.int64)
            active = np.frombuffer(active, np.int64)
            msgs = np.frombuffer(msgs, np.uint8).reshape(n, len(active) * _BLOCK)
        assert isinstance(active, np.ndarray) and isinstance(msgs, np.ndarray)
        state = np.zeros((n, _BLOCK), dtype=np.uint8)
        for i in range(len(active)):
            m = int(active[i])
            block = state[:m] ^ msgs[:m, i * _BLOCK : (i + 1) * _BLOCK]
            out = self._ecb(block.tobytes())
            state[:m] = np.frombuffer(out, dtype=np.uint8).reshape(m, _BLOCK)
        result = np.empty_like(state)
        result[order] = state
        return result

    def _messages(self, prefix_bytes: bytes, values: np.ndarray,
                  lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The CMAC messages of `digest_rows`, in numpy (the twin of the C
        `cmac_prepare`): rows ordered by block count, most first (`order`); active[b]
        rows have more than b blocks; each row padded and its last block keyed."""
        n = len(values)
        prefix = np.frombuffer(prefix_bytes, dtype=np.uint8)
        p = len(prefix)
        total = np.asarray(lengths, dtype=np.int64) + p
        nblocks = np.maximum(1, -(-total // _BLOCK))
        # Messages are built in that order (most blocks first), so rows with the same
        # block count are one slice (for the key of their last block).
        order = np.argsort(-nblocks, kind="stable")
        total, nb = total[order], nblocks[order]
        width = int(nb[0]) * _BLOCK
        msgs = np.zeros((n, width), dtype=np.uint8)
        msgs[:, :p] = prefix
        w = min(values.shape[1], width - p)
        msgs[:, p : p + w] = values[order, :w]
        msgs *= np.arange(width)[None, :] < total[:, None]  # zero past each message
        padded = total % _BLOCK != 0
        rows = np.flatnonzero(padded)
        msgs[rows, total[rows]] = 0x80
        keys = np.where(padded[:, None], self._k2_arr, self._k1_arr)
        # Rows with more than i blocks: the first active[i] (nb is non-increasing).
        active = np.searchsorted(-nb, -np.arange(int(nb[0])), side="left")
        for i in range(int(nb[0])):
            lo = active[i + 1] if i + 1 < len(active) else 0  # rows whose last block is i
            hi = active[i]
            msgs[lo:hi, i * _BLOCK : (i + 1) * _BLOCK] ^= keys[lo:hi]
        return order, active, msgs

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
