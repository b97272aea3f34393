"""Enrolling a 100,000-person register on the embedded default.

Target (matchers issue): <= 60 s for 100,000 people with hetu, e-mail, phone,
name, birth date and a session note each. Printed beside it, measured in the
same run: the floor — reading the same CSV with Python's csv module — and the
share of time spent keying (digests and fingerprints, no database).

    .venv/bin/python -m benchmarks.enroll_speed [--people N]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vahti.demo.synthetic import make_people, register_csv
from vahti.matchers.keys import Key
from vahti.matchers.register import RegisterSummary, read_register

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    args = parser.parse_args()

    t = time.perf_counter()
    people = make_people(args.people, seed=5)
    data = register_csv(people).encode()
    print(f"generated {args.people} people, {len(data) / 1e6:.1f} MB CSV "
          f"in {time.perf_counter() - t:.1f} s")

    t = time.perf_counter()
    rows = sum(1 for _ in csv.reader(io.StringIO(data.decode())))
    floor = time.perf_counter() - t

    t = time.perf_counter()
    summary = RegisterSummary()
    enrolled = sum(1 for _ in read_register(data, Key(os.urandom(32)), summary))
    keying = time.perf_counter() - t
    assert enrolled == args.people, summary.problems[:5]

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "register.csv"
        path.write_bytes(data)
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAHTI_")}
        env["VAHTI_HOME"] = str(Path(tmp) / "home")
        vahti = [sys.executable, "-m", "vahti"]
        subprocess.run(vahti + ["init"], env=env, check=True, capture_output=True, cwd=REPO)
        t = time.perf_counter()
        subprocess.run(vahti + ["enroll", str(path)], env=env, check=True,
                       capture_output=True, cwd=REPO)
        whole = time.perf_counter() - t
        t = time.perf_counter()
        subprocess.run(vahti + ["enroll", str(path)], env=env, check=True,
                       capture_output=True, cwd=REPO)
        rerun = time.perf_counter() - t

    print(f"floor: csv.reader over the file ({rows} rows)      {floor:7.2f} s")
    print(f"keying only (digests + note fingerprints)          {keying:7.2f} s")
    print(f"vahti enroll, embedded default, first run          {whole:7.2f} s"
          f"  ({args.people / whole:,.0f} people/s; target <= 60 s per 100,000: "
          f"{'met' if whole * 100_000 / args.people <= 60 else 'NOT met'})")
    print(f"vahti enroll, same file again (idempotent)        {rerun:7.2f} s")
    print(f"ratio enroll / floor: {whole / floor:.1f}x")


if __name__ == "__main__":
    main()
