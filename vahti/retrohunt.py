"""Retro-hunt: find the enrolled people in pages seen before, from retained candidates.

Wiring of `matchers.retro` (the matching) with storage (the candidate index,
pages, sightings). Run after enrolment (`vahti enroll`) and by the daemon when
the watchlist has changed: pages held only by their content id are not fetched again,
yet a person enrolled today is found where their identifier or record text
appeared months ago. Sightings found this way have `via: "retro"` and no
offset (start -1); a page/person/type already sighted by a scan is left alone.
Idempotent: a rerun adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vahti.matchers import retro
from vahti.matchers.engine import ScanOptions
from vahti.matchers.index import WatchlistIndex
from vahti.storage import candidate_index, candidates, pages, sightings, watchlist
from vahti.storage.connection import Storage
from vahti.storage.sightings import Sighting

META_FIELD = "retro_hunted_version"


@dataclass
class RetroResult:
    new: list[Sighting] = field(default_factory=list)
    candidate_keys: int = 0  # keys searched through

    def merged(self, other: RetroResult) -> RetroResult:
        return RetroResult(self.new + other.new, self.candidate_keys + other.candidate_keys)

    @property
    def people(self) -> set[str]:
        return {s.ref for s in self.new}

    @property
    def pages(self) -> set[str]:
        return {s.page_url for s in self.new}


def retro_hunt(storage: Storage, index: WatchlistIndex, home: Path,
               options: ScanOptions | None = None, record_done: bool = True) -> RetroResult:
    """The people of `index` in the candidates retained under the index's key (after a
    key rotation, an index of the register keyed under a retired key finds them in what
    was retained under that one). `record_done`: mark the watchlist version hunted
    (the active key's watchlist)."""
    options = options or ScanOptions()
    cand = candidate_index.load(storage, home)
    result = RetroResult(candidate_keys=cand.n_keys)
    hits = list(retro.identifier_hits(index, cand.lookup_arrays, options.base_score))
    if options.fragments:
        hits += retro.fragment_hits(index, cand.lookup_arrays, options.fragment_threshold)
    if hits:
        result.new = _record(storage, index, cand, hits)
    if not record_done:
        return result
    storage.db["meta"].update_one({"_id": "meta"},
                                  {"$set": {META_FIELD: watchlist.version(storage)}}, upsert=True)
    return result


def due(storage: Storage) -> bool:
    """Has the watchlist changed since the last retro-hunt?"""
    meta = storage.meta()
    return meta.get(META_FIELD) != meta.get("watchlist_version", 0)


def _record(storage: Storage, index: WatchlistIndex, cand: candidate_index.CandidateIndex,
            hits: list[retro.RetroHit]) -> list[Sighting]:
    docs = {d: cand.oid(d) for d in {h.doc for h in hits}}
    # gone when retention removed it; under the index's key only
    described = candidates.describe(storage, docs.values(), index.key_id)
    contents = {d: described[oid] for d, oid in docs.items() if oid in described}
    held = pages.with_content_ids(storage, {cid for cid, _ in contents.values()})
    found: dict[tuple[str, str, str], Sighting] = {}
    for h in hits:
        if h.doc not in contents:
            continue
        content_id, doc_type = contents[h.doc]
        if doc_type != h.id_type:
            continue  # a key of another type (a 64-bit coincidence)
        ref = index.refs[h.person]
        kind = "fragment" if h.id_type == "fragment" else "identifier"
        for page in held.get(content_id, []):
            occ = (page["url"], ref, h.id_type)
            if occ not in found or found[occ].score < h.score:
                found[occ] = Sighting(page_url=page["url"], source=page.get("source", ""),
                                      ref=ref, id_type=h.id_type, kind=kind, start=-1, end=-1,
                                      score=h.score, page_content_id=content_id,
                                      via="retro", key_id=index.key_id)
    scanned = sightings.known_on_pages(storage, {occ[0] for occ in found})
    fresh = [s for occ, s in found.items() if occ not in scanned]
    return sightings.record_sightings(storage, fresh)
