"""matchers.heap: a scanning process keeps its big buffers for reuse (glibc's mallopt)."""

import json
import os
import platform
import subprocess
import sys

from vahti.matchers import heap

GLIBC = platform.libc_ver()[0] == "glibc"

# Allocate, touch and free an 8 MiB buffer (a range's bytes, its text) five times;
# print the page faults of the last four, and whether the thresholds were set.
_PROBE = """
import json, resource, sys
from vahti.matchers import heap
tuned = heap.keep_big_buffers() if sys.argv[1] == "tune" else False
buf = bytearray(8 << 20); del buf
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    buf = bytearray(8 << 20); del buf
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"tuned": tuned, "faults": faults}))
"""


def _probe(mode: str, env: dict[str, str] | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True,
                         text=True, check=True, env={**os.environ, **(env or {})})
    return json.loads(out.stdout)


def test_a_freed_big_buffer_is_reused_without_faulting_its_pages_in_again():
    clean = {k: "" for k in os.environ if k.startswith("MALLOC_")} | {"GLIBC_TUNABLES": ""}
    tuned = _probe("tune", clean)
    default = _probe("default", clean)
    if not GLIBC:  # mallopt's thresholds are glibc's: elsewhere nothing is set
        assert tuned["tuned"] is False
        return
    assert tuned["tuned"] is True
    # an 8 MiB buffer is 2,048 pages: glibc's default maps (some of) them afresh (2,016
    # faults here on Debian 12's glibc 2.36), the kept heap none
    assert default["faults"] > 1000, default
    assert tuned["faults"] < 200, tuned


def test_an_operator_tuned_malloc_is_left_alone():
    assert _probe("tune", {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"})["tuned"] is False
    assert _probe("tune", {"MALLOC_ARENA_MAX_": "2", "GLIBC_TUNABLES": ""})["tuned"] is False


def test_operator_tuned_reads_glibc_tunables_and_malloc_variables():
    assert not heap.operator_tuned({})
    assert not heap.operator_tuned({"GLIBC_TUNABLES": "glibc.rtld.optional_static_tls=1"})
    assert heap.operator_tuned({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=1"})
    assert heap.operator_tuned({"MALLOC_TOP_PAD_": "1"})
    assert not heap.operator_tuned({"MALLOC": "x"})  # not one of glibc's variables


def test_the_thresholds_are_set_once_per_process(monkeypatch):
    calls = []
    monkeypatch.setattr(heap, "_state", [])
    monkeypatch.setattr(heap, "_set_thresholds", lambda: calls.append(1) or True)
    assert heap.keep_big_buffers() and heap.keep_big_buffers()
    assert calls == [1]


def test_a_scanner_keeps_big_buffers(monkeypatch):
    from vahti.matchers.engine import Scanner
    from vahti.matchers.index import IndexBuilder
    from vahti.matchers.keys import Key

    calls = []
    monkeypatch.setattr(heap, "keep_big_buffers", lambda: calls.append(1) or True)
    key = Key(bytes(range(32)))
    Scanner(IndexBuilder(key).build(), key)
    assert calls == [1]
