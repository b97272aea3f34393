"""What a light command imports: `vahti search` for one identifier loads no crawler
(Scrapy, Twisted, stem), no chart library, and, on the embedded server (a unix socket,
no TLS), not pymongo's pyOpenSSL support; with a MongoDB URI pymongo keeps it (OCSP)."""

from __future__ import annotations

import pytest

from vahti.demo.synthetic import make_people, register_csv

pytestmark = pytest.mark.integration

NEVER_FOR_SEARCH = ("scrapy", "twisted", "stem", "matplotlib", "spiders", "vahti.cmd_scan",
                    "vahti.cmd_crawl", "vahti.cmd_hunt")
PEOPLE = make_people(5, seed=41)


def modules_of_search(vahti, tmp_path) -> set[str]:
    assert vahti.run("init").returncode == 0
    register = tmp_path / "register.csv"
    register.write_text(register_csv(PEOPLE))
    assert vahti.run("enroll", str(register)).returncode == 0
    result = vahti.run("search", input=PEOPLE[0].hetu + "\n",
                       extra_env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0, result.stderr  # enrolled, never seen
    assert "not seen" in result.stdout
    return {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_search_on_the_embedded_server_imports_only_what_it_uses(vahti_embedded, tmp_path):
    modules = modules_of_search(vahti_embedded, tmp_path)
    assert "pymongo" in modules
    assert loaded(modules, NEVER_FOR_SEARCH) == []
    # (pymongo.pyopenssl_context is listed: its import was attempted, and refused)
    assert loaded(modules, ("OpenSSL", "service_identity")) == []


def test_search_on_a_mongodb_uri_keeps_pymongo_s_tls_support(vahti, tmp_path):
    modules = modules_of_search(vahti, tmp_path)
    assert loaded(modules, NEVER_FOR_SEARCH) == []
    assert "OpenSSL" in modules


NEVER_FOR_SCAN_JSON = ("py7zr", "Cryptodome", "rich", "OpenSSL", "scrapy", "twisted", "stem",
                       "matplotlib")


def test_scan_json_imports_no_archive_or_terminal_library(vahti_embedded, tmp_path):
    """`vahti scan --json` of a text file: no 7z support (py7zr and its crypto), no rich
    (no table, no progress bar), no pyOpenSSL on the embedded server."""
    assert vahti_embedded.run("init").returncode == 0
    register = tmp_path / "register.csv"
    register.write_text(register_csv(PEOPLE))
    assert vahti_embedded.run("enroll", str(register)).returncode == 0
    leak = tmp_path / "leak.txt"
    leak.write_text(f"row;{PEOPLE[1].hetu};x\n")
    result = vahti_embedded.run("scan", "--json", "--no-store", str(leak),
                                extra_env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 1, result.stderr  # found
    assert PEOPLE[1].ref in result.stdout and PEOPLE[1].hetu not in result.stdout
    modules = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()
               if line.startswith("import time:") and "|" in line}
    assert "pymongo" in modules and "numpy" in modules  # (the probe sees imports)
    assert loaded(modules, NEVER_FOR_SCAN_JSON) == []
