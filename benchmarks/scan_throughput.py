"""Scan throughput: vahti's keyed scan against plaintext `grep -F -f`, in one run.

Generates a paste-like corpus (prose, CSV rows, e-mails, phones, dates,
numbers, with some enrolled identity codes planted) and a register of 40,000
synthetic people in a temporary directory, then times, each at least three
times (medians printed):

- ``LC_ALL=C grep -F -c -f codes.txt`` over the plaintext identity codes;
- vahti, HETU only, one core;
- vahti, every identifier type (+ fragments when `matchers.fragments` exists), one core;
- the same with ``jobs=2``.

    python benchmarks/scan_throughput.py [--size-mb 200] [--people 40000] [--runs 3]

Targets: HETU-only >= 1.5x grep's MB/s; all types >= 0.15x grep; jobs=2 >= 1.7x jobs=1.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
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

from vahti.matchers import scanfiles  # noqa: E402
from vahti.matchers.detectors import name as name_detector  # noqa: E402
from vahti.matchers.digest import digest  # noqa: E402
from vahti.matchers.engine import Scanned, ScanOptions  # noqa: E402
from vahti.matchers.index import IndexBuilder  # noqa: E402
from vahti.matchers.keys import Key  # noqa: E402
from vahti.matchers.scanfiles import scan_files  # noqa: E402

from vahti.demo import synthetic  # noqa: E402

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
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--people", type=int, default=40_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-parallel", action="store_true")
    args = ap.parse_args()

    have_fragments = importlib.util.find_spec("vahti.matchers.fragments") is not None
    tmp = Path(tempfile.mkdtemp(prefix="vahti-bench-"))
    try:
        t0 = time.perf_counter()
        people = synthetic.make_people(args.people, seed=args.seed)
        corpus = tmp / "corpus.txt"
        planted = build_corpus(corpus, args.size_mb, people, args.seed + 1000)
        codes = tmp / "codes.txt"
        codes.write_text("".join(p.hetu + "\n" for p in people), encoding="ascii")
        key = Key(secrets.token_bytes(32))
        index = build_index(key, people, have_fragments)
        mb = corpus.stat().st_size / 1e6
        print(f"corpus {mb:.0f} MB, {args.people} people, {planted} planted; "
              f"setup {time.perf_counter() - t0:.1f} s; fragments: "
              f"{'yes' if have_fragments else 'no (matchers.fragments missing)'}")

        env = dict(os.environ, LC_ALL="C")
        grep = shutil.which("grep") or "grep"

        def run_grep() -> int:
            out = subprocess.run(
                [grep, "-F", "-c", "-f", str(codes), str(corpus)],
                env=env, capture_output=True, text=True, check=False,
            )
            return int(out.stdout.strip() or 0)

        splits: dict[str, dict[str, float]] = {}

        def run_vahti(types: frozenset[str] | None, jobs: int) -> int:
            opts = ScanOptions(types=types)
            n = sum(1 for e in scan_files([str(corpus)], index, key, opts, jobs=jobs)
                    if not isinstance(e, Scanned))
            if jobs == 1 and scanfiles._WORKER is not None:  # jobs=1 scans in this process
                splits["hetu" if types else "all"] = dict(scanfiles._WORKER.timings)
            return n

        run_grep()  # warm the page cache
        g_t, g_n = timed(run_grep, args.runs)
        h_t, h_n = timed(lambda: run_vahti(frozenset({"hetu"}), 1), args.runs)
        a_t, a_n = timed(lambda: run_vahti(None, 1), args.runs)
        rows = [
            ("grep -F -f (plaintext codes)", g_t, g_n, None),
            ("vahti hetu, 1 core", h_t, h_n, g_t / h_t),
            ("vahti all types" + (" + fragments" if have_fragments else "") + ", 1 core",
             a_t, a_n, g_t / a_t),
        ]
        if not args.skip_parallel:
            p_t, p_n = timed(lambda: run_vahti(None, 2), args.runs)
            rows.append(("vahti all types, jobs=2", p_t, p_n, g_t / p_t))
            hp_t, hp_n = timed(lambda: run_vahti(frozenset({"hetu"}), 2), args.runs)
            rows.append(("vahti hetu, jobs=2", hp_t, hp_n, g_t / hp_t))
        print(f"{'run':44} {'median s':>9} {'MB/s':>8} {'hits':>7} {'x grep':>7}")
        for label, t, n, ratio in rows:
            r = f"{ratio:7.2f}" if ratio is not None else "      -"
            print(f"{label:44} {t:9.3f} {mb / t:8.1f} {n:7d} {r}")
        if not args.skip_parallel:
            print(f"speedup jobs=2 / jobs=1: all types {a_t / p_t:.2f}x, hetu {h_t / hp_t:.2f}x")
        # Where the time goes (last jobs=1 run; seconds and ms per MB).
        for label, split in splits.items():
            parts = sorted(split.items(), key=lambda kv: -kv[1])
            print(f"split {label}: " + ", ".join(
                f"{k} {v:.2f} s ({v * 1e3 / mb:.1f} ms/MB)" for k, v in parts))
        sha_t, _ = timed(lambda: scanfiles._sha256_file(str(corpus)), 1)
        print(f"sha256 of the corpus alone: {sha_t:.2f} s ({sha_t * 1e3 / mb:.2f} ms/MB; "
              "done by a parent thread while the scan runs)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
