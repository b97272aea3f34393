import secrets

import numpy as np
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import algorithms

from vahti.matchers.digest import digest, digest_many, digest_u64, digester, message, to_u64
from vahti.matchers.keys import Key, derive_subkey

KEY = Key(bytes(range(32)))


def _reference(key: Key, id_type: str, value: str) -> bytes:
    c = cmac.CMAC(algorithms.AES(derive_subkey(key, "digest")))
    c.update(message(id_type, value))
    return c.finalize()


VALUES = ["131052-308T", "", "a", "x" * 10, "x" * 11, "x" * 15, "x" * 16, "x" * 43,
          "matti.meikalainen@example.fi", "äö" * 20, "+358401234567"]


def test_single_is_cmac():
    for v in VALUES:
        assert digest(KEY, "hetu", v) == _reference(KEY, "hetu", v)
        assert len(digest(KEY, "hetu", v)) == 16


def test_bulk_equals_single():
    for t in ("hetu", "email", "name"):
        bulk = digest_many(KEY, t, VALUES)
        assert bulk.shape == (len(VALUES), 16) and bulk.dtype == np.uint8
        for row, v in zip(bulk, VALUES, strict=True):
            assert row.tobytes() == digest(KEY, t, v)


def test_fixed_width_hetu_is_one_block():
    codes = ["131052-308T", "010594Y9032", "010594Y9021"]
    assert len(message("hetu", codes[0])) == 16
    arr = np.frombuffer("".join(codes).encode(), dtype=np.uint8).reshape(3, 11)
    out = digester(KEY).digest_fixed("hetu", arr)
    assert [r.tobytes() for r in out] == [digest(KEY, "hetu", c) for c in codes]


def test_u64_and_domain_separation():
    d = digest(KEY, "hetu", "131052-308T")
    assert digest_u64(KEY, "hetu", "131052-308T") == int.from_bytes(d[:8], "little")
    assert to_u64(np.frombuffer(d, np.uint8).reshape(1, 16))[0] == int.from_bytes(d[:8], "little")
    assert digest(KEY, "phone", "123") != digest(KEY, "customer_id", "123")
    other = Key(secrets.token_bytes(32))
    assert digest(other, "hetu", "131052-308T") != d


def test_digest_rows_and_many_match_one_by_one():
    from vahti.matchers.digest import Digester

    d = Digester(Key(bytes(range(32))))
    values = ["", "a", "x" * 10, "y" * 11, "z" * 26, "ä" * 20, "q" * 100, "hello@example.fi"]
    many = d.digest_many("email", values)
    for v, row in zip(values, many, strict=True):
        assert row.tobytes() == d.digest("email", v)
    enc = [v.encode() for v in values]
    rows = np.zeros((len(enc), 200), np.uint8)
    for i, b in enumerate(enc):
        rows[i, : len(b)] = np.frombuffer(b, np.uint8)
        rows[i, len(b):] = 7  # beyond the length: ignored
    lengths = np.array([len(b) for b in enc])
    assert (d.digest_rows("email", rows, lengths) == many).all()


def test_digest_rows_random_lengths_and_orders():
    """Rows of mixed block counts in any order (grouped by block count inside)."""
    import random

    from vahti.matchers.digest import Digester

    d = Digester(Key(bytes(range(32))))
    rng = random.Random(4)
    for _ in range(30):
        n = rng.randint(1, 40)
        vals = [bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 70))) for _ in range(n)]
        rows = np.full((n, 80), 0xAA, np.uint8)
        for i, b in enumerate(vals):
            rows[i, : len(b)] = np.frombuffer(b, np.uint8)
        got = d.digest_rows("phone", rows, np.array([len(b) for b in vals]))
        for b, row in zip(vals, got, strict=True):
            c = cmac.CMAC(algorithms.AES(d._subkey))
            c.update(b"phone\x00" + b)
            assert row.tobytes() == c.finalize()
