"""A watchlist index of synthetic people for the scan tests: identity code, e-mail and
phone as identifiers, names and birth date as corroborating keys (what enrolment keys)."""

from __future__ import annotations

from vahti.demo import synthetic
from vahti.matchers.detectors import name as name_detector
from vahti.matchers.digest import digest
from vahti.matchers.index import IndexBuilder, WatchlistIndex
from vahti.matchers.keys import Key


def synthetic_index(key: Key, people: list[synthetic.Person],
                    customer: bool = False) -> WatchlistIndex:
    """`customer`: person i also has customer id ASIAKAS-<i, six digits>."""
    b = IndexBuilder(key)
    for i, p in enumerate(people):
        ids = {
            "hetu": [digest(key, "hetu", p.hetu)],
            "email": [digest(key, "email", p.email)],
            "phone": [digest(key, "phone", synthetic.e164_fi(p.phone))],
        }
        if customer:
            ids["customer_id"] = [digest(key, "customer_id", f"ASIAKAS-{i:06d}")]
        b.add(p.ref, ids, {
            "name": [digest(key, "name", f) for f in name_detector.enrollment_forms(p.full_name)],
            "birth_date": [digest(key, "birth_date", p.birth_date.isoformat())],
        })
    return b.build()
