"""The whole `vahti scan` command against the in-process scan of the same files, in one run.

Generates dense leak dumps (`benchmarks/leak_corpus.py`: CSV and SQL, an identity
code on every row) and a register of `--people` synthetic people, makes a vahti
home in a temporary directory (`vahti init`, `vahti enroll`: the real embedded
database), then times, `--runs` times and in turn (medians, and the CPU seconds of
the command itself, since the machine may be shared; "x in-proc" is the median of the
rounds' ratios; a command's output lines are counted after its clock has stopped):

- in process: `scan_files` over the files with the index the home holds (loaded
  once, before the clock starts), HETU only, one core;
- the command: ``vahti scan --types hetu --no-store --jobs 1 --json FILES``
  (stdout to a file), with the embedded server lingering from the run before, as
  it does by default;
- its start-up: the same command on a one-line file (imports, configuration, the
  database and the index, the tables of the scan), beside `python -c pass`;
- with ``--jobs N`` (N > 1), the same command with ``--jobs N``: the speed-up a user
  of the command sees (new processes, findings as columns for ``--json``);
- with ``--every-type``, the same three for a scan of every type (the command's
  default, no ``--types``): in process, the command, its start-up on a one-line file;
- with ``--store``: the storing command (``--json``, no ``--no-store``) once on the
  first `--store-mb` MB of the CSV dump in a fresh database, then once again
  (a rescan: every sighting already known), beside the in-process scan of that part.

Target (issue 15): the whole command within 1.5x of the in-process figure.

The commands run with byte code cached, as an installed vahti does (pip compiles it):
PYTHONDONTWRITEBYTECODE is dropped from their environment, so the first (warm-up)
run writes __pycache__ beside the checkout's sources. Without it every command would
compile vahti's own modules again (0.1-0.15 s here).

    python benchmarks/scan_command.py [--size-mb 155] [--people 5000] [--runs 3]
        [--jobs 2] [--every-type] [--store] [--store-mb 20] [--profile] [--seed 7]

``--profile`` runs the command once more under cProfile and prints its top entries.
"""

from __future__ import annotations

import argparse
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import leak_corpus  # noqa: E402
from benchmarks.rounds import in_rounds, ratio  # noqa: E402
from vahti.config import load_config  # noqa: E402
from vahti.matchers.engine import Finding, ScanOptions  # noqa: E402
from vahti.matchers.scanfiles import scan_files  # noqa: E402
from vahti.watchlist_cache import enrolled_index  # noqa: E402
from vahti.wiring import load_key, open_db  # noqa: E402

VAHTI = [sys.executable, "-m", "vahti"]


def home_env(home: Path, linger_s: float | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("VAHTI_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["VAHTI_HOME"] = str(home)
    env["PYTHONPATH"] = str(REPO)
    if linger_s is not None:
        env["VAHTI_STORAGE_EMBEDDED_LINGER_S"] = f"{linger_s:g}"
    return env


def vahti(env: dict[str, str], *args: str, stdout=subprocess.DEVNULL) -> int:  # noqa: ANN001
    done = subprocess.run(VAHTI + list(args), env=env, cwd=REPO, stdout=stdout,
                          stderr=subprocess.PIPE)
    if done.returncode not in (0, 1):  # scan: 1 means someone was found
        raise SystemExit(f"vahti {args[0]} failed ({done.returncode}): "
                         f"{done.stderr.decode()[-800:]}")
    return done.returncode


def make_home(home: Path, register: Path) -> dict[str, str]:
    env = home_env(home)
    vahti(env, "init")
    vahti(env, "enroll", str(register))
    return env


def in_process(env: dict[str, str], files: list[str], types: frozenset[str] | None):
    """A function scanning `files` in this process as the command would, with the
    home's index loaded once (before any clock starts); returns the finding count."""
    cfg = load_config(environ=env)
    key = load_key(cfg)
    with open_db(cfg, key) as storage:
        index = enrolled_index(storage, key, cfg.home)
    options = ScanOptions(types=types, region=cfg.get("matchers.phone_region"),
                          customer_id_pattern=cfg.get("matchers.customer_id_pattern") or None)

    def run() -> int:
        return sum(isinstance(e, Finding) for e in scan_files(files, index, key, options))
    return run


class Timing(NamedTuple):
    wall: float  # median wall seconds
    cpu: float  # median CPU seconds (this process and its children)
    result: Any  # the last call's
    walls: list[float]  # wall seconds by round

    def x(self, base: Timing) -> float:
        """How many times `base`'s time this takes: the median of the rounds' ratios
        (`rounds.ratio`) when both ran in the same rounds, else the ratio of the medians."""
        if len(self.walls) != len(base.walls):
            return self.wall / base.wall
        return ratio(self.walls, base.walls)


def timed(fn, runs: int) -> Timing:  # noqa: ANN001
    return alternating([fn], runs)[0]


def alternating(fns: list, runs: int) -> list[Timing]:
    """`timed` for each of `fns`, run in turn `runs` times (`rounds.in_rounds`: on a shared
    machine the load drifts, and so each figure and its baseline see the same). A result
    that is a command's output file is counted here, after the clock (`command`)."""
    return [Timing(statistics.median(w), statistics.median(c),
                   count_lines(r) if isinstance(r, Path) else r, w)
            for w, c, r in in_rounds(fns, runs)]


def count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def command(env: dict[str, str], out: Path, args: list[str]):
    """A function running the command with its output to `out`; it returns `out`, whose
    lines `alternating` counts once the clock has stopped: reading back 100 MB of JSON
    lines takes 60-75 ms here, which is the benchmark's work, not the command's."""
    def run() -> Path:
        with open(out, "wb") as fh:
            vahti(env, "scan", *args, stdout=fh)
        return out
    return run


def python_floor(env: dict[str, str]):
    def run() -> int:
        subprocess.run([sys.executable, "-c", "pass"], env=env, cwd=REPO, check=True)
        return 0
    return run


def head_of(src: Path, dst: Path, size: int) -> Path:
    """The first `size` bytes of `src`, cut after a line."""
    with open(src, "rb") as fh:
        data = fh.read(size)
    dst.write_bytes(data[: data.rfind(b"\n") + 1])
    return dst


def profile(env: dict[str, str], args: list[str], out: Path, top: int = 25) -> None:
    prof = out.with_suffix(".prof")
    with open(out, "wb") as fh:
        done = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "vahti",
                               "scan", *args], env=env, cwd=REPO, stdout=fh,
                              stderr=subprocess.PIPE)
    if done.returncode not in (0, 1):
        raise SystemExit(f"profiled scan failed: {done.stderr.decode()[-800:]}")
    stats = pstats.Stats(str(prof))
    for order in ("cumulative", "tottime"):
        print(f"--- profile of the command, top {top} by {order}")
        stats.sort_stats(order).print_stats(top)


def row(label: str, t: Timing, mb: float, base: Timing | None) -> None:
    ratio = f"{t.x(base):7.2f}" if base else "      -"
    speed = f"{mb / t.wall:7.1f}" if mb else "      -"
    n = t.result if isinstance(t.result, int) else 0
    print(f"{label:58} {t.wall:8.2f} {t.cpu:8.2f} {speed} {n:8d} {ratio}")


def beyond_start_up(label: str, inproc: Timing, cmd: Timing, start: Timing) -> float:
    """Print what the command took beyond its start-up against the in-process scan, and
    whether it printed a line per finding that scan found; return those seconds."""
    beyond = cmd.wall - start.wall
    print(f"{label} beyond start-up: {beyond:.2f} s, {beyond / inproc.wall:.2f}x in process; "
          f"per finding {(beyond - inproc.wall) / max(1, cmd.result) * 1e6:.2f} us on top")
    if cmd.result != inproc.result:
        print(f"MISMATCH: the command printed {cmd.result} lines, the scan found "
              f"{inproc.result}")
    return beyond


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=float, default=155)
    ap.add_argument("--people", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--every-type", action="store_true",
                    help="also time a scan of every type, in process and as the command")
    ap.add_argument("--store", action="store_true", help="also time the storing command")
    ap.add_argument("--store-mb", type=float, default=20)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--jobs", type=int, default=1,
                    help="also time the command with --jobs N against --jobs 1")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="vahti-bench-"))
    env = home_env(tmp / "home")
    try:
        t0 = time.perf_counter()
        corpus = leak_corpus.generate(tmp / "corpus", size_mb=args.size_mb, people=args.people,
                                      kinds=leak_corpus.DENSE_KINDS, seed=args.seed)
        files = [str(p) for p in corpus.files]
        mb = corpus.size / 1e6
        env = make_home(tmp / "home", corpus.register)
        hetu = frozenset({"hetu"})
        scan_inproc = in_process(env, files, hetu)
        print(f"dense dumps {mb:.0f} MB ({', '.join(p.name for p in corpus.files)}), "
              f"{corpus.density():.1f} identifiers/kB, {args.people} enrolled, "
              f"{corpus.planted['hetu']} enrolled codes planted; setup "
              f"{time.perf_counter() - t0:.0f} s; load average "
              f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {args.runs} runs, medians")
        args_cmd = ["--types", "hetu", "--no-store", "--jobs", "1", "--json", *files]
        out = tmp / "out.jsonl"
        command(env, out, args_cmd)()  # warm: page cache, caches, the server lingering
        empty = tmp / "empty.txt"
        empty.write_text("nothing here\n")
        start_up = command(env, tmp / "empty.jsonl",
                           args_cmd[: args_cmd.index("--json") + 1] + [str(empty)])
        args_jobs = [*args_cmd[:args_cmd.index("--jobs") + 1], str(args.jobs),
                     *args_cmd[args_cmd.index("--jobs") + 2:]]
        runs = [scan_inproc, command(env, out, args_cmd), start_up, python_floor(env)]
        if args.jobs > 1:
            runs.append(command(env, tmp / "out-jobs.jsonl", args_jobs))
        every = args_cmd[args_cmd.index("--no-store"):]  # without --types
        if args.every_type:
            runs += [in_process(env, files, None), command(env, tmp / "out-all.jsonl", every),
                     command(env, tmp / "empty-all.jsonl",
                             every[: every.index("--json") + 1] + [str(empty)])]
        timings = alternating(runs, args.runs)
        inproc, cmd, start, floor = timings[:4]
        print(f"{'run':58} {'wall s':>8} {'cpu s':>8} {'MB/s':>7} {'findings':>8} {'x in-proc':>7}")
        row("in process: scan_files, hetu, 1 core", inproc, mb, None)
        row("vahti scan --types hetu --no-store --jobs 1 --json", cmd, mb, inproc)
        row("the same on a one-line file (start-up: imports, index)", start, 0, inproc)
        row("python -c pass (the interpreter's own start-up)", floor, 0, inproc)
        if args.jobs > 1:
            jobs = timings[4]
            row(f"vahti scan --types hetu --no-store --jobs {args.jobs} --json", jobs, mb,
                inproc)
        beyond = beyond_start_up("the command", inproc, cmd, start)
        if args.jobs > 1:
            print(f"the command, --jobs {args.jobs} / --jobs 1: {1 / jobs.x(cmd):.2f}x (beyond "
                  f"start-up {beyond / max(1e-9, jobs.wall - start.wall):.2f}x)")
            if jobs.result != cmd.result:
                print(f"MISMATCH: --jobs {args.jobs} printed {jobs.result} lines, --jobs 1 "
                      f"{cmd.result}")
        if args.every_type:
            every_inproc, every_cmd, every_start = timings[-3:]
            row("in process: scan_files, every type, 1 core", every_inproc, mb, None)
            row("vahti scan --no-store --jobs 1 --json (every type)", every_cmd, mb,
                every_inproc)
            row("the same on a one-line file (start-up)", every_start, 0, every_inproc)
            beyond_start_up("every type, the command", every_inproc, every_cmd, every_start)
        if args.store:
            part = head_of(corpus.files[0], tmp / "part.csv", int(args.store_mb * 1e6))
            part_mb = part.stat().st_size / 1e6
            store_env = make_home(tmp / "home-store", corpus.register)
            part_inproc = timed(in_process(store_env, [str(part)], hetu), args.runs)
            store_args = ["--types", "hetu", "--jobs", "1", "--json", str(part)]
            first = timed(command(store_env, out, store_args), 1)
            again = timed(command(store_env, out, store_args), 1)
            row(f"in process, first {part_mb:.0f} MB of the CSV dump", part_inproc, part_mb,
                None)
            row("vahti scan --types hetu --json (storing), new database", first, part_mb,
                part_inproc)
            row("the same again (every sighting known)", again, part_mb, part_inproc)
        if args.profile:
            profile(env, args_cmd, out)
    finally:
        vahti(home_env(tmp / "home", 0), "status")  # the last user with linger 0 stops it
        if (tmp / "home-store").exists():
            vahti(home_env(tmp / "home-store", 0), "status")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
