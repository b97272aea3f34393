"""Instructions one scan executes, counted by valgrind (callgrind): a figure that the load
of a shared machine does not move, for comparing two versions of the code.

On the machines of December 2026 one and the same scan took 0.87-1.39 s from one run to the
next, and a whole minute's median could move by a third: a change worth 3% cannot be seen
in wall time there. Callgrind counts the instructions of the scan alone (collection is on
only inside the call that runs it, after one scan has warmed the process up), the same in
every run, so two trees are compared exactly. What it cannot see is the cost of memory:
cache misses, page faults (a change that keeps data in the cache, such as making findings a
block at a time, shows in wall time only). Valgrind has no AVX-512, so the plain x86-64
paths of the extension are the ones counted.

    python benchmarks/leak_corpus.py /tmp/c4 --size-mb 4
    python benchmarks/scan_instructions.py /tmp/c4 --index-dir IDX [--tree OTHER] [--modes hetu,all]

Prints, per mode, the instructions of one scan of the corpus with this checkout's code
and, with `--tree`, another checkout's (each with its extension built in place), and the
ratio. The watchlist is the index `engine_density.py --index-dir IDX` keeps.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.engine_density import NOT_CORPUS  # noqa: E402

# Run under valgrind in the tree given: one warm-up scan, then the one counted, inside
# sys.call_tracing (a C function the scan itself never calls: callgrind's toggle).
CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from vahti.matchers.engine import ScanOptions
from vahti.matchers.index import WatchlistIndex
from vahti.matchers.keys import Key
from vahti.matchers.scanfiles import scan_files
idx, corpus, mode = Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
key = Key((idx / "bench.key").read_bytes())
index = WatchlistIndex.load(idx, key)
files = sorted(str(p) for p in corpus.iterdir() if p.name not in set(sys.argv[5:]))
options = ScanOptions(types=frozenset({"hetu"}) if mode == "hetu" else None)
def scan():
    return sum(1 for _ in scan_files(files, index, key, options, jobs=1))
scan()
print(sys.call_tracing(scan, ()))
"""


def instructions(tree: Path, index_dir: Path, corpus: Path, mode: str) -> tuple[int, int]:
    """(instructions, events) of one scan of `corpus` by the code in `tree`."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", "--toggle-collect=sys_call_tracing",
             f"--callgrind-out-file={tmp}/cg.out", sys.executable, "-c", CHILD, str(tree),
             str(index_dir), str(corpus), mode, *NOT_CORPUS],
            capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise SystemExit(f"no instruction count from valgrind:\n{out.stderr[-2000:]}")
    return int(found.group(1)), int(out.stdout.split()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--index-dir", type=Path, required=True)
    ap.add_argument("--tree", type=Path, help="another checkout to compare with")
    ap.add_argument("--modes", default="hetu,all")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    trees = [REPO] + ([args.tree.resolve()] if args.tree else [])
    mb = sum(p.stat().st_size for p in args.corpus.iterdir() if p.name not in NOT_CORPUS) / 1e6
    print(f"{args.corpus}: {mb:.1f} MB; instructions of one warm scan, one job")
    for mode in args.modes.split(","):
        counts = []
        for tree in trees:
            n, events = instructions(tree, args.index_dir, args.corpus, mode)
            counts.append(n)
            print(f"{mode:5} {str(tree):30} {n:15,d} instructions ({n / mb / 1e6:.1f} per byte), "
                  f"{events} events")
        if len(counts) == 2:
            print(f"{mode:5} this / other: {counts[0] / counts[1]:.3f}")
    print(f"(load average {os.getloadavg()[0]:.2f}: it does not move these counts)")


if __name__ == "__main__":
    main()
