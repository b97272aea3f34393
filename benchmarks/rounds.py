"""Timing in rounds, for the benchmarks that compare figures run in one process.

On a shared machine the load drifts: a figure and its baseline measured minutes apart
see different machines. Run in rounds (one call of each function, in turn, `runs`
times), each round's calls see about the same one, and ratios taken within a round are
steadier than ratios of medians.
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from typing import Any


def in_rounds(fns: list[Callable[[], Any]], runs: int
              ) -> list[tuple[list[float], list[float], Any]]:
    """Each of `fns` called `runs` times, in rounds. Per function: its wall seconds and
    its CPU seconds (this process and its children) by round, and its last result."""
    wall: list[list[float]] = [[] for _ in fns]
    cpu: list[list[float]] = [[] for _ in fns]
    results: list[Any] = [None] * len(fns)
    for _ in range(runs):
        for i, fn in enumerate(fns):
            r0, c0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
                resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            results[i] = fn()
            wall[i].append(time.perf_counter() - t0)
            r1, c1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
                resource.RUSAGE_CHILDREN)
            cpu[i].append(sum(b.ru_utime - a.ru_utime + b.ru_stime - a.ru_stime
                              for a, b in ((r0, r1), (c0, c1))))
    return list(zip(wall, cpu, results, strict=True))


def ratio(base: list[float], other: list[float]) -> float:
    """The median of the rounds' ratios base / other (how many times faster `other` is):
    steadier on a shared machine than a ratio of medians."""
    return statistics.median(b / o for b, o in zip(base, other, strict=True))
