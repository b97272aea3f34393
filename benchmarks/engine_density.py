"""The scan engine in process, per corpus directory, against `grep -F -f` in the same run.

For each directory (made by ``benchmarks/leak_corpus.py DIR [--density PER_KB]``, which
also writes the plaintext ``codes.txt``), times at least `--runs` times (medians):

- ``LC_ALL=C grep -F -c -f codes.txt`` over the corpus files (the baseline);
- vahti HETU only, one core; all types + fragments, one core; the same with jobs=2;
- the same scans with the findings as columns (``scan_files(columns=True)``, what
  ``vahti scan --json`` reads: no Finding object per finding);

and prints MB/s, the ratio to grep and the jobs=2 speed-up (with objects, and as
columns: the speed-up `vahti scan --json --jobs 2` sees). ``--profile`` prints
the top of a cProfile of one jobs=1 run per mode instead (where the time goes).
The watchlist is the corpus's enrolled people (`synthetic.make_people(--people,
seed=--seed)`, as leak_corpus makes them), with fragments; it is built once and
kept in ``--index-dir`` when given.

    python benchmarks/leak_corpus.py /tmp/c10 --size-mb 10 --density 1
    python benchmarks/engine_density.py /tmp/c10 [/tmp/c100 ...] [--runs 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.scan_throughput import build_index, timed  # noqa: E402
from vahti.demo import synthetic  # noqa: E402
from vahti.matchers.engine import Scanned, ScanOptions  # noqa: E402
from vahti.matchers.index import WatchlistIndex  # noqa: E402
from vahti.matchers.keys import Key  # noqa: E402
from vahti.matchers.scanfiles import scan_files  # noqa: E402

NOT_CORPUS = {"codes.txt", "register.csv"}
MODES = {"hetu": frozenset({"hetu"}), "all": None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpora", nargs="+", type=Path)
    ap.add_argument("--people", type=int, default=40_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--index-dir", type=Path)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--jobs", default="1,2", help="job counts to time, e.g. 1 or 1,2")
    args = ap.parse_args()

    key_file = args.index_dir / "bench.key" if args.index_dir else None
    if args.index_dir and (args.index_dir / "meta.json").exists() and key_file.exists():
        key = Key(key_file.read_bytes())
        index = WatchlistIndex.load(args.index_dir, key)
    else:
        key = Key(secrets.token_bytes(32))
        index = build_index(key, synthetic.make_people(args.people, seed=args.seed), True)
        if args.index_dir:
            index.save(args.index_dir)
            key_file.write_bytes(key.secret)
    job_counts = [int(j) for j in args.jobs.split(",")]
    grep = shutil.which("grep") or "grep"
    env = dict(os.environ, LC_ALL="C")
    print(f"load average at start: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    for corpus in args.corpora:
        files = sorted(str(p) for p in corpus.iterdir() if p.name not in NOT_CORPUS)
        mb = sum(os.path.getsize(f) for f in files) / 1e6

        def run_grep(corpus: Path = corpus, files: list[str] = files) -> None:
            subprocess.run([grep, "-F", "-c", "-f", str(corpus / "codes.txt"), *files],
                           env=env, capture_output=True, check=False)

        def run(mode: str, jobs: int, files: list[str] = files) -> int:
            opts = ScanOptions(types=MODES[mode])
            return sum(1 for e in scan_files(files, index, key, opts, jobs=jobs)
                       if not isinstance(e, Scanned))

        def run_columns(mode: str, jobs: int, files: list[str] = files) -> int:
            opts = ScanOptions(types=MODES[mode])
            return sum(len(c) for c in scan_files(files, index, key, opts, jobs=jobs,
                                                  columns=True)
                       if not isinstance(c, Scanned))

        print(f"\n{corpus}: {mb:.1f} MB in {len(files)} files")
        if args.profile:
            for mode in MODES:
                prof = cProfile.Profile()
                prof.enable()
                run(mode, 1)
                prof.disable()
                print(f"-- profile, {mode}, jobs=1 (top by own time)")
                pstats.Stats(prof).sort_stats("tottime").print_stats(12)
            continue
        run_grep()  # the page cache
        g_t, _ = timed(run_grep, args.runs)
        print(f"{'run':28} {'median s':>9} {'MB/s':>8} {'findings':>9} {'x grep':>7}")
        print(f"{'grep -F -f codes.txt':28} {g_t:9.3f} {mb / g_t:8.1f} {'-':>9} {1.0:7.2f}")
        t1 = {}
        for mode in MODES:
            for columns in (False, True):
                for jobs in job_counts:
                    scan = run_columns if columns else run
                    t, n = timed(lambda scan=scan, mode=mode, jobs=jobs: scan(mode, jobs),
                                 args.runs)
                    t1[mode, jobs, columns] = t
                    label = f"vahti {mode}, jobs={jobs}" + (", columns" if columns else "")
                    print(f"{label:28} {t:9.3f} {mb / t:8.1f} {n:9d} {g_t / t:7.2f}")
        if {1, 2} <= set(job_counts):
            for columns in (False, True):
                print(f"jobs=2 / jobs=1{' as columns' if columns else ''}: " + ", ".join(
                    f"{mode} {t1[mode, 1, columns] / t1[mode, 2, columns]:.2f}x"
                    for mode in MODES))
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
