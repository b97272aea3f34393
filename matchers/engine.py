"""The scan engine: find a register's people in text, by keyed digests only.

`Scanner.scan_text` works in chunks of about 1 MiB (whole-buffer numpy work is
slow on large inputs, and chunks are the unit of parallelism). Per chunk:

1. Normalise only when needed: an ASCII chunk without ``&`` or ``\\`` (and, for
   HTML, without ``<``) is scanned as is, with the identity offset map.
2. Digit runs are found once with numpy; the numeric detectors (HETU,
   personnummer, fødselsnummer, CPR, phone) start from them. HETU candidates
   are validated vectorised, keyed in one AES call (a HETU message is one
   CMAC block), and looked up with `np.searchsorted`.
3. The other types (e-mail, customer id) use their anchor-driven finders, are
   keyed in one batch per message length and looked up the same way.
4. Fragments: the fragment matcher's fingerprints of the chunk against the
   index's record fingerprints.

Chunks overlap: each reads some context before its start (token boundaries)
and after its end (identifiers across the border); it reports only findings
that start inside it, so nothing is found twice or missed at a border.

Scores. An identifier found alone scores `base_score` (0.8). A corroborating
name of the same person within `window` characters adds 0.15, a birth date
0.05 (a HETU already carries the birth date, so the date is weak evidence);
the score is capped at 1.0. Names and dates never make a finding on their own.

Privacy: nothing here logs or raises with a value from the text; findings
carry only the type, the person's ref, the location and offsets.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .detectors import IDENTIFIER_TYPES, NUMERIC_TYPES, get_detector, hetu
from .detectors import birth_date as birth_date_detector
from .detectors import name as name_detector
from .detectors._common import DigitRuns, code_points
from .digest import digester, to_u64
from .index import WatchlistIndex
from .keys import Key
from .normalize import Normalized, normalize

CHUNK_CHARS = 1 << 20
# Context read before a chunk (token boundary checks look 2 chars back, a
# phone's "+358 (0)" prefix a few more) and after it (the longest identifier
# in its loosest spelling, e.g. an e-mail with "[dot]"s, or entity-encoded).
CONTEXT_BEFORE = 64
CONTEXT_AFTER = 512
FRAGMENT_CONTEXT_AFTER = 64 * 1024

NAME_BONUS = 0.15
BIRTH_DATE_BONUS = 0.05


@dataclass(frozen=True)
class Finding:
    kind: Literal["identifier", "fragment"]
    id_type: str
    ref: str
    location: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class ScanOptions:
    """What to scan for and how. `types` None means every type the index holds."""

    types: frozenset[str] | None = None
    region: str = "FI"
    customer_id_pattern: str | None = None
    window: int = 200
    base_score: float = 0.8
    fragments: bool = True
    fragment_threshold: float = 0.3
    chunk_chars: int = CHUNK_CHARS
    extra: dict[str, object] = field(default_factory=dict)


# A hit before scoring: (id_type, start, end, person) in input offsets of a chunk.
_Hit = tuple[str, int, int, int]


class Scanner:
    """Scans text for the people of one watchlist index."""

    def __init__(self, index: WatchlistIndex, key: Key, options: ScanOptions | None = None):
        index.check_key(key)
        self.index = index
        self.key = key
        self.options = options or ScanOptions()
        self._digester = digester(key)
        wanted = self.options.types
        if wanted is not None:
            unknown = set(wanted) - set(IDENTIFIER_TYPES) - {"fragment"}
            if unknown:
                raise ValueError(f"unknown identifier types: {sorted(unknown)}")
        # Only types someone is enrolled with are worth detecting.
        self.types = [
            t for t in IDENTIFIER_TYPES
            if t in index.id_types and (wanted is None or t in wanted)
            and (t != "customer_id" or self.options.customer_id_pattern)
        ]
        self._detectors = {
            t: get_detector(
                t, region=self.options.region,
                customer_id_pattern=self.options.customer_id_pattern,
            )
            for t in self.types
        }
        self.scan_fragments = (
            self.options.fragments
            and index.fragments.n_records > 0
            and (wanted is None or "fragment" in wanted)
        )

    # -- public ------------------------------------------------------------------

    def scan_text(self, text: str, location: str, kind: str = "text") -> list[Finding]:
        """All findings in `text`, in order of position; offsets index `text`."""
        return self.scan_range(text, 0, len(text), location, kind)

    def scan_range(
        self, text: str, lo: int, hi: int, location: str, kind: str = "text"
    ) -> list[Finding]:
        """Findings that start in ``text[lo:hi]`` (the rest of `text` is context)."""
        hits: list[_Hit] = []
        frags: list[tuple[int, float, int, int]] = []
        step = max(1024, self.options.chunk_chars)
        for cs in range(lo, max(hi, lo + 1), step):
            ce = min(hi, cs + step)
            if self.types:
                ws, we = max(0, cs - CONTEXT_BEFORE), min(len(text), ce + CONTEXT_AFTER)
                piece = text if (ws == 0 and we == len(text)) else text[ws:we]
                for t, s, e, person in self._scan_piece(piece, kind):
                    if cs <= s + ws < ce:
                        hits.append((t, s + ws, e + ws, person))
            if self.scan_fragments:
                we = min(len(text), ce + FRAGMENT_CONTEXT_AFTER)
                for rec, score, s, e in self._fragments(text[cs:we]):
                    if s + cs < ce:
                        frags.append((rec, score, s + cs, e + cs))
        findings = self._score(text, hits, location, kind)
        findings += self._fragment_findings(frags, location)
        findings.sort(key=lambda f: (f.start, f.end, f.kind, f.id_type, f.ref))
        return findings

    # -- identifiers ---------------------------------------------------------------

    def _scan_piece(self, piece: str, kind: str) -> list[_Hit]:
        norm = normalize(piece, html_tags=kind == "html", sql=kind == "sql")
        text = norm.text
        codes = code_points(text)
        runs = DigitRuns(codes) if NUMERIC_TYPES.intersection(self.types) else None
        hits: list[_Hit] = []
        for t in self.types:
            if t == "hetu":
                starts, ends, canon = hetu.find_arrays(codes, text, runs)
                if not len(starts):
                    continue
                keys = to_u64(self._digester.digest_fixed("hetu", canon))
            else:
                found = list(self._find(t, text, runs))
                if not found:
                    continue
                starts = np.fromiter((f[0] for f in found), np.int64, len(found))
                ends = np.fromiter((f[1] for f in found), np.int64, len(found))
                keys = to_u64(self._digester.digest_many(t, [f[2] for f in found]))
            where, people = self.index.lookup(t, keys)
            if not len(where):
                continue
            s_in, e_in = norm.spans(starts[where], ends[where])
            hits += zip(
                [t] * len(where), s_in.tolist(), e_in.tolist(), people.tolist(), strict=True
            )
        return hits

    def _find(self, t: str, text: str, runs: DigitRuns | None) -> Iterable[tuple[int, int, str]]:
        from .detectors import cpr, fodselsnummer, personnummer, phone

        if runs is not None:
            if t == "phone":
                return phone.find(text, self.options.region, runs)
            numeric = {"cpr": cpr, "fodselsnummer": fodselsnummer, "personnummer": personnummer}
            if t in numeric:
                return numeric[t].find(text, runs)
        return self._detectors[t].find(text)

    def _score(self, text: str, hits: list[_Hit], location: str, kind: str) -> list[Finding]:
        out = []
        seen = set()
        for t, s, e, person in hits:
            if (t, s, e, person) in seen:
                continue
            seen.add((t, s, e, person))
            score = self.options.base_score
            if self.index.corroborating:
                score += self._corroboration(text, s, e, person, kind)
            out.append(
                Finding("identifier", t, self.index.refs[person], location, s, e, min(1.0, score))
            )
        return out

    def _corroboration(self, text: str, s: int, e: int, person: int, kind: str) -> float:
        """Bonus for the same person's name / birth date near the identifier."""
        w = self.options.window
        a, b = max(0, s - w), min(len(text), e + w)
        near = normalize(text[a:b], html_tags=kind == "html", sql=kind == "sql")
        # Leave the identifier itself out (a HETU spells its own birth date).
        ns, ne = _norm_range(near, s - a, e - a)
        around = near.text[:ns] + " \n " + near.text[ne:]
        bonus = 0.0
        for corr_type, detector, value in (
            ("name", name_detector, NAME_BONUS),
            ("birth_date", birth_date_detector, BIRTH_DATE_BONUS),
        ):
            enrolled = self.index.corroborating_keys(corr_type, person)
            if not len(enrolled):
                continue
            values = sorted({c for _, _, c in detector.find(around)})
            if values:
                keys = to_u64(self._digester.digest_many(corr_type, values))
                if np.isin(keys, enrolled).any():
                    bonus += value
        return bonus

    # -- fragments -------------------------------------------------------------------

    def _fragments(self, text: str) -> list[tuple[int, float, int, int]]:
        from . import fragments

        hashes, starts, ends = fragments.text_fingerprints(self.key, text)
        f = self.index.fragments
        return list(
            fragments.match(
                f.fp_sorted, f.fp_record, f.record_fp_counts, hashes, starts, ends,
                self.options.fragment_threshold,
            )
        )

    def _fragment_findings(
        self, frags: list[tuple[int, float, int, int]], location: str
    ) -> list[Finding]:
        """One finding per record and stretch of text (overlapping chunk reports merged)."""
        merged: dict[int, list[list[float]]] = {}
        for rec, score, s, e in sorted(frags, key=lambda x: (x[0], x[2])):
            spans = merged.setdefault(int(rec), [])
            if spans and s <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], e)
                spans[-1][2] = max(spans[-1][2], score)
            else:
                spans.append([s, e, score])
        people = self.index.fragments.record_people
        out = []
        for rec, spans in merged.items():
            ref = self.index.refs[int(people[rec])]
            for s, e, score in spans:
                out.append(
                    Finding("fragment", "fragment", ref, location, int(s), int(e),
                            float(min(1.0, score)))
                )
        return out


def _norm_range(norm: Normalized, s: int, e: int) -> tuple[int, int]:
    """Normalised offsets covering the input span [s, e)."""
    if norm.starts is None:
        return s, e
    ns = int(np.searchsorted(norm.starts, s, side="left"))
    ne = int(np.searchsorted(norm.starts, e, side="left"))
    return ns, ne


def scan_files(
    paths: Sequence[str],
    index: WatchlistIndex,
    key: Key,
    options: ScanOptions | None = None,
    jobs: int = 1,
) -> Iterator[Finding | Skipped]:
    """Scan files, directories and archives; see `matchers.scanfiles`."""
    from .scanfiles import scan_files as _scan_files

    return _scan_files(paths, index, key, options, jobs)


@dataclass(frozen=True)
class Skipped:
    """An input that was not scanned, and why (never its content)."""

    location: str
    reason: str
