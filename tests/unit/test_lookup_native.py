"""The C hash probe of the watchlist index (`matchers/_native_lookup.c`) gives exactly
the numpy lookup's hits (`index._search`): same positions, same people, same order, for
shared keys (several people with one phone digest), absent keys, empty inputs and the
extreme uint64 values; both agree with a plain dictionary. The C CMAC messages
(`cmac_prepare`) are the numpy ones (`Digester._messages`), and digest_rows either way
is the one-value CMAC; so is digest_packed, whose C messages come from packed values
(`cmac_prepare_packed`)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from vahti.matchers import native
from vahti.matchers.index import FragmentArrays, Refs, WatchlistIndex
from vahti.matchers.keys import Key

U64_MAX = 2**64 - 1


def _index(keys: list[int], rng: random.Random) -> WatchlistIndex:
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    sorted_keys = np.array([keys[i] for i in order], dtype=np.uint64)
    people = np.array([rng.randrange(1000) for _ in order], dtype=np.int32)
    empty = np.zeros(0, np.int32)
    fragments = FragmentArrays(np.zeros(0, np.uint64), empty, empty, empty)
    return WatchlistIndex("k", Refs.from_list(["r"] * 1000), {"phone": (sorted_keys, people)},
                          {}, fragments)


def _both(index: WatchlistIndex, queries: np.ndarray):
    lib = native.lib
    assert lib is not None, "the C extension must be built for this test"
    c = index.lookup("phone", queries)
    native.lib = None
    try:
        p = index.lookup("phone", queries)
    finally:
        native.lib = lib
    return c, p


def _expected(index: WatchlistIndex, queries: np.ndarray) -> tuple[list[int], list[int]]:
    sorted_keys, people = index.ids["phone"]
    runs: dict[int, list[int]] = {}
    for k, p in zip(sorted_keys.tolist(), people.tolist(), strict=True):
        runs.setdefault(k, []).append(p)
    where, found = [], []
    for i, q in enumerate(queries.tolist()):
        for p in runs.get(q, []):
            where.append(i)
            found.append(p)
    return where, found


def _key(rng: random.Random) -> int:
    return rng.choice([0, 1, 2, U64_MAX, U64_MAX - 1, 2**63, 2**32, 2**32 - 1,
                       rng.randrange(2**64), rng.randrange(2**64), rng.randrange(64)])


@pytest.mark.parametrize("seed", range(40))
def test_c_probe_is_the_numpy_lookup(seed):
    rng = random.Random(seed)
    distinct = [_key(rng) for _ in range(rng.randint(0, 60))]
    # shared keys: one digest for several people, up to 6 copies
    keys = [k for k in distinct for _ in range(rng.choice([1, 1, 1, 2, 6]))]
    index = _index(keys, rng)
    pool = distinct + [_key(rng) for _ in range(20)]
    queries = np.array([rng.choice(pool) for _ in range(rng.randint(0, 200))]
                       if pool else [], dtype=np.uint64)
    (cw, cp), (pw, pp) = _both(index, queries)
    assert cw.dtype == pw.dtype == np.int64 and cp.dtype == pp.dtype == np.int64
    assert cw.tolist() == pw.tolist() and cp.tolist() == pp.tolist()
    assert (cw.tolist(), cp.tolist()) == _expected(index, queries)


def test_colliding_tags_and_slots_are_told_apart():
    """Keys equal in their low 32 bits (the slot's tag) and a table almost full."""
    rng = random.Random(7)
    keys = [(hi << 32) | 5 for hi in range(300)] + [U64_MAX, 0]
    index = _index(keys, rng)
    queries = np.array([(hi << 32) | 5 for hi in range(0, 400, 3)] + [5, U64_MAX, 0, 1],
                       dtype=np.uint64)
    (cw, cp), (pw, pp) = _both(index, queries)
    assert cw.tolist() == pw.tolist() and cp.tolist() == pp.tolist()
    assert (cw.tolist(), cp.tolist()) == _expected(index, queries)
    assert len(cw) == len(range(0, 300, 3)) + 3  # 5 is (0 << 32) | 5, then U64_MAX and 0


def test_the_table_is_built_once_per_index_and_type():
    from vahti.matchers import index as index_mod

    index = _index([3, 3, 9], random.Random(1))
    index.lookup("phone", np.array([3], np.uint64))
    table = index_mod._PROBE_TABLES[index]["phone"]
    index.lookup("phone", np.array([9, 4], np.uint64))
    assert index_mod._PROBE_TABLES[index]["phone"] is table


def test_prepare_builds_the_tables_a_lookup_then_uses():
    """`prepare` (before scan workers fork, so that they inherit the tables) builds what the
    first lookup would: the same table, used by later lookups; unknown types are ignored."""
    from vahti.matchers import index as index_mod

    index = _index([3, 3, 9], random.Random(1))
    index.prepare(["phone", "hetu"])
    table = index_mod._PROBE_TABLES[index]["phone"]
    assert list(index_mod._PROBE_TABLES[index]) == ["phone"]
    fresh = _index([3, 3, 9], random.Random(1))
    fresh.lookup("phone", np.array([3], np.uint64))
    assert index_mod._PROBE_TABLES[fresh]["phone"] == table
    index.lookup("phone", np.array([9, 4], np.uint64))
    assert index_mod._PROBE_TABLES[index]["phone"] is table


def test_bad_tables_are_refused():
    lib = native.lib
    assert lib is not None
    keys = np.array([1, 2, 3], np.uint64)
    people = np.zeros(3, np.int32)
    with pytest.raises(ValueError):
        lib.lookup_table(np.array([3, 1], np.uint64))
    with pytest.raises(ValueError):
        lib.lookup_probe(b"\0" * 8, keys, people, keys)  # table of the wrong size
    with pytest.raises(ValueError):
        lib.lookup_probe(lib.lookup_table(keys), keys, np.zeros(2, np.int32), keys)
    wrong = np.full(8, (1 << 32) | 50, np.uint64).tobytes()  # positions past the keys
    with pytest.raises(ValueError):
        lib.lookup_probe(wrong, keys, people, np.array([1], np.uint64))


# -- the CMAC messages of Digester.digest_rows (cmac_prepare) --------------------------


def _rows(rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    n = rng.choice([1, 2, 5, 40, 300])
    width = rng.choice([1, 5, 11, 14, 15, 16, 17, 31, 32, 33, 40])
    values = np.array([[rng.randrange(256) for _ in range(width)] for _ in range(n)],
                      dtype=np.uint8).reshape(n, width)
    # lengths up to past the row (bytes past the row are zeros), 0 included
    lengths = np.array([rng.choice([0, width, width + 3, rng.randint(0, width)])
                        for _ in range(n)], dtype=np.int64)
    return values, lengths


@pytest.mark.parametrize("seed", range(30))
def test_c_messages_are_the_numpy_messages(seed):
    from vahti.matchers.digest import Digester

    rng = random.Random(seed)
    d = Digester(Key(bytes(range(32))))
    values, lengths = _rows(rng)
    id_type = rng.choice(["phone", "email", "x", "birth_date"])
    lib = native.lib
    assert lib is not None
    order, active, msgs = lib.cmac_prepare(values, values.shape[1], lengths,
                                           id_type.encode() + b"\x00", d._k1, d._k2)
    p_order, p_active, p_msgs = d._messages(id_type.encode() + b"\x00", values, lengths)
    assert np.frombuffer(order, np.int64).tolist() == p_order.tolist()
    assert np.frombuffer(active, np.int64).tolist() == p_active.tolist()
    assert msgs == p_msgs.tobytes()
    # and digest_rows, either way, is the one-value CMAC of each row
    c = d.digest_rows(id_type, values, lengths)
    native.lib = None
    try:
        p = d.digest_rows(id_type, values, lengths)
    finally:
        native.lib = lib
    assert np.array_equal(c, p)
    for i in rng.sample(range(len(values)), min(5, len(values))):
        row = bytes(values[i, : lengths[i]]) + bytes(max(0, int(lengths[i]) - values.shape[1]))
        assert bytes(c[i]) == _cmac(d, id_type, row)


def _cmac(d, id_type: str, value: bytes) -> bytes:  # noqa: ANN001
    from cryptography.hazmat.primitives import cmac
    from cryptography.hazmat.primitives.ciphers import algorithms

    c = cmac.CMAC(algorithms.AES(d._subkey))
    c.update(id_type.encode("ascii") + b"\x00" + value)
    return c.finalize()


def test_bad_messages_are_refused():
    lib = native.lib
    assert lib is not None
    values = np.zeros((2, 4), np.uint8)
    k = bytes(16)
    with pytest.raises(ValueError):
        lib.cmac_prepare(values, 4, np.array([1, -1], np.int64), b"x\0", k, k)
    with pytest.raises(ValueError):
        lib.cmac_prepare(values, 5, np.array([1, 1], np.int64), b"x\0", k, k)
    with pytest.raises(ValueError):
        lib.cmac_prepare(values, 4, np.array([1, 1], np.int64), b"x\0", k, b"short")


# -- the same messages from packed values (cmac_prepare_packed, Digester.digest_packed) --


@pytest.mark.parametrize("seed", range(20))
def test_packed_digests_are_the_row_digests(seed):
    """digest_packed with C (cmac_prepare_packed reads `flat` where the offsets say:
    values overlapping, out of order, empty, long) is the numpy path and the CMAC."""
    from vahti.matchers.digest import Digester

    rng = random.Random(seed)
    d = Digester(Key(bytes(range(32))))
    flat = np.array([rng.randrange(256) for _ in range(rng.choice([0, 1, 40, 700]))],
                    dtype=np.uint8)
    n = rng.choice([1, 3, 50, 400])
    lengths = np.array([rng.choice([0, 1, 10, 11, 27, 100]) for _ in range(n)], np.int64)
    lengths = np.minimum(lengths, len(flat))
    offsets = np.array([rng.randint(0, len(flat) - int(v)) for v in lengths], np.int64)
    lib = native.lib
    assert lib is not None
    c = d.digest_packed("name", flat, offsets, lengths)
    native.lib = None
    try:
        p = d.digest_packed("name", flat, offsets, lengths)
    finally:
        native.lib = lib
    assert np.array_equal(c, p)
    for i in rng.sample(range(n), min(5, n)):
        value = bytes(flat[offsets[i] : offsets[i] + lengths[i]])
        assert bytes(c[i]) == _cmac(d, "name", value)


def test_bad_packed_values_are_refused():
    lib = native.lib
    assert lib is not None
    flat, k = np.zeros(10, np.uint8), bytes(16)
    for offsets, lengths in (([0, 8], [1, 3]), ([-1], [1]), ([0], [-1]), ([0, 1], [1])):
        with pytest.raises(ValueError):
            lib.cmac_prepare_packed(flat, np.array(offsets, np.int64),
                                    np.array(lengths, np.int64), b"x\0", k, k)



def test_bad_cbc_steps_are_refused():
    """cmac_cbc_block / cmac_cbc_finish (Digester._cbc's XORs) check their sizes."""
    lib = native.lib
    assert lib is not None
    msgs = bytes(2 * 32)  # two messages of two blocks
    assert lib.cmac_cbc_block(None, msgs, 2, 0, 2) == bytes(32)
    for args in ((None, msgs, 2, 1, 2), (bytes(32), msgs, 2, 0, 2), (bytes(16), msgs, 2, 1, 2),
                 (None, msgs, 2, 0, 3), (None, msgs, 3, 0, 1), (None, msgs, 2, 2, 1)):
        with pytest.raises(ValueError):
            lib.cmac_cbc_block(*args)
    active, order = np.array([2, 1], np.int64), np.array([1, 0], np.int64)
    assert lib.cmac_cbc_finish([bytes(32), bytes(range(16))], active, order) == (
        bytes(16) + bytes(range(16)))
    for states, act, ordr in (([bytes(32)], active, order), ([bytes(32), bytes(8)], active, order),
                              ([bytes(32), bytes(16)], active, np.array([1, 2], np.int64)),
                              ([bytes(32), bytes(16)], np.array([1, 2], np.int64), order)):
        with pytest.raises(ValueError):
            lib.cmac_cbc_finish(states, act, ordr)

# -- phone.select's loop over plain ints ------------------------------------------------


def _select_reference(cands, hit: np.ndarray) -> list[int]:  # noqa: ANN001
    """phone.select as it read before (one array element at a time)."""
    if not len(hit):
        return []
    hit = np.unique(hit)
    hit = hit[np.lexsort((-cands.ngroups[hit], cands.groups[hit]))]
    first = np.ones(len(hit), bool)
    first[1:] = cands.groups[hit][1:] != cands.groups[hit][:-1]
    hit = hit[first]
    hit = hit[np.argsort(cands.starts[hit], kind="stable")]
    out, last_end = [], -1
    for i in hit.tolist():
        if cands.starts[i] >= last_end:
            out.append(i)
            last_end = int(cands.ends[i])
    return out


@pytest.mark.parametrize("spread", [200, 100_000])  # overlaps, and (mostly) none at all
@pytest.mark.parametrize("seed", range(30))
def test_phone_select_keeps_the_longest_reading_and_no_overlap(seed, spread):
    from vahti.matchers.detectors import phone

    rng = random.Random(seed)
    n = rng.randint(0, 80)
    starts = np.array([rng.randrange(spread) for _ in range(n)], np.int64)
    ends = starts + np.array([rng.randint(1, 20) for _ in range(n)], np.int64)
    groups = np.array([rng.randrange(max(1, n // 3)) for _ in range(n)], np.int64)
    ngroups = np.array([rng.randint(1, 4) for _ in range(n)], np.int64)
    cands = phone.Candidates(starts, ends, np.zeros((n, 16), np.uint8),
                             np.zeros(n, np.int64), groups, ngroups)
    hit = np.array([rng.randrange(n) for _ in range(rng.randint(0, 2 * n))] if n else [],
                   np.int64)
    got = phone.select(cands, hit)
    assert got.tolist() == _select_reference(cands, hit)
    # the C mask the scan uses (phone_keep): the same choice, over hit's repeats too
    assert phone.reported(cands, hit).tolist() == np.isin(hit, got).tolist()
    ends_of = ends[got]
    assert (starts[got][1:] >= ends_of[:-1]).all()  # no reading inside an earlier one


def test_phone_keep_refuses_a_hit_outside_the_candidates():
    lib = native.lib
    assert lib is not None, "the C extension must be built for this test"
    cols = [np.arange(3, dtype=np.int64)] * 4
    for hit in ([3], [-1]):
        with pytest.raises(ValueError, match="outside"):
            lib.phone_keep(*cols, np.array(hit, np.int64))
    assert lib.phone_keep(*cols, np.array([0, 2, 2], np.int64)) == b"\x01\x01\x01"
