"""Scan throughput: vahti's keyed scan against plaintext `grep -F -f`, in one run.

Two corpora, each printed with its own table:

- **realistic** (the default, first): leak-like text from `benchmarks/leak_corpus.py`,
  dense CSV and SQL dumps (identifiers on every row), forum HTML with entities,
  JSON exports with escapes, chat logs, Finnish/Swedish prose, pastes, with
  non-enrolled decoys;
- **paste**: the earlier paste-like corpus (prose, CSV rows, e-mails, phones, dates,
  numbers, with some enrolled identity codes planted; few identifiers per MB).

A register of `--people` synthetic people is made once; for each corpus, each
figure at least `--runs` times (medians), in one run:

- ``LC_ALL=C grep -F -c -f codes.txt`` over the plaintext identity codes (and
  ``rg -F -c -f`` when ripgrep is installed);
- vahti, HETU only, one core;
- vahti, every identifier type (+ fragments when `matchers.fragments` exists), one core;
- both again with the findings as columns (``scan_files(columns=True)``, what
  ``vahti scan --json`` takes) instead of one `Finding` object each;
- the same with ``jobs=2``, and HETU only with ``jobs=2``, with objects and as columns;
- the ceiling of ``jobs=2`` on this machine (with the jobs=2 runs): one scan of every
  type, one core, in a forked process, against two such scans at once in two forked
  processes. Two independent scans share nothing but the machine (its memory bandwidth
  and caches; two vCPUs may be one core's two threads), so twice the work in the pair's
  time is the most any split of one scan over two processes can gain;
- a diagnostic, not a target: HETU only, one core, with the watchlist's names and birth
  dates left out (no corroboration: each finding scores the base score). Its ratio to
  grep against the plain HETU scan's is what reading the windows of every hit for names
  and dates costs.

The runs go in rounds (grep, then each vahti scan, then grep again, ...): each "x grep"
is the median of the rounds' ratios, and so is each jobs=2 speed-up, which a shared
machine blurs less than ratios of medians measured minutes apart (grep's own median on
the 200 MB corpus ranged 0.64-1.27 s over the sessions of December 2026).

Then a density sweep on the realistic corpus (1 identifier per 10 kB, per 1 kB,
per 100 B; `--sweep-mb` each): grep against vahti HETU-only, one core.
``--profile`` prints cProfile's top entries of one HETU-only, one-core scan of
the realistic corpus.

    python benchmarks/scan_throughput.py [--size-mb 200] [--people 40000] [--runs 3]
        [--corpus realistic|paste|both] [--sweep-mb 20] [--no-sweep] [--profile]
        [--skip-parallel] [--seed 7]

Targets (issue 15, realistic corpus): HETU-only >= 1.5x grep's MB/s; all types +
fragments >= 0.3x grep; jobs=2 >= 1.8x jobs=1. The machine may be shared: the
load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import importlib.util
import os
import pstats
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import leak_corpus  # noqa: E402
from benchmarks.rounds import in_rounds, ratio  # noqa: E402
from vahti.demo import synthetic  # noqa: E402
from vahti.matchers import scanfiles  # noqa: E402
from vahti.matchers.detectors import name as name_detector  # noqa: E402
from vahti.matchers.digest import digest  # noqa: E402
from vahti.matchers.engine import FindingColumns, Scanned, ScanOptions  # noqa: E402
from vahti.matchers.index import IndexBuilder  # noqa: E402
from vahti.matchers.keys import Key  # noqa: E402
from vahti.matchers.scanfiles import scan_files  # noqa: E402

BLOCK_MB = 8


def build_corpus(path: Path, size_mb: int, people: list[synthetic.Person], seed: int) -> int:
    """Write the corpus; returns how many register codes were planted."""
    rng = random.Random(seed)
    lines: list[str] = []
    size = 0
    target = min(size_mb, BLOCK_MB) * 1_000_000
    while size < target:
        line = synthetic.noise_line(rng)
        lines.append(line)
        size += len(line.encode()) + 1
    planted = 0
    total = size_mb * 1_000_000
    written = 0
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        while written < total:
            block = list(lines)
            rng.shuffle(block)
            # About 40 leaked people per block, in the ways a dump writes them.
            for _ in range(40):
                p = rng.choice(people)
                pos = rng.randrange(len(block))
                block[pos] = f"{p.full_name};{p.hetu};{p.email};{p.phone}"
                planted += 1
            data = "\n".join(block) + "\n"
            if written + len(data.encode()) > total:
                data = data.encode()[: total - written].decode("utf-8", "ignore")
            fh.write(data)
            written += len(data.encode())
    return planted


def build_index(key: Key, people: list[synthetic.Person], with_fragments: bool):
    builder = IndexBuilder(key)
    fragments = None
    if with_fragments:
        from vahti.matchers import fragments
    for p in people:
        fps = fragments.text_fingerprints(key, " ".join(p.notes))[0] if fragments else None
        builder.add(
            p.ref,
            {
                "hetu": [digest(key, "hetu", p.hetu)],
                "email": [digest(key, "email", p.email)],
                "phone": [digest(key, "phone", synthetic.e164_fi(p.phone))],
            },
            {
                "name": [
                    digest(key, "name", f) for f in name_detector.enrollment_forms(p.full_name)
                ],
                "birth_date": [digest(key, "birth_date", p.birth_date.isoformat())],
            },
            fps,
        )
    return builder.build()


def timed(fn, runs: int) -> tuple[float, object]:
    """Median wall seconds of `runs` calls, and the last result."""
    ((wall, _, result),) = in_rounds([fn], runs)
    return statistics.median(wall), result


def plaintext_tool(argv: list[str], codes: Path, files: list[Path]):
    """A function running a plaintext search over `files`; returns its count of
    matching lines (per file counts summed)."""
    env = dict(os.environ, LC_ALL="C")

    def run() -> int:
        out = subprocess.run([*argv, str(codes), *map(str, files)], env=env,
                             capture_output=True, text=True, check=False)
        return sum(int(n) for n in out.stdout.split() if n.isdigit())
    return run


def plaintext_tools() -> list[tuple[str, list[str]]]:
    tools = [("grep -F -f (plaintext codes)", [shutil.which("grep") or "grep", "-F", "-c",
                                               "-h", "-f"])]
    if shutil.which("rg"):
        tools.append(("rg -F -f (plaintext codes)", [shutil.which("rg"), "-F", "-c", "-I",
                                                     "--no-config", "-f"]))
    return tools


def vahti_scan(files: list[Path], index, key: Key, splits: dict | None = None):  # noqa: ANN001
    """A function scanning `files` in this process; returns the number of findings."""
    paths = [str(f) for f in files]

    def run(types: frozenset[str] | None, jobs: int, columns: bool = False) -> int:
        opts = ScanOptions(types=types)
        events = scan_files(paths, index, key, opts, jobs=jobs, columns=columns)
        if columns:  # batches of findings, as `vahti scan --json` takes them
            n = sum(len(e) for e in events if type(e) is FindingColumns)
        else:
            n = sum(1 for e in events if not isinstance(e, Scanned))
        scanner = scanfiles._SCANNERS.get(scanfiles.ALL)
        if splits is not None and jobs == 1 and scanner is not None:
            splits["hetu" if types else "all"] = dict(scanner.timings)  # in-process
        return n
    return run


HETU = frozenset({"hetu"})


def side_by_side(scan, n: int):  # noqa: ANN001
    """A function running `n` one-core scans of every type at once, each in a process of
    its own (forked: each shares the index as a worker does); returns `n`."""
    def run() -> int:
        pids = []
        for _ in range(n):
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    scan(None, 1)
                    code = 0
                finally:
                    os._exit(code)
            pids.append(pid)
        if any(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids):
            raise SystemExit("a side-by-side scan failed")
        return n
    return run


def measure(title: str, files: list[Path], codes: Path, index, key: Key,  # noqa: ANN001
            args: argparse.Namespace, have_fragments: bool) -> None:
    """One corpus: the plaintext tools and vahti in rounds; medians, and ratios to grep
    as the median of each round's ratio (`rounds.in_rounds`)."""
    mb = sum(f.stat().st_size for f in files) / 1e6
    splits: dict[str, dict[str, float]] = {}
    scan = vahti_scan(files, index, key, splits)
    tools = [(label, plaintext_tool(argv, codes, files)) for label, argv in plaintext_tools()]
    tools[0][1]()  # warm the page cache
    all_label = "vahti all types" + (" + fragments" if have_fragments else "")
    runs = list(tools)
    runs += [("vahti hetu, 1 core", lambda: scan(HETU, 1)),
             (all_label + ", 1 core", lambda: scan(None, 1)),
             # the same scans with the findings as columns (what `vahti scan --json`
             # takes): no Finding object per finding
             ("vahti hetu, 1 core, columns", lambda: scan(HETU, 1, True)),
             (all_label + ", columns", lambda: scan(None, 1, True))]
    if not args.skip_parallel:
        runs += [("vahti all types, jobs=2", lambda: scan(None, 2)),
                 ("vahti hetu, jobs=2", lambda: scan(HETU, 2)),
                 ("vahti all types, jobs=2, columns", lambda: scan(None, 2, True)),
                 ("vahti hetu, jobs=2, columns", lambda: scan(HETU, 2, True)),
                 ("all types, 1 core, in a forked process", side_by_side(scan, 1)),
                 ("the same, two processes at once (**)", side_by_side(scan, 2))]
    # the diagnostic: the same index without its corroborating names and dates
    bare = copy.copy(index)
    bare.corroborating = {}
    scan_bare = vahti_scan(files, bare, key)
    runs += [("vahti hetu, 1 core, no corroboration (*)", lambda: scan_bare(HETU, 1))]
    timed_runs = [(wall, n) for wall, _, n in in_rounds([fn for _, fn in runs], args.runs)]
    by_label = {label: t for (label, _), t in zip(runs, timed_runs, strict=True)}
    grep_times = timed_runs[0][0]
    print(f"\n== {title}: {mb:.0f} MB in {len(files)} file(s); load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'run':44} {'median s':>9} {'MB/s':>8} {'hits':>8} {'x grep':>7}")
    for (label, _), (times, n) in zip(runs, timed_runs, strict=True):
        t = statistics.median(times)
        print(f"{label:44} {t:9.3f} {mb / t:8.1f} {n:8d} {ratio(grep_times, times):7.2f}")
    print("(grep and rg count matching lines, vahti findings; x grep: the median of the "
          "rounds' ratios; (*) a diagnostic: without the names and birth dates that "
          "corroborate a hit, what the scan costs without reading every hit's window; "
          "(**) twice the work: its 'x grep' is for one of the two)")
    if not args.skip_parallel:
        one_all, one_hetu = all_label + ", 1 core", "vahti hetu, 1 core"
        cols_all, cols_hetu = all_label + ", columns", "vahti hetu, 1 core, columns"

        def speedup(one: str, two: str) -> str:
            return f"{ratio(by_label[one][0], by_label[two][0]):.2f}x"
        print(f"speedup jobs=2 / jobs=1: all types {speedup(one_all, 'vahti all types, jobs=2')}"
              f", hetu {speedup(one_hetu, 'vahti hetu, jobs=2')}; columns: all types "
              f"{speedup(cols_all, 'vahti all types, jobs=2, columns')}, hetu "
              f"{speedup(cols_hetu, 'vahti hetu, jobs=2, columns')}")
        one, pair = by_label["all types, 1 core, in a forked process"][0], \
            by_label["the same, two processes at once (**)"][0]
        ceiling = 2 * ratio(one, pair)
        reached = ratio(by_label[one_all][0], by_label["vahti all types, jobs=2"][0]) / ceiling
        print(f"the ceiling of jobs=2 here: two independent one-core scans of every type at "
              f"once do {ceiling:.2f}x the work of one in the same time; all types jobs=2 "
              f"reaches {reached:.0%} of it")
    # Where the time goes (last jobs=1 run; seconds and ms per MB).
    for label, split in splits.items():
        parts = sorted(split.items(), key=lambda kv: -kv[1])
        print(f"split {label}: " + ", ".join(
            f"{k} {v:.2f} s ({v * 1e3 / mb:.1f} ms/MB)" for k, v in parts))


def density_sweep(tmp: Path, people: list[synthetic.Person], index, key: Key,  # noqa: ANN001
                  args: argparse.Namespace) -> None:
    """grep and vahti HETU-only (one core) on the realistic corpus at three densities."""
    print(f"\n== density sweep: realistic corpus, {args.sweep_mb} MB each, hetu, 1 core")
    print(f"{'identifiers':18} {'grep s':>8} {'vahti s':>8} {'vahti MB/s':>10} "
          f"{'findings':>8} {'x grep':>7}")
    grep = plaintext_tools()[0][1]
    for label, per_kb in (("1 per 10 kB", 0.1), ("1 per 1 kB", 1.0), ("1 per 100 B", 10.0)):
        corpus = leak_corpus.generate(tmp / f"sweep-{per_kb:g}", size_mb=args.sweep_mb,
                                      people=people, density=per_kb, seed=args.seed + 3)
        files = corpus.files
        mb = corpus.size / 1e6
        g = plaintext_tool(grep, corpus.codes, files)
        g()
        (g_ts, _, _), (v_ts, _, v_n) = in_rounds(
            [g, lambda f=files: vahti_scan(f, index, key)(HETU, 1)], args.runs)
        g_t, v_t = statistics.median(g_ts), statistics.median(v_ts)
        print(f"{label:18} {g_t:8.3f} {v_t:8.3f} {mb / v_t:10.1f} {v_n:8d} "
              f"{ratio(g_ts, v_ts):7.2f}")
        shutil.rmtree(corpus.out_dir, ignore_errors=True)


def profile_scan(files: list[Path], index, key: Key, top: int = 30) -> None:  # noqa: ANN001
    scan = vahti_scan(files, index, key)
    prof = cProfile.Profile()
    prof.enable()
    scan(HETU, 1)
    prof.disable()
    stats = pstats.Stats(prof)
    for order in ("cumulative", "tottime"):
        print(f"\n== profile: realistic corpus, hetu, 1 core; top {top} by {order}")
        stats.sort_stats(order).print_stats(top)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--people", type=int, default=40_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-parallel", action="store_true")
    ap.add_argument("--corpus", choices=("realistic", "paste", "both"), default="both")
    ap.add_argument("--sweep-mb", type=float, default=20)
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument("--profile", action="store_true",
                    help="print cProfile's top entries of a realistic-corpus scan")
    args = ap.parse_args()

    have_fragments = importlib.util.find_spec("vahti.matchers.fragments") is not None
    tmp = Path(tempfile.mkdtemp(prefix="vahti-bench-"))
    try:
        t0 = time.perf_counter()
        people = synthetic.make_people(args.people, seed=args.seed)
        key = Key(secrets.token_bytes(32))
        index = build_index(key, people, have_fragments)
        codes = tmp / "codes.txt"
        codes.write_text("".join(p.hetu + "\n" for p in people), encoding="ascii")
        realistic = paste = None
        if args.corpus in ("realistic", "both"):
            realistic = leak_corpus.generate(tmp / "realistic", size_mb=args.size_mb,
                                             people=people, seed=args.seed + 2000)
        if args.corpus in ("paste", "both"):
            paste = tmp / "corpus.txt"
            planted = build_corpus(paste, args.size_mb, people, args.seed + 1000)
        print(f"{args.people} people; setup {time.perf_counter() - t0:.1f} s; fragments: "
              f"{'yes' if have_fragments else 'no (matchers.fragments missing)'}; "
              f"{args.runs} runs each, medians")
        if realistic is not None:
            s = realistic.summary()
            measure(f"realistic corpus ({s['density_per_kb']} identifiers/kB, "
                    f"{sum(s['planted'].values())} enrolled and {sum(s['decoys'].values())} "
                    "decoy identifiers)", realistic.files, codes, index, key, args,
                    have_fragments)
        if paste is not None:
            measure(f"paste corpus ({planted} planted)", [paste], codes, index, key, args,
                    have_fragments)
            sha_t, _ = timed(lambda: scanfiles._sha256_file(str(paste)), 1)
            print(f"sha256 of the paste corpus alone: {sha_t:.2f} s "
                  f"({sha_t * 1e3 / (paste.stat().st_size / 1e6):.2f} ms/MB; "
                  "done by a parent thread while the scan runs)")
        if not args.no_sweep:
            density_sweep(tmp, people, index, key, args)
        if args.profile and realistic is not None:
            profile_scan(realistic.files, index, key)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
