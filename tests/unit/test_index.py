import secrets

import numpy as np
import pytest

from vahti.matchers.digest import digest, to_u64
from vahti.matchers.index import IndexBuilder, IndexError_, KeyMismatchError, WatchlistIndex
from vahti.matchers.keys import Key

KEY = Key(bytes(range(32)))


def _build() -> WatchlistIndex:
    b = IndexBuilder(KEY)
    b.add("P1", {"hetu": [digest(KEY, "hetu", "131052-308T")],
                 "phone": [digest(KEY, "phone", "+358401234567")]},
          {"name": [digest(KEY, "name", "matti mäkinen")]},
          np.array([5, 3, 3, 9], dtype=np.uint64))
    b.add("P2", {"hetu": [digest(KEY, "hetu", "010594Y9032")],
                 "phone": [digest(KEY, "phone", "+358401234567")]},  # shared phone
          {}, [np.array([7, 5], dtype=np.uint64), np.array([11], dtype=np.uint64)])
    b.add("Pää", {"email": [digest(KEY, "email", "a@example.fi")]})
    return b.build()


def _keys(t, *values):
    return to_u64(np.stack([np.frombuffer(digest(KEY, t, v), np.uint8) for v in values]))


def test_lookup_and_shared_digests():
    idx = _build()
    where, people = idx.lookup("hetu", _keys("hetu", "999999-999X", "010594Y9032"))
    assert where.tolist() == [1] and [idx.refs[p] for p in people] == ["P2"]
    where, people = idx.lookup("phone", _keys("phone", "+358401234567"))
    assert sorted(idx.refs[p] for p in people) == ["P1", "P2"]
    assert idx.lookup("cpr", _keys("cpr", "x"))[0].size == 0


def test_roundtrip(tmp_path):
    idx = _build()
    idx.save(tmp_path / "ix")
    back = WatchlistIndex.load(tmp_path / "ix", KEY)
    assert list(back.refs) == ["P1", "P2", "Pää"]
    for t in idx.ids:
        assert np.array_equal(back.ids[t][0], idx.ids[t][0])
        assert np.array_equal(back.ids[t][1], idx.ids[t][1])
    assert np.array_equal(back.corroborating_keys("name", 0), idx.corroborating_keys("name", 0))
    assert back.corroborating_keys("name", 1).size == 0
    f = back.fragments
    assert f.record_fp_counts.tolist() == [3, 2, 1]  # distinct fingerprints per record
    assert f.record_people.tolist() == [0, 1, 1]
    assert np.all(np.diff(f.fp_sorted.astype(np.float64)) >= 0)


def test_wrong_key_refused(tmp_path):
    _build().save(tmp_path / "ix")
    other = Key(secrets.token_bytes(32))
    with pytest.raises(KeyMismatchError):
        WatchlistIndex.load(tmp_path / "ix", other)
    with pytest.raises(KeyMismatchError):
        WatchlistIndex.load(tmp_path / "ix").check_key(other)


def test_incomplete_index_refused(tmp_path):
    _build().save(tmp_path / "ix")
    (tmp_path / "ix" / "meta.json").unlink()
    with pytest.raises(IndexError_):
        WatchlistIndex.load(tmp_path / "ix", KEY)


def test_refs_many_gives_each_ref_in_order_also_from_what_it_kept(monkeypatch):
    """`Refs.many` keeps the refs it made (a scan asks for the same people file after
    file); what it returns is the refs in the order asked, also when its store is full
    and starts again."""
    from vahti.matchers import index as index_module
    from vahti.matchers.index import Refs

    names = [f"ref-{i}-{'ä' * (i % 3)}" for i in range(50)]
    refs = Refs.from_list(names)
    rng = np.random.default_rng(1)
    monkeypatch.setattr(index_module, "_REFS_MADE_MAX", 12)
    for _ in range(30):
        people = rng.choice(50, size=rng.integers(0, 10), replace=False)
        assert refs.many(people).tolist() == [names[i] for i in people.tolist()]
        assert refs._n_made == int(refs._have.sum()) <= 12
    assert refs.many(np.array([3, 3, 7])).tolist() == [names[3], names[3], names[7]]
    assert refs.many(np.array([], dtype=np.int64)).tolist() == []
