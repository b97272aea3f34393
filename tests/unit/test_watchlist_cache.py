"""The scan-ready index: boilerplate shared by many records never counts."""

import numpy as np

from matchers.index import IndexBuilder
from matchers.keys import Key
from vahti.watchlist_cache import without_common_fingerprints

KEY = Key(bytes(range(32)))


def test_fingerprints_shared_by_many_records_are_dropped():
    builder = IndexBuilder(KEY)
    shared = np.array([1, 2, 3], dtype=np.uint64)
    for i in range(6):
        own = np.array([100 + i * 10 + j for j in range(4)], dtype=np.uint64)
        fps = np.concatenate([shared, own]) if i < 5 else np.concatenate([shared[:1], own])
        builder.add(f"R{i}", {"hetu": [bytes([i]) * 16]}, None, fps)
    arrays = without_common_fingerprints(builder.build().fragments, max_records=3)
    assert not np.isin(shared, arrays.fp_sorted).any()  # in 5 or 6 records
    assert arrays.record_fp_counts.tolist() == [4] * 6
    assert np.all(np.diff(arrays.fp_sorted.astype(np.float64)) >= 0)
    assert len(arrays.fp_record) == 24
