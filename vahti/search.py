"""Incident search: where have these identifiers, or this enrolled person, been seen?

Wiring of matchers (types, canonical forms, keyed digests) with storage
(watchlist index, sightings, the local candidate index of retained keys,
pages). An identifier is keyed once per type it reads as; the key tells
whether someone is enrolled with it (the watchlist index), and the retained
candidates tell which pages held it, enrolled or not. Answers name input lines
by number, never by value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from vahti.matchers.digest import digester, to_u64, u64_of
from vahti.matchers.index import WatchlistIndex
from vahti.matchers.keys import Key
from vahti.matchers.readings import line_readings, readers, why_invalid
from vahti.storage import candidates, pages, sightings, watchlist
from vahti.storage.candidate_index import CandidateIndex
from vahti.storage.connection import Storage

# Answers are capped per query: an identifier on a million pages is answered
# with the newest ones and the total.
MAX_ROWS = 1000


@dataclass
class Query:
    """One identifier (by its input line) or one enrolled person (by ref)."""

    label: str  # "line 3" or the ref
    # id_type -> 64-bit keys (a person may have two e-mail addresses; an input
    # line has one key per type it reads as)
    keys: dict[str, list[int]] = field(default_factory=dict)
    ref: str | None = None  # --ref: the person asked about
    # the same keys under each retired key still in use (key id -> type -> keys): pages
    # retained before a key rotation are found under the key they were retained with
    retired: dict[str, dict[str, list[int]]] = field(default_factory=dict)


@dataclass
class Reading:
    """What one reading of an input line (one type it is valid as) found."""

    id_type: str
    enrolled: list[str] = field(default_factory=list)
    sightings: list[dict] = field(default_factory=list)
    retained: list[dict] = field(default_factory=list)
    sightings_total: int = 0
    retained_total: int = 0

    @property
    def seen(self) -> bool:
        return bool(self.sightings or self.retained)


@dataclass
class Answer:
    label: str
    types: list[str]
    enrolled: list[str] = field(default_factory=list)  # refs of people with this identifier
    sightings: list[dict] = field(default_factory=list)
    retained: list[dict] = field(default_factory=list)  # pages whose candidates hold it
    sightings_total: int = 0
    retained_total: int = 0
    # an input line: one per type it reads as, each looked up on its own (the fields
    # above are their union); --ref: none
    readings: list[Reading] = field(default_factory=list)

    @property
    def seen(self) -> bool:
        return bool(self.sightings or self.retained)


@dataclass(frozen=True)
class LineProblem:
    """An input line that was not searched: its number and why, never its value."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def parse_lines(lines: Iterable[str], key: Key, region: str = "FI",
                customer_id_pattern: str | None = None, retired: Iterable[Key] = ()
                ) -> tuple[list[Query], list[LineProblem]]:
    """Identifiers, one per line (blank lines and '#' comments skipped), keyed per
    type they are valid as (every reading, `matchers.readings`); and the lines
    that are no identifier (numbers and reasons, never values)."""
    detectors = readers(region, customer_id_pattern)
    queries, problems = [], []
    canonicals: list[dict[str, str]] = []
    for n, raw in enumerate(lines, 1):
        value = raw.strip()
        if not value or value.startswith("#"):
            continue
        canon = line_readings(value, detectors)
        if not canon:
            problems.append(LineProblem(n, why_invalid(value)))
            continue
        queries.append(Query(f"line {n}"))
        canonicals.append(canon)
    for i, keys in enumerate(_keyed(canonicals, key)):
        queries[i].keys = keys
    for old in retired:
        for i, keys in enumerate(_keyed(canonicals, old)):
            queries[i].retired[old.key_id] = keys
    return queries, problems


def _keyed(canonicals: list[dict[str, str]], key: Key) -> list[dict[str, list[int]]]:
    """Each line's readings keyed under `key` (one call per type)."""
    out: list[dict[str, list[int]]] = [{} for _ in canonicals]
    dig = digester(key)
    for t in {t for canon in canonicals for t in canon}:
        which = [i for i, canon in enumerate(canonicals) if t in canon]
        keys = to_u64(dig.digest_many(t, [canonicals[i][t] for i in which])).tolist()
        for i, k in zip(which, keys, strict=True):
            out[i][t] = [int(k)]
    return out


def ref_query(storage: Storage, ref: str) -> Query | None:
    """The query for an enrolled person: their digests of every type."""
    entry = watchlist.get_entry(storage, ref)
    if entry is None:
        return None
    keys = {t: [u64_of(d) for d in ds] for t, ds in entry.digests.items() if ds}
    return Query(ref, keys, ref=ref)


def search(storage: Storage, index: WatchlistIndex, cand: CandidateIndex,
           queries: list[Query]) -> list[Answer]:
    """Answers in query order; one round trip per collection for all queries together."""
    wanted: list[tuple[int, str, int]] = []  # (query, type, key)
    for qi, q in enumerate(queries):
        wanted += [(qi, t, k) for t in sorted(q.keys) for k in q.keys[t]]
    answers = [Answer(q.label, sorted(q.keys), enrolled=[q.ref] if q.ref else [],
                      readings=[] if q.ref else [Reading(t) for t in sorted(q.keys)])
               for q in queries]

    # enrolled people: the watchlist index, by type
    for qi, t, k in wanted:
        if queries[qi].ref:
            continue
        _, people = index.lookup(t, np.array([k], dtype=np.uint64))
        reading = next(r for r in answers[qi].readings if r.id_type == t)
        for p in people.tolist():
            ref = index.refs[p]
            for found in (answers[qi], reading):
                if ref not in found.enrolled:
                    found.enrolled.append(ref)

    # sightings of those people
    refs = {r for a in answers for r in a.enrolled}
    by_ref: dict[str, list[dict]] = {}
    for s in sightings.of_refs(storage, refs):
        by_ref.setdefault(s["ref"], []).append(s)
    for found in (f for a in answers for f in (a, *a.readings)):
        rows = sorted((s for r in found.enrolled for s in by_ref.get(r, [])),
                      key=lambda s: s.get("first_seen"), reverse=True)
        found.sightings_total = len(rows)
        found.sightings = [_sighting_row(s) for s in rows[:MAX_ROWS]]

    # retained candidates: which page contents held the key, enrolled or not, under the
    # active key and under each retired key still in use
    hits: dict[int, set[tuple[str, str]]] = {}
    _retained_hits(storage, cand, wanted, index.key_id, hits)
    for kid in sorted({kid for q in queries for kid in q.retired}):
        old = [(qi, t, k) for qi, q in enumerate(queries)
               for t in sorted(q.retired.get(kid, {})) for k in q.retired[kid][t]]
        _retained_hits(storage, cand, old, kid, hits)
    held = pages.with_content_ids(storage, {cid for found in hits.values() for cid, _ in found})
    for qi, found in hits.items():
        rows = [
            {"id_type": t, "url": pg["url"], "source": pg.get("source", ""),
             "page_content_id": cid, "first_seen": pg.get("first_seen"),
             "last_seen": pg.get("last_seen")}
            for cid, t in found for pg in held.get(cid, [])
        ]
        rows.sort(key=lambda r: (r["last_seen"] is None, r["last_seen"]), reverse=True)
        answers[qi].retained_total = len(rows)
        answers[qi].retained = rows[:MAX_ROWS]
        for reading in answers[qi].readings:
            own = [r for r in rows if r["id_type"] == reading.id_type]
            reading.retained_total = len(own)
            reading.retained = own[:MAX_ROWS]
    return answers


def _retained_hits(storage: Storage, cand: CandidateIndex, wanted: list[tuple[int, str, int]],
                   key_id: str, hits: dict[int, set[tuple[str, str]]]) -> None:
    """Add (content id, type) per query of the retained documents under `key_id`
    holding the wanted (query, type, key)s."""
    keys = np.array([k for _, _, k in wanted], dtype=np.uint64)
    pos, docs = cand.lookup_arrays(keys)
    oids = {int(d): cand.oid(int(d)) for d in set(docs.tolist())}
    described = candidates.describe(storage, oids.values(), key_id)
    for p, d in zip(pos.tolist(), docs.tolist(), strict=True):
        qi, t, _ = wanted[p]
        doc = described.get(oids[d])
        if doc is not None and doc[1] == t:
            hits.setdefault(qi, set()).add((doc[0], t))


def _sighting_row(s: dict) -> dict:
    return {"ref": s["ref"], "id_type": s["id_type"], "kind": s.get("kind", ""),
            "first_seen": s.get("first_seen"), "last_seen": s.get("last_seen"),
            "source": s.get("source", ""), "url": s["page_url"],
            "page_content_id": s.get("page_content_id", ""), "score": s.get("score", 0.0),
            "via": s.get("via", "scan")}
