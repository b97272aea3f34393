"""Retro-hunt matching over retained keys (matchers/retro.py): pure arrays."""

import numpy as np

from vahti.demo import synthetic
from vahti.matchers.digest import digest
from vahti.matchers.fragments import record_fingerprints
from vahti.matchers.index import IndexBuilder
from vahti.matchers.keys import Key
from vahti.matchers.retro import fragment_hits, identifier_hits

KEY = Key(bytes(range(32)))
PEOPLE = synthetic.make_people(4, seed=9)


def _index():
    b = IndexBuilder(KEY)
    for p in PEOPLE:
        b.add(p.ref, {"hetu": [digest(KEY, "hetu", p.hetu)],
                      "email": [digest(KEY, "email", p.email)]}, {},
              record_fingerprints(KEY, p.notes[0]))
    return b.build()


def lookup_in(docs: list[np.ndarray]):
    """A lookup over documents of keys, as the candidate index answers."""
    keys = np.concatenate(docs)
    owner = np.repeat(np.arange(len(docs)), [len(d) for d in docs])
    order = np.argsort(keys)
    keys, owner = keys[order], owner[order]

    def lookup(wanted):
        lo = np.searchsorted(keys, wanted, "left")
        hi = np.searchsorted(keys, wanted, "right")
        pos = np.repeat(np.arange(len(wanted)), hi - lo)
        idx = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)] or [[]])
        return pos, owner[idx.astype(np.int64)]
    return lookup


def _u64(id_type, value):
    return np.frombuffer(digest(KEY, id_type, value)[:8], "<u8").astype(np.uint64)


def test_identifiers_match_by_key_and_type():
    index = _index()
    docs = [_u64("hetu", PEOPLE[1].hetu), np.concatenate([_u64("email", PEOPLE[2].email),
                                                          np.array([12345], np.uint64)])]
    hits = sorted((h.person, h.doc, h.id_type) for h in identifier_hits(index, lookup_in(docs)))
    assert hits == [(1, 0, "hetu"), (2, 1, "email")]


def test_fragments_need_enough_of_a_record():
    index = _index()
    whole = record_fingerprints(KEY, PEOPLE[3].notes[0])
    few = whole[:2]
    docs = [whole, few, record_fingerprints(KEY, "aivan eri teksti jossa ei ole mitään yhteistä")]
    hits = list(fragment_hits(index, lookup_in(docs), threshold=0.3))
    assert [(h.person, h.doc, h.id_type) for h in hits] == [(3, 0, "fragment")]
    assert hits[0].score == 1.0
