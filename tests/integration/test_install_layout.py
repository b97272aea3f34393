"""An installed vahti holds its parts under the `vahti` namespace: it claims no generic
top-level name (`storage`, `reports`, ...), so it installs beside distributions that do.

The wheel is built from this checkout, installed into a folder of its own beside
packages named `storage`, `matchers` and `reports`, and run from outside the checkout.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, VahtiRunner
from tests.privacy import assert_no_plaintext, everything_written
from vahti.demo.synthetic import make_people, register_csv

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GENERIC = ("storage", "matchers", "reports", "scheduler", "spiders")


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


class InstalledVahti(VahtiRunner):
    """The installed `vahti`, run from outside the checkout (`-P`: no current folder)."""

    def run(self, *args: str, **_: object) -> subprocess.CompletedProcess[str]:
        return run([sys.executable, "-P", "-m", "vahti", *args], self.env, self.home.parent)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """(a work folder, an environment whose vahti is the installed wheel)."""
    work = tmp_path_factory.mktemp("install")
    wheels = work / "wheels"
    # no build isolation: the suite runs in a namespace without a network, so the build
    # uses the venv's setuptools (the test extras ask for a recent enough one)
    built = run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                 "--no-build-isolation", "-w", str(wheels), str(REPO)],
                {"PATH": "/usr/bin:/bin"}, work)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = wheels.glob("vahti-*.whl")
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert tops == {"vahti", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    site = work / "site"
    got = run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
               str(site), str(wheel)], {"PATH": "/usr/bin:/bin"}, work)
    assert got.returncode == 0, got.stderr[-3000:]
    others = work / "others"
    for name in GENERIC:  # another distribution's top-level packages of the same names
        (others / name).mkdir(parents=True)
        (others / name / "__init__.py").write_text(f"WHO = 'not vahti: {name}'\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{others}:{site}",
           "VAHTI_HOME": str(work / "home")}
    return work, env


def test_generic_names_stay_with_their_own_distribution(installed):
    work, env = installed
    probe = ("import storage, matchers, reports, vahti.storage.connection, "
             "vahti.matchers.native as native, vahti.reports.weekly, vahti.spiders.settings\n"
             "assert storage.WHO == 'not vahti: storage' and matchers.WHO and reports.WHO\n"
             "import vahti; print(vahti.__file__); print(native.lib is not None)\n")
    out = run([sys.executable, "-P", "-c", probe], env, work)
    assert out.returncode == 0, out.stderr
    file, has_native = out.stdout.split()
    assert file.startswith(str(work / "site")), file
    assert has_native == "True"


def test_the_installed_command_enrolls_and_finds_beside_them(installed):
    work, env = installed
    vahti = InstalledVahti(Path(env["VAHTI_HOME"]), env)
    people = make_people(20, seed=5)
    register = work / "r.csv"
    register.write_text(register_csv(people))
    leak = work / "leak.txt"
    leak.write_text(f"dump row: {people[3].hetu};{people[3].email}\n")
    for args in (["init"], ["enroll", str(register)]):
        result = vahti.run(*args)
        assert result.returncode == 0, result.stderr
    found = vahti.run("scan", "--json", str(leak))
    assert found.returncode == 1, found.stderr  # 1: something found
    assert people[3].ref in found.stdout
    assert_no_plaintext(everything_written(vahti, work / "dump"), [people[3].hetu, people[3].email])


def test_the_wheel_ships_the_alert_payload_schema(installed):
    """The published JSON Schema is package data: in the wheel, and loadable installed."""
    work, env = installed
    (wheel,) = (work / "wheels").glob("vahti-*.whl")
    assert "vahti/scheduler/channels/alert-payload.v1.schema.json" in zipfile.ZipFile(
        wheel).namelist()
    probe = ("from vahti.scheduler.channels.schema import load_schema, SCHEMA_ID\n"
             "import vahti.scheduler.channels.schema as s\n"
             "assert load_schema()['$id'] == SCHEMA_ID, load_schema()['$id']\n"
             "print(s.__file__)\n")
    out = run([sys.executable, "-P", "-c", probe], env, work)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(work / "site")), out.stdout


def test_the_wheel_ships_the_unicode_tables(installed):
    """The precomputed Unicode tables are package data: a scan started from the wheel
    reads them instead of computing them (matchers/unicode_tables.py)."""
    work, env = installed
    (wheel,) = (work / "wheels").glob("vahti-*.whl")
    assert "vahti/matchers/unicode_tables.json" in zipfile.ZipFile(wheel).namelist()
    probe = ("import vahti.matchers.unicode_tables as u\n"
             "assert u.read(u.SHIPPED) == u.compute()\n"
             "print(u.SHIPPED)\n")
    out = run([sys.executable, "-P", "-c", probe], env, work)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(work / "site")), out.stdout
