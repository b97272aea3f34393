"""Retention: a scan keeps every candidate's key, enrolled or not, and the text's fingerprints."""

import numpy as np

from vahti.demo import synthetic
from vahti.matchers.digest import digest, to_u64
from vahti.matchers.engine import Scanner, ScanOptions
from vahti.matchers.fragments import record_fingerprints
from vahti.matchers.index import IndexBuilder
from vahti.matchers.keys import Key
from vahti.matchers.retain import FRAGMENT, Retained

KEY = Key(bytes(range(32)))
PEOPLE = synthetic.make_people(6, seed=5)


def _index(people):
    b = IndexBuilder(KEY)
    for p in people:
        b.add(p.ref, {"hetu": [digest(KEY, "hetu", p.hetu)]}, {})
    return b.build()


def _key(id_type, value):
    return int(to_u64(np.frombuffer(digest(KEY, id_type, value), np.uint8))[0])


def test_retained_keys_cover_unenrolled_people_and_all_types():
    enrolled, stranger = PEOPLE[0], PEOPLE[1]
    text = (f"leak: {enrolled.hetu} and {stranger.hetu}, mail {stranger.email}, "
            f"phone {stranger.phone}. Asiakas kertoi istunnossa unettomuudesta ja "
            "työuupumuksesta, joka on jatkunut kevään ajan ilman helpotusta.")
    scanner = Scanner(_index([enrolled]), KEY, ScanOptions(retain=True))
    found = scanner.scan_text(text, "p")
    assert {(f.ref, f.id_type) for f in found} == {(enrolled.ref, "hetu")}
    kept = scanner.retained.take()
    assert _key("hetu", enrolled.hetu) in kept["hetu"]
    assert _key("hetu", stranger.hetu) in kept["hetu"]
    assert _key("email", stranger.email) in kept["email"]
    assert _key("phone", synthetic.e164_fi(stranger.phone)) in kept["phone"]
    # the text's winnowed fingerprints: a record with this sentence shares them
    note = text[text.index("Asiakas"):]
    assert np.isin(record_fingerprints(KEY, note), kept[FRAGMENT]).mean() > 0.5
    assert scanner.retained.take() == {}  # take resets


def test_without_retention_nothing_is_collected_and_the_byte_path_stays():
    scanner = Scanner(_index(PEOPLE[:1]), KEY)
    assert scanner.retained is None and scanner.byte_path


def test_cap_marks_partial():
    r = Retained(max_keys=3)
    r.add("hetu", np.arange(2, dtype=np.uint64))
    r.add("email", np.arange(5, dtype=np.uint64))
    kept = r.take()
    assert sum(len(v) for v in kept.values()) == 3 and r.partial
