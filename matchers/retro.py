"""Retro-hunt matching: the watchlist against keys retained from pages seen before.

Pure array work, no storage: `lookup(keys) -> (positions, documents)` is given
by the caller (the local candidate index). Identifiers match by key equality,
as in a scan. Record fragments match when enough of a record's fingerprints are
among a page's retained fingerprints, by the scan's own thresholds
(`matchers.fragments.match`) but without its positional regions: retained
fingerprints carry no offsets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from .fragments import MATCH_THRESHOLD, MIN_MATCHES, MIN_REL_MATCHES
from .index import WatchlistIndex

Lookup = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class RetroHit:
    person: int  # index into the watchlist index's refs
    doc: int  # the candidate document (page content) it was found in
    id_type: str  # identifier type, or "fragment"
    score: float


def identifier_hits(index: WatchlistIndex, lookup: Lookup, base_score: float = 0.8
                    ) -> Iterator[RetroHit]:
    for t in index.id_types:
        keys, people = index.ids[t]
        pos, docs = lookup(np.asarray(keys, dtype=np.uint64))
        for person, doc in zip(np.asarray(people)[pos].tolist(), docs.tolist(), strict=True):
            yield RetroHit(int(person), int(doc), t, base_score)


def fragment_hits(index: WatchlistIndex, lookup: Lookup,
                  threshold: float = MATCH_THRESHOLD) -> Iterator[RetroHit]:
    f = index.fragments
    if not len(f.fp_sorted):
        return
    pos, docs = lookup(np.asarray(f.fp_sorted, dtype=np.uint64))
    if not len(pos):
        return
    records = np.asarray(f.fp_record)[pos].astype(np.int64)
    width = int(docs.max()) + 1
    # a record's fingerprints are distinct, and so are a document's keys: the
    # count of (record, document) pairs is the number of fingerprints in common
    pairs, matched = np.unique(records * width + docs, return_counts=True)
    recs, dcs = pairs // width, pairs % width
    totals = np.asarray(f.record_fp_counts)[recs]
    scores = matched / np.maximum(totals, 1)
    keep = (totals > 0) & ((matched >= MIN_MATCHES)
                           | ((matched >= MIN_REL_MATCHES) & (scores >= threshold)))
    people = np.asarray(f.record_people)
    for r, d, s in zip(recs[keep].tolist(), dcs[keep].tolist(), scores[keep].tolist(),
                       strict=True):
        yield RetroHit(int(people[r]), int(d), "fragment", float(min(1.0, s)))
