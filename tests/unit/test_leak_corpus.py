"""The benchmark's leak-like corpus: deterministic, dense as asked, decoys not enrolled,
and every planted enrolled identifier found by the scan (exactly those, offsets too)."""

from collections import Counter

import pytest

from benchmarks import leak_corpus
from tests.support.index import synthetic_index
from vahti.matchers.detectors import hetu as hetu_detector
from vahti.matchers.engine import Finding, ScanOptions
from vahti.matchers.keys import Key
from vahti.matchers.scanfiles import scan_files

KEY = Key(bytes(range(32)))


def _index(people):
    return synthetic_index(KEY, people)


def _files(corpus):
    return {p.name: p.read_bytes() for p in corpus.files + [corpus.register, corpus.codes]}


def test_same_seed_same_corpus_other_seed_other(tmp_path):
    a = leak_corpus.generate(tmp_path / "a", size_mb=0.2, people=30, seed=5)
    b = leak_corpus.generate(tmp_path / "b", size_mb=0.2, people=30, seed=5)
    c = leak_corpus.generate(tmp_path / "c", size_mb=0.2, people=30, seed=6)
    assert _files(a) == _files(b)
    assert _files(a)["dump.csv"] != _files(c)["dump.csv"]
    assert set(_files(a)) == {"dump.csv", "dump.sql", "forum.html", "export.json", "chat.log",
                              "prose.txt", "paste.txt", "register.csv", "codes.txt"}


@pytest.mark.parametrize("per_kb", [0.1, 1.0, 10.0])
def test_density_holds_for_every_kind(tmp_path, per_kb):
    corpus = leak_corpus.generate(tmp_path, size_mb=2 if per_kb < 1 else 0.5, people=40,
                                  density=per_kb, seed=2)
    for path in corpus.files:
        assert corpus.density(path.name) == pytest.approx(per_kb, rel=0.15), path.name
    assert corpus.density() == pytest.approx(per_kb, rel=0.1)
    assert sum(len(p.read_bytes()) for p in corpus.files) == corpus.size


def test_dumps_are_dense_by_default(tmp_path):
    corpus = leak_corpus.generate(tmp_path, size_mb=0.3, people=40, kinds=["csv", "sql"])
    assert [p.name for p in corpus.files] == ["dump.csv", "dump.sql"]
    rows = corpus.files[0].read_text().splitlines()[1:]
    assert all(hetu_detector.is_valid(r.split(";")[3]) for r in rows)  # one on every row
    assert corpus.density() > 20  # three identifiers in a row of about 110 bytes


def test_decoys_are_valid_codes_of_people_not_enrolled(tmp_path):
    corpus = leak_corpus.generate(tmp_path, size_mb=0.3, people=40, decoy_share=0.6, seed=4)
    enrolled = {p.hetu for p in corpus.people}
    assert corpus.codes.read_text().split() == [p.hetu for p in corpus.people]
    csv_codes = [r.split(";")[3] for r in corpus.files[0].read_text().splitlines()[1:]]
    decoys = [c for c in csv_codes if c not in enrolled]
    assert all(hetu_detector.is_valid(c) for c in decoys)
    assert len(decoys) / len(csv_codes) == pytest.approx(0.6, abs=0.1)
    assert corpus.decoyed["hetu"] > 0 and corpus.planted["hetu"] > 0
    decoy_values = {v for d in corpus.decoys for v in (d.hetu, d.email, d.phone)}
    assert not decoy_values & {v for p in corpus.people for v in (p.hetu, p.email, p.phone)}


def test_the_scan_finds_exactly_the_planted_enrolled_identifiers(tmp_path):
    corpus = leak_corpus.generate(tmp_path, size_mb=0.5, people=60, seed=3, track=True)
    found = [e for e in scan_files([str(p) for p in corpus.files], _index(corpus.people), KEY,
                                   ScanOptions())
             if isinstance(e, Finding)]
    got = {(f.location.rsplit("/", 1)[-1], f.id_type, f.ref, f.start, f.end) for f in found}
    assert len(got) == len(found)
    assert got == {(s.file, s.id_type, s.ref, s.start, s.end) for s in corpus.spots}
    assert Counter(f.id_type for f in found) == corpus.planted
    assert set(corpus.planted) == {"hetu", "email", "phone"}
    # every kind of file, obfuscations included, has its share
    assert {s.file for s in corpus.spots} == {p.name for p in corpus.files}
