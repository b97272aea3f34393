"""mypy over vahti's packages ([tool.mypy] in pyproject.toml), against a baseline that
may only go down: tests/mypy-baseline.txt holds the errors each file had when it was
written. A file with more errors than its baseline, or a file not in it with any,
fails; a file with fewer asks for the baseline to be lowered:

    .venv/bin/python tests/unit/test_mypy_baseline.py --write

Slow: a cold mypy run (as in CI) takes about 15 s of CPU; with its cache (.mypy_cache,
kept between local runs) under a second."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BASELINE = REPO / "tests" / "mypy-baseline.txt"
ERROR = re.compile(r"^(?P<path>[^:\s]+\.py):\d+: error: ")


PARTS = ("matchers", "storage", "scheduler", "spiders", "reports")


def installed_layout(into: Path) -> Path:
    """The `vahti` package as installed (vahti.matchers, vahti.storage, ...) made of
    symlinks into the checkout: mypy follows imports by folder and cannot see the
    checkout's own mapping (vahti/__init__.py, pyproject's package-dir)."""
    package = into / "vahti"
    package.mkdir()
    for entry in (REPO / "vahti").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for part in PARTS:
        (package / part).symlink_to(REPO / part)
    return into


def repo_path(path: str) -> str:
    """vahti/matchers/keys.py (the installed layout) -> matchers/keys.py."""
    parts = Path(path).parts
    if len(parts) > 2 and parts[0] == "vahti" and parts[1] in PARTS:
        return str(Path(*parts[1:]))
    return path


def mypy_errors() -> tuple[Counter[str], list[str]]:
    """(errors per file, the error lines) of a mypy run with the project's config."""
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [sys.executable, "-m", "mypy", "--no-error-summary", "--config-file",
             str(REPO / "pyproject.toml"), "--cache-dir", str(REPO / ".mypy_cache"),
             "-p", "vahti"],
            cwd=installed_layout(Path(tmp)), capture_output=True, text=True, timeout=900)
    lines = [re.sub(r"^[^:\s]+\.py", lambda m: repo_path(m.group()), line)
             for line in done.stdout.splitlines() if ERROR.match(line)]
    if done.returncode not in (0, 1) or (done.returncode == 1 and not lines):
        raise AssertionError(f"mypy did not run (exit {done.returncode}):\n"
                             f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return Counter(ERROR.match(line)["path"] for line in lines), lines


def read_baseline() -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in BASELINE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            path, count = line.rsplit(" ", 1)
            counts[path] = int(count)
    return counts


def write_baseline(counts: Counter[str]) -> None:
    rows = [f"{path} {n}" for path, n in sorted(counts.items())]
    BASELINE.write_text(
        "# mypy errors per file that are tolerated; may only go down.\n"
        "# Written by: python tests/unit/test_mypy_baseline.py --write\n"
        + "\n".join(rows) + "\n")


@pytest.mark.slow
def test_mypy_errors_never_exceed_the_baseline():
    counts, lines = mypy_errors()
    baseline = read_baseline()
    worse = sorted(path for path, n in counts.items() if n > baseline.get(path, 0))
    if worse:
        shown = [line for line in lines if ERROR.match(line)["path"] in worse]
        raise AssertionError(
            "mypy: more errors than tests/mypy-baseline.txt allows in "
            + ", ".join(f"{p} ({counts[p]}, baseline {baseline.get(p, 0)})" for p in worse)
            + ":\n" + "\n".join(shown))
    better = sorted(path for path, n in baseline.items() if counts.get(path, 0) < n)
    if better:
        warnings.warn(
            "mypy: fewer errors than the baseline in " + ", ".join(
                f"{p} ({counts.get(p, 0)}, baseline {baseline[p]})" for p in better)
            + ": lower it with `python tests/unit/test_mypy_baseline.py --write`",
            stacklevel=1)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/unit/test_mypy_baseline.py --write")
    found, _ = mypy_errors()
    if BASELINE.exists() and any(n > read_baseline().get(p, 0) for p, n in found.items()):
        sys.exit("refused: some file has more errors than its baseline (fix them first)")
    write_baseline(found)
    print(f"{BASELINE.relative_to(REPO)}: {sum(found.values())} errors in {len(found)} files")
