"""Retained candidates and the local candidate index against the real test server."""

from __future__ import annotations

import numpy as np
import pytest

from vahti.storage import candidate_index, candidates, schema
from vahti.storage.candidates import CandidateSet

pytestmark = pytest.mark.integration


def keys(*values: int) -> np.ndarray:
    return np.array(sorted(values), dtype=np.uint64)


def test_store_is_once_per_content_and_split_at_the_document_limit(storage, monkeypatch):
    monkeypatch.setattr(candidates, "MAX_DOC_KEYS", 3)
    written = candidates.store(storage, [
        CandidateSet("a" * 32, {"hetu": keys(1, 2, 3, 4), "email": keys(9)}),
        CandidateSet("b" * 32, {}),
    ])
    assert written == 4  # hetu in two parts, email, and the empty page's marker
    assert candidates.store(storage, [CandidateSet("a" * 32, {"hetu": keys(5)})]) == 0
    docs = list(candidates.iter_docs(storage))
    assert sorted((d.id_type, d.keys.tolist()) for d in docs) == [
        ("email", [9]), ("hetu", [1, 2, 3]), ("hetu", [4])]
    assert candidates.retained_content_ids(storage, ["a" * 32, "b" * 32, "c" * 32]) == {
        "a" * 32, "b" * 32}


def test_index_sees_new_documents_and_drops_removed_ones(storage, tmp_path, monkeypatch):
    big = 2**63 + 5  # keys use the whole unsigned range
    candidates.store(storage, [CandidateSet("a" * 32, {"hetu": keys(10, 20, big)})])
    first = candidate_index.load(storage, tmp_path)
    assert first.n_keys == 3 and (tmp_path / "cache" / "candidates").is_dir()
    # written after the cache: found from the database, beside the cache
    candidates.store(storage, [CandidateSet("b" * 32, {"hetu": keys(20, 30)})])
    index = candidate_index.load(storage, tmp_path)
    assert len(index.fresh.keys) == 2 and index.n_keys == 5
    hits = index.lookup(keys(20, 30, big, 99))
    found = candidates.describe(storage, [h.oid for h in hits])
    by_key = sorted((int(keys(20, 30, big, 99)[h.position]), found[h.oid][0][0]) for h in hits)
    assert by_key == [(20, "a"), (20, "b"), (30, "b"), (big, "a")]
    # a rewritten cache holds everything; a rebuild after retention removed documents
    candidate_index.REWRITE_MIN_KEYS, saved = 0, candidate_index.REWRITE_MIN_KEYS
    try:
        rewritten = candidate_index.load(storage, tmp_path)
    finally:
        candidate_index.REWRITE_MIN_KEYS = saved
    assert len(rewritten.base.keys) == 5 and not len(rewritten.fresh.keys)
    again = candidate_index.load(storage, tmp_path)  # from the cache, nothing fresh
    assert len(again.base.keys) == 5 and not len(again.fresh.keys)
    storage.db[schema.CANDIDATES].delete_many({"content_id": "a" * 32})
    assert candidate_index.load(storage, tmp_path).n_keys == 5  # counted once an hour
    monkeypatch.setattr(candidate_index, "SHRINK_CHECK_S", 0)
    rebuilt = candidate_index.load(storage, tmp_path)
    assert rebuilt.n_keys == 2
    assert [h.position for h in rebuilt.lookup(keys(10, 30))] == [1]


def test_a_damaged_cache_is_rebuilt(storage, tmp_path):
    candidates.store(storage, [CandidateSet("a" * 32, {"email": keys(7)})])
    candidate_index.load(storage, tmp_path)
    (candidate_index.cache_dir(storage, tmp_path) / "keys.npy").write_bytes(b"junk")
    assert [h.position for h in candidate_index.load(storage, tmp_path).lookup(keys(7))] == [0]


def test_removed_keys_are_gone_from_documents_and_from_every_cache(storage, tmp_path):
    candidates.store(storage, [
        CandidateSet("a" * 64, {"hetu": keys(1, 2, 3), "fragment": keys(10, 11, 12, 13, 14)}),
        CandidateSet("b" * 64, {"hetu": keys(2, 5), "fragment": keys(10, 20)}),
    ])
    homes = [tmp_path / "here", tmp_path / "another machine"]
    for home in homes:  # caches built before the removal
        assert candidate_index.load(storage, home).n_keys == 12
    removal = candidates.remove_keys(
        storage, {"hetu": keys(2, 3), "fragment": keys(10, 11, 12, 13)}, min_shared={"fragment": 4})
    # page b holds only one of the fingerprints: it never held that text, and keeps its own
    assert (removal.documents, removal.keys) == (3, 7)
    assert sorted((d.content_id[0], d.id_type, d.keys.tolist())
                  for d in candidates.iter_docs(storage)) == [
        ("a", "fragment", [14]), ("a", "hetu", [1]), ("b", "fragment", [10, 20]),
        ("b", "hetu", [5])]
    for home in homes:
        index = candidate_index.load(storage, home)
        assert [h.position for h in index.lookup(keys(1, 2, 3, 5))] == [0, 3]
        assert index.n_keys == 5 and not len(index.fresh.keys)
        cached = np.load(candidate_index.cache_dir(storage, home) / "keys.npy")
        assert not set(cached.tolist()) & {2, 3, 11, 12, 13}
    # a second pass over what was written since changes nothing
    assert candidates.remove_keys(storage, {"hetu": keys(2)}).documents == 0
