"""`vahti scan --json` prints, byte for byte, one JSON dump per finding (sorted keys, the
location as stored), whatever writes it; and no plaintext identifier from a file name."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from benchmarks import leak_corpus
from tests.privacy import Written, assert_no_plaintext
from vahti.config import load_config
from vahti.display import clean
from vahti.matchers.engine import Finding, ScanOptions
from vahti.matchers.scanfiles import scan_files
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


def test_a_reader_that_stops_early_costs_no_stored_finding(vahti, tmp_path):
    """`vahti scan --json a b | head -1`: the pipe closes under the scan of b; the
    sightings of a, scanned whole before that, are stored, and the run is recorded
    as interrupted (the lines are flushed after the writes, not before). The lines
    are written by a thread of their own, so the closed pipe may be noticed only once
    b is scanned whole and handed to the writer: then b's sightings are stored too,
    all of them, never a part of them."""
    corpus = leak_corpus.generate(tmp_path / "corpus", size_mb=0.5, people=30, seed=4,
                                  kinds=["csv"])
    big = corpus.files[0]
    small = tmp_path / "small.csv"
    small.write_text("".join(big.read_text().splitlines(keepends=True)[:21]))
    assert vahti.run("init").returncode == 0
    assert vahti.run("enroll", str(corpus.register)).returncode == 0
    in_small = vahti.run("scan", "--json", "--no-store", str(small)).stdout.count("\n")
    in_big = vahti.run("scan", "--json", "--no-store", str(big)).stdout.count("\n")
    assert in_small > 10 and in_big > in_small
    scan = vahti.popen("scan", "--json", "--jobs", "1", str(small), str(big),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert scan.stdout.readline().startswith('{"end": ')
    scan.stdout.close()
    scan.wait(timeout=120)
    stderr = scan.stderr.read()
    scan.stderr.close()
    assert scan.returncode != 0, stderr
    (run,) = vahti.stored("runs")
    assert run["state"] == "interrupted", stderr
    stored = Counter(Path(urlsplit(s["page_url"]).path).name for s in vahti.stored("sightings"))
    assert stored["small.csv"] == in_small
    assert stored[big.name] in (0, in_big), stored
