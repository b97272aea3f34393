"""Command start-up: `vahti --help`, `vahti --version` and `vahti search` as whole commands.

Targets (run-it-for-real issue): `vahti --help` < 0.3 s and `vahti search` for one
identifier < 0.5 s median, on a warm home: initialised, `--people` enrolled (a
synthetic register), the embedded server lingering from the command before.

Printed beside each figure, measured in the same run:
- the interpreter's floor, `python -c pass`;
- for --help and --version: importing `vahti.cli` and every command module up front
  (what the command cost when cli.py imported its subcommands eagerly);
- for search: the same command with `embedded_linger_s = 0`, so that every run starts
  and stops the embedded server.

    .venv/bin/python -m benchmarks.command_startup [--runs N] [--people N]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vahti.demo.synthetic import make_people, register_csv

REPO = Path(__file__).resolve().parent.parent
VAHTI = [sys.executable, "-m", "vahti"]


def command_modules() -> list[str]:
    """vahti.cli and every module a subcommand lives in."""
    found = sorted(f"vahti.{p.stem}" for p in (REPO / "vahti").glob("cmd_*.py"))
    return ["vahti.cli", *found, "vahti.demo.command"]


def medians(argv: list[str], runs: int, env: dict[str, str], stdin: bytes = b"",
            ) -> tuple[float, float]:
    """Median wall-clock seconds and median CPU seconds (user + system) of the command
    itself: on a loaded machine the wall clock also counts the wait for a core."""
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(argv, input=stdin, capture_output=True, env=env, cwd=REPO)
        wall.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode not in (0, 1):  # search: 1 means "seen"
            raise SystemExit(f"{argv[2:]} failed ({done.returncode}): "
                             f"{done.stderr.decode()[-500:]}")
    return statistics.median(wall), statistics.median(cpu)


def row(name: str, value: tuple[float, float], baseline_name: str,
        baseline: tuple[float, float]) -> None:
    print(f"{name:<26} {value[0]:6.3f} s (cpu {value[1]:5.3f})   {baseline_name:<34} "
          f"{baseline[0]:6.3f} s (cpu {baseline[1]:5.3f})   ratio {baseline[0] / value[0]:5.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--people", type=int, default=3000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vahti-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAHTI_")}
        env["VAHTI_HOME"] = str(Path(tmp) / "home")
        env["PYTHONPATH"] = str(REPO)
        lingering = {**env, "VAHTI_STORAGE_EMBEDDED_LINGER_S": "60"}
        no_linger = {**env, "VAHTI_STORAGE_EMBEDDED_LINGER_S": "0"}
        people = make_people(args.people, seed=3)
        register = Path(tmp) / "register.csv"
        register.write_text(register_csv(people))
        try:
            subprocess.run(VAHTI + ["init"], env=lingering, check=True, capture_output=True,
                           cwd=REPO)
            subprocess.run(VAHTI + ["enroll", str(register)], env=lingering, check=True,
                           capture_output=True, cwd=REPO)
            one = (people[len(people) // 2].hetu + "\n").encode()
            search = VAHTI + ["search"]
            medians(search, 1, lingering, one)  # warm: caches built, server lingering

            floor = medians([sys.executable, "-c", "pass"], args.runs, env)
            eager = medians([sys.executable, "-c", "import " + ", ".join(command_modules())],
                            args.runs, env)
            print(f"{args.runs} runs each, medians; {args.people} people enrolled; interpreter "
                  f"floor (python -c pass) {floor[0]:.3f} s (cpu {floor[1]:.3f}); "
                  f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            row("vahti --help", medians(VAHTI + ["--help"], args.runs, env),
                "importing every command module", eager)
            row("vahti --version", medians(VAHTI + ["--version"], args.runs, env),
                "importing every command module", eager)
            warm = medians(search, args.runs, lingering, one)
            cold = medians(search, args.runs, no_linger, one)
            row("vahti search (lingering)", warm, "linger 0 (server started each run)", cold)
        finally:
            # the last user with linger 0 stops the lingering server
            subprocess.run(VAHTI + ["status"], env=no_linger, capture_output=True, cwd=REPO)


if __name__ == "__main__":
    main()
