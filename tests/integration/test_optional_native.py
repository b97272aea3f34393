"""The C extension is optional: with a compiler that fails, the wheel still builds (one
warning), and the installed vahti runs and scans on the numpy paths, saying once that
the native kernel is missing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import REPO
from vahti import __version__
from vahti.demo.synthetic import make_people, register_csv
from vahti.matchers.native import MISSING_WARNING
from vahti.matchers.scanfiles import RANGE_BYTES, SMALL_RANGES

pytestmark = [pytest.mark.slow, pytest.mark.integration]

SOURCES = ("pyproject.toml", "README.md", "LICENSE", "vahti", "matchers", "spiders", "storage",
           "scheduler", "reports")
BUILD_FAILED = 'building extension "vahti.matchers._native" failed'


def source_copy(dest: Path) -> Path:
    """The project's sources without anything built (no .so, caches or build dirs)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "build", "*.egg-info")
    dest.mkdir()
    for name in SOURCES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)
    return dest


def test_broken_compiler_gives_a_numpy_install_that_scans(vahti, tmp_path):
    src = source_copy(tmp_path / "src")
    dist = tmp_path / "dist"
    env = {k: v for k, v in vahti.env.items() if k != "PYTHONPATH"}
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
         "-v", "-w", str(dist)],  # the test extras' setuptools: no index in the netns
        env={**env, "CC": "false", "CXX": "false"}, capture_output=True, text=True,
        timeout=600, cwd=tmp_path)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert (built.stdout + built.stderr).count(BUILD_FAILED) == 1  # the one warning
    (wheel,) = dist.glob("vahti-*.whl")

    # a venv of its own: the wheel installed there, the other dependencies seen through a
    # path file (not the test venv's site dir, whose editable vahti would be found first)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.check_output(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        text=True).strip())
    (site / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         str(wheel)], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr[-3000:]
    assert not list(site.glob("vahti/matchers/_native*.so")), "the extension was built after all"
    assert (site / f"vahti-{__version__}.dist-info" / "licenses" / "LICENSE").is_file()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([venv / "bin" / "vahti", *args], env=env,
                              capture_output=True, text=True, timeout=300, cwd=tmp_path)

    where = subprocess.run(
        [python, "-c", "import vahti.matchers.native as n; print(n.__file__, n.lib)"],
        env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert where.stdout.split() == [str(site / "vahti" / "matchers" / "native.py"), "None"], where

    version = run("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"vahti, version {__version__}"
    assert MISSING_WARNING not in version.stderr  # only a scan says it

    people = make_people(20, seed=1313)
    assert run("init").returncode == 0
    (tmp_path / "register.csv").write_text(register_csv(people), encoding="utf-8")
    enrolled = run("enroll", str(tmp_path / "register.csv"))
    assert enrolled.returncode == 0, enrolled.stderr
    dump = tmp_path / "dump.txt"
    filler = "nothing to see here\n" * (SMALL_RANGES * RANGE_BYTES // 20 + 1)  # for a worker
    dump.write_text(f"{filler}leaked: {people[3].email} / {people[7].hetu}\n", encoding="utf-8")
    scanned = run("scan", str(dump), "--json", "--jobs", "2")
    assert scanned.returncode == 1, scanned.stderr  # found
    refs = {json.loads(line)["ref"] for line in scanned.stdout.splitlines()}
    assert refs == {people[3].ref, people[7].ref}
    assert scanned.stderr.count(MISSING_WARNING) == 1, scanned.stderr  # once, not per worker
    log = (vahti.home / "logs" / "vahti.log").read_text()
    assert log.count(MISSING_WARNING) == 1
