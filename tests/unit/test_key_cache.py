"""The cache of corroborating values' keys (`Digester.cached_keys`, `key_cache_*` in
`matchers/_native_corr.c`): scores are the same with a cold cache, a warm one, a cache
of one value, no cache and no C extension; a cache gives each key's own digests (it
belongs to one Digester, one per secret key); and nothing of it can be written out."""

from __future__ import annotations

import os
import pickle
import random

import numpy as np
import pytest

from tests.support.index import synthetic_index
from vahti.demo import synthetic
from vahti.matchers import engine, native
from vahti.matchers.digest import Digester, digester, to_u64
from vahti.matchers.keys import Key

KEY = Key(bytes(range(32)))
OTHER_KEY = Key(bytes(range(1, 33)))


def _rows(people: list[synthetic.Person], rng: random.Random) -> str:
    """Rows whose name and birth date are the row's person's, another person's, or
    missing, so that scores differ from row to row."""
    out = []
    for p in people:
        other = rng.choice(people)
        name = rng.choice([p.full_name, other.full_name, ""])
        born = rng.choice([p.birth_date, other.birth_date, None])
        date = f"{born.day}.{born.month}.{born.year}" if born else "-"
        out.append(f"{name},{p.hetu},{date}\n" + "x" * rng.randint(0, 500) + "\n")
    return "".join(out)


def _scan(index, text: str) -> list[engine.Finding]:  # noqa: ANN001
    scanner = engine.Scanner(index, KEY, engine.ScanOptions(types=frozenset({"hetu"})))
    return scanner.scan_text(text, "x")


def test_scores_are_the_same_with_any_cache(monkeypatch):
    rng = random.Random(5)
    people = synthetic.make_people(40, seed=7)
    index = synthetic_index(KEY, people)
    text = _rows(people, rng) * 2
    d = digester(KEY)  # the one Scanner uses
    d._key_caches.clear()
    cold = _scan(index, text)
    assert d._key_caches, "the scan must have used the cache"
    warm = _scan(index, text)
    monkeypatch.setattr(d, "key_cache_values", 1)
    d._key_caches.clear()
    one = _scan(index, text)
    monkeypatch.setattr(d, "key_cache_values", 0)
    d._key_caches.clear()
    off = _scan(index, text)
    assert not d._key_caches
    monkeypatch.setattr(native, "lib", None)
    python = _scan(index, text)
    assert cold == warm == one == off == python
    assert len(cold) == 80 and len({f.score for f in cold}) > 2  # corroboration counts


def _packed(values: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    encoded = [v.encode() for v in values]
    lengths = np.array([len(e) for e in encoded], np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.frombuffer(b"".join(encoded) + b"\0", np.uint8), offsets, lengths


@pytest.mark.parametrize("bound", [1, 2, 1 << 18])
def test_cached_keys_are_each_keys_own_digests(bound):
    """Values repeated, in two calls, with caches of every size: always the digests of
    the Digester's own key (a cache never serves another key's)."""
    assert native.lib is not None, "the C extension must be built for this test"
    rng = random.Random(bound)
    words = ["anna virtanen", "1980-02-01", "", "mäkelä", "x" * 40, "jean’luc o'brien"]
    mine, other = Digester(KEY), Digester(OTHER_KEY)
    mine.key_cache_values = other.key_cache_values = bound
    for _ in range(3):
        flat, offsets, lengths = _packed([rng.choice(words) for _ in range(rng.randint(1, 30))])
        for d in (mine, other):
            expected = to_u64(d.digest_packed("name", flat, offsets, lengths))
            assert np.array_equal(d.cached_keys("name", flat, offsets, lengths), expected)
            assert np.array_equal(d.cached_keys("name", flat, offsets, lengths), expected)
        # and a type's keys are not another type's
        assert np.array_equal(mine.cached_keys("birth_date", flat, offsets, lengths),
                              to_u64(mine.digest_packed("birth_date", flat, offsets, lengths)))
    assert not np.array_equal(mine.cached_keys("name", flat, offsets, lengths),
                              other.cached_keys("name", flat, offsets, lengths))


def test_the_cache_is_never_written(tmp_path, monkeypatch):
    """The cache cannot be pickled (nor its Digester), shows in no repr, and a scan
    that fills it leaves no file behind."""
    monkeypatch.chdir(tmp_path)
    people = synthetic.make_people(10, seed=2)
    index = synthetic_index(KEY, people)
    d = digester(KEY)
    d._key_caches.clear()
    _scan(index, _rows(people, random.Random(1)))
    assert d._key_caches
    for cache in d._key_caches.values():
        with pytest.raises((TypeError, pickle.PicklingError)):
            pickle.dumps(cache)
    with pytest.raises((TypeError, pickle.PicklingError)):
        pickle.dumps(d)
    assert repr(d) == "Digester()"
    assert os.listdir(tmp_path) == []


def test_bad_cache_arguments_are_refused():
    lib = native.lib
    assert lib is not None, "the C extension must be built for this test"
    with pytest.raises(ValueError):
        lib.key_cache_new(0)
    cache = lib.key_cache_new(4)
    flat = np.zeros(4, np.uint8)
    one = np.array([1], np.int64)
    with pytest.raises(ValueError):
        lib.key_cache_get(cache, flat, np.array([4], np.int64), one)
    with pytest.raises(ValueError):
        lib.key_cache_put(cache, flat, np.array([0], np.int64), one, b"short")
    with pytest.raises((TypeError, ValueError)):
        lib.key_cache_get(object(), flat, np.array([0], np.int64), one)
