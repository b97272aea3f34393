"""One function of the C extension, this checkout's build against another checkout's, in
the same process.

A change to one C function moves a whole scan by a few per cent at most, which the load
of a shared machine hides (one and the same scan moved by 15-20% from run to run in
December 2026). Here the function's calls are recorded from one scan of the corpus, then
replayed on both builds in turn, `--runs` rounds (`benchmarks/rounds.py`: medians, and
the median of the rounds' ratios, above 1 when this checkout's build is the faster),
after checking that both builds give the same results for every call. Both extensions
are loaded side by side (each from its own checkout's `matchers/`, built in place), so
the calls, their inputs and the process are the same for both.

    python benchmarks/leak_corpus.py /tmp/c40 --size-mb 40
    python benchmarks/native_ab.py phone_candidates /tmp/c40 --index-dir IDX --tree OTHER
        [--mode hetu|all] [--runs 9]

The watchlist is the index `engine_density.py --index-dir IDX` keeps.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import statistics
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.engine_density import NOT_CORPUS  # noqa: E402
from benchmarks.rounds import in_rounds, ratio  # noqa: E402
from vahti.matchers import native  # noqa: E402
from vahti.matchers.engine import ScanOptions  # noqa: E402
from vahti.matchers.index import WatchlistIndex  # noqa: E402
from vahti.matchers.keys import Key  # noqa: E402
from vahti.matchers.scanfiles import scan_files  # noqa: E402


def load_build(tree: Path, tag: str) -> ModuleType:
    """The extension built in `tree`, loaded under a name of its own (`tag`), beside any
    other build of it."""
    found = sorted((tree / "matchers").glob("_native.*.so"))
    if not found:
        sys.exit(f"no extension built in {tree / 'matchers'} (build it in place first)")
    name = f"{tag}._native"  # the module's last name picks its init function
    loader = importlib.machinery.ExtensionFileLoader(name, str(found[0]))
    spec = importlib.util.spec_from_file_location(name, str(found[0]), loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


class _Recorder:
    """native.lib, with the calls of one function recorded (arguments as given)."""

    def __init__(self, lib: ModuleType, name: str) -> None:
        self._lib, self._name = lib, name
        self.calls: list[tuple] = []

    def __getattr__(self, attr: str):  # noqa: ANN204
        target = getattr(self._lib, attr)
        if attr != self._name:
            return target

        def recorded(*args):  # noqa: ANN002, ANN202
            self.calls.append(args)
            return target(*args)
        return recorded


def record_calls(name: str, corpus: Path, index_dir: Path, mode: str) -> list[tuple]:
    """The calls of `name` that one scan of `corpus` makes (one job)."""
    key = Key((index_dir / "bench.key").read_bytes())
    index = WatchlistIndex.load(index_dir, key)
    files = sorted(str(p) for p in corpus.iterdir() if p.name not in NOT_CORPUS)
    options = ScanOptions(types=frozenset({"hetu"}) if mode == "hetu" else None)
    lib = native.lib
    if lib is None or not hasattr(lib, name):
        sys.exit(f"this checkout's extension has no {name}")
    recorder = _Recorder(lib, name)
    native.lib = recorder  # type: ignore[assignment]
    try:
        for _ in scan_files(files, index, key, options, jobs=1):
            pass
    finally:
        native.lib = lib
    return recorder.calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("function", help="a function of the extension, e.g. phone_candidates")
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--index-dir", type=Path, required=True)
    ap.add_argument("--tree", type=Path, required=True, help="the other checkout")
    ap.add_argument("--mode", choices=["hetu", "all"], default="all")
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    calls = record_calls(args.function, args.corpus, args.index_dir, args.mode)
    if not calls:
        sys.exit(f"a scan ({args.mode}) of {args.corpus} makes no call of {args.function}")
    trees = [("this", REPO), ("other", args.tree.resolve())]
    builds = [getattr(load_build(tree, f"ab_{tag}"), args.function) for tag, tree in trees]
    first = [repr(builds[0](*a)) for a in calls]
    if any(repr(builds[1](*a)) != r for a, r in zip(calls, first, strict=True)):
        sys.exit("the two builds give different results")
    def replay(fn):  # noqa: ANN001, ANN202
        return lambda: [fn(*a) for a in calls]
    times = [wall for wall, _, _ in in_rounds([replay(f) for f in builds], args.runs)]
    scan = "a HETU-only scan" if args.mode == "hetu" else "an all-types scan"
    print(f"{args.function}: {len(calls)} calls of {scan} of {args.corpus}, "
          f"the same results from both builds; {args.runs} rounds")
    for (tag, tree), t in zip(trees, times, strict=True):
        print(f"  {tag:5} {str(tree):32} median {statistics.median(t) * 1e3:8.2f} ms  "
              f"min {min(t) * 1e3:8.2f} ms")
    print(f"  other / this: {ratio(times[1], times[0]):.2f}x, the median of the rounds' "
          "ratios (above 1: this checkout's build is the faster)")


if __name__ == "__main__":
    main()
