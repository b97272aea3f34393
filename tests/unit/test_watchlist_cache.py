"""The scan-ready index: boilerplate shared by many records never counts; an open
write whose writer is gone counts as interrupted."""

import os
import socket
import subprocess
from datetime import timedelta

import numpy as np

from vahti.matchers.index import IndexBuilder
from vahti.matchers.keys import Key
from vahti.storage.clock import now
from vahti.storage.watchlist import STALE_WRITE, OpenWrite
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


def test_an_open_write_is_interrupted_when_its_process_is_gone_or_it_fell_silent():
    host, at = socket.gethostname(), now()
    finished = subprocess.Popen(["true"])
    finished.wait()
    dead = OpenWrite("t1", f"{host}:{finished.pid}:abc", at, at)
    assert dead.interrupted(at, host)
    mine = OpenWrite("t2", f"{host}:{os.getpid()}:abc", at, at)
    assert not mine.interrupted(at, host)
    # a writer on another host cannot be asked: silence longer than any batch decides
    remote = OpenWrite("t3", f"elsewhere:{finished.pid}:abc", at, at)
    assert not remote.interrupted(at + STALE_WRITE - timedelta(seconds=1), host)
    assert remote.interrupted(at + STALE_WRITE + timedelta(seconds=1), host)
    assert remote.host == "elsewhere"
