"""`vahti scan --json` prints, byte for byte, one JSON dump per finding (sorted keys, the
location as stored), whatever writes it; and no plaintext identifier from a file name."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, replace

import pytest
from vahti.matchers.engine import Finding, ScanOptions
from vahti.matchers.scanfiles import scan_files

from benchmarks import leak_corpus
from tests.privacy import Written, assert_no_plaintext
from vahti.config import load_config
from vahti.display import clean
from vahti.watchlist_cache import enrolled_index
from vahti.wiring import load_key, location_redactor, open_db

pytestmark = pytest.mark.integration


def _expected(vahti, folder, types) -> str:
    """The findings of an in-process scan, printed the way the command always has."""
    cfg = load_config(environ=vahti.env)
    key = load_key(cfg)
    with open_db(cfg, key) as storage:
        index = enrolled_index(storage, key, cfg.home)
    redactor = location_redactor(cfg, key, index)
    options = ScanOptions(types=types, region=cfg.get("matchers.phone_region"))
    return "".join(
        clean(json.dumps(asdict(replace(e, location=redactor.redact(e.location))),
                         sort_keys=True), one_line=False) + "\n"
        for e in scan_files([str(folder)], index, key, options) if isinstance(e, Finding))


def test_json_lines_are_the_json_dump_of_every_finding(vahti, tmp_path):
    corpus = leak_corpus.generate(tmp_path / "corpus", size_mb=0.25, people=30, seed=9)
    leak = tmp_path / "vuoto-äö"
    leak.mkdir()
    named = corpus.people[4].hetu  # an identifier in a file name: shown as its token
    for i, path in enumerate(corpus.files):
        shutil.copy(path, leak / (f"{named}-{path.name}" if i == 0 else path.name))
    assert vahti.run("init").returncode == 0
    assert vahti.run("enroll", str(corpus.register)).returncode == 0
    for types in (None, frozenset({"hetu"})):
        args = ["--types", "hetu"] if types else []
        result = vahti.run("scan", "--json", "--no-store", "--jobs", "1", *args, str(leak))
        assert result.returncode == 1, result.stderr
        expected = _expected(vahti, leak, types)
        assert expected.count("\n") > 500
        assert result.stdout == expected
        assert_no_plaintext([Written("stdout", result.stdout.encode())], [named])
