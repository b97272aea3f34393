"""The scan engine: find a register's people in text, by keyed digests only.

Two entry points share one pipeline: `Scanner.scan_text` (a decoded text, e.g.
an archive member or a crawled page) and `Scanner.scan_bytes` (a byte range of a
UTF-8 or cp1252 file, used by `matchers.scanfiles` for big files). Both work in
chunks of 512 Ki characters or bytes (whole-buffer numpy work is slow on large inputs; chunks
are also the unit of parallelism). Per chunk:

1. Normalise only when needed. A chunk is *clean* when normalisation could not
   change it: no ``&`` or ``\\`` (HTML: no ``<``; SQL: no ``''``), and every
   non-ASCII character is one normalisation leaves alone. For bytes this is
   checked without decoding: cp1252 with a 256-entry table over the few high
   bytes, UTF-8 by accepting only two-byte sequences led by 0xC3 (U+00C0-U+00FF,
   the accented letters of Finnish, Swedish, German ... text; none of them is
   changed by NFKC), which also proves the bytes valid. Anything else goes
   through `normalize` with its offset map.
2. The byte path: when only digit-based types are wanted (HETU, personnummer,
   fødselsnummer, CPR, phone) and no fragments, a clean chunk is scanned as
   bytes, without decoding it to str at all; byte offsets of the (rare) hits
   become character offsets by counting the 0xC3 leads before them.
3. Digit runs are found once with numpy; HETU candidates are validated
   vectorised and keyed in one AES call (a HETU message is one CMAC block).
   Phone numbers are not parsed at scan time: every reading of a digit chain
   is turned into its E.164 form (in C, or with numpy), all are keyed, and the longest
   reading found in the index wins (`detectors.phone.candidates`). E-mail
   addresses of the plain shape are cut out with numpy too
   (`detectors.email.find_arrays`). Values of one type are keyed in one
   variable-length CMAC call and looked up with `np.searchsorted`.
4. Fragments: the fragment matcher's fingerprints of the chunk, reduced to the
   ones the index holds (one sorted search), matched against its records.

Chunks overlap: each reads context before its start (token boundaries, and the
corroboration window) and after its end (identifiers across the border); it
reports only findings that start inside it, so nothing is found twice or missed
at a border. What the detectors need there is normalised characters, so a chunk
whose context normalises to too few (padded with soft hyphens, zero-width marks or
tags, which normalise to nothing) reads more input, up to `MAX_CONTEXT` characters
a side; a range of a file that holds too little raises `NeedsContext`, and
`matchers.scanfiles` reads it again with that much around it. A chunk's fragment scan
reads `FRAGMENT_CONTEXT_BEFORE` characters before it and `FRAGMENT_CONTEXT_AFTER` after
it, and keeps each record's best region among those that start in the chunk.

Scores. An identifier found alone scores `base_score` (0.8). A corroborating
name of the same person within `window` characters adds 0.15, a birth date
0.05 (a HETU already carries the birth date, so the date is weak evidence);
the score is capped at 1.0. Names and dates never make a finding on their own.
Corroboration is computed for all hits of a scan together (one digest call per
type). What it reads is, for each hit, its window normalised on its own with the
identifier left out: the span before the identifier and the span after it, each
read on its own. A window is cut from the chunk's normalised text when no
normalisation match straddles its ends (`_HitWindows.prepare`), so few windows
are normalised on their own. The spans are read in C (`matchers/_native_corr.c`,
the detectors' expressions exactly) and the values looked up per person in C;
without the extension, dense chunks are read once for all their windows
(`_ChunkText`). tests/unit/test_engine_differential.py holds all of it to the
plain algorithm, with and without the extension.

`Scanner.timings` adds up the seconds spent per part (for benchmarks).

Privacy: nothing here logs or raises with a value from the text; findings
carry only the type, the person's ref, the location and offsets.
"""

from __future__ import annotations

import time
import weakref
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import partial
from operator import attrgetter
from typing import Literal, cast

import numpy as np

from . import decode as _decode  # (also registers the "vahti-*" codec error handlers)
from . import heap, html_hidden, native
from . import normalize as _normalize
from .contentid import ContentIds
from .detectors import IDENTIFIER_TYPES, NUMERIC_TYPES, email, get_detector, hetu, phone
from .detectors import birth_date as birth_date_detector
from .detectors import name as name_detector
from .detectors._common import DigitRuns, ascii_table, code_points, member
from .digest import digester, to_u64
from .fragments import dedupe_sorted
from .index import WatchlistIndex
from .keys import Key
from .normalize import Normalized, _special_table, match_starts, normalize, normalize_windows
from .retain import FRAGMENT, Retained

CHUNK_CHARS = 1 << 19  # 512 Ki: measured fastest here (1 MiB of temporaries spills the L2 cache)
# Context read before a chunk (token boundary checks look 2 chars back, a
# phone's "+358 (0)" prefix a few more) and after it (the longest identifier
# in its loosest spelling, e.g. an e-mail with "[dot]"s), in normalised characters.
# The corroboration window (input characters) comes on top of both.
CONTEXT_BEFORE = 64
CONTEXT_AFTER = 512
FRAGMENT_CONTEXT_AFTER = 64 * 1024
# A chunk's fragment scan also reads this many input characters before it: winnowing
# picks a k-gram by comparing it with the two before it, and a region runs on while its
# record's fingerprints are at most `fragments.MAX_GAP_CHARS` (300) apart. Without them
# the k-grams just after a border were picked as at the start of a text, and an excerpt
# starting just before the border could fall one fingerprint short in the chunk its
# region starts in: found by a scan in one chunk, missed in two.
FRAGMENT_CONTEXT_BEFORE = 4 * 1024
# Those are normalised characters, but a chunk's context is cut from the input, and
# characters that normalise to nothing (soft hyphens, zero-width marks, tags, their
# entities) can take all of it: an identifier padded with them across a chunk's end
# was missed by both chunks. So a chunk reads AFTER_READ times CONTEXT_AFTER input
# characters after it (the realistic corpus' forum HTML normalises to half as many:
# twice was short for a quarter of its chunks), and one whose normalised context still
# falls short reads CONTEXT_GROWTH times more input and is normalised again, up to
# MAX_CONTEXT characters a side (two to four rounds: 8 MB of nothing but soft hyphens
# take 0.34-0.47 s instead of 0.06-0.13 s: about five times, not a rescan per
# character). A clean chunk (nothing to normalise) reads only CONTEXT_AFTER.
AFTER_READ = 4
CONTEXT_GROWTH = 8
MAX_CONTEXT = 1 << 16
MAX_BYTES_PER_CHAR = 4
MAX_CONTEXT_BYTES = MAX_CONTEXT * MAX_BYTES_PER_CHAR
# Fragment fingerprints are pre-filtered by their top 27 bits: a 16 MB bit table
# (as big as a byte table over 24 bits, but eight times fewer false hits to search).
_FP_TABLE_BITS = 27
_FP_TABLE_SHIFT = np.uint64(64 - _FP_TABLE_BITS)
# The native lookup (`_native_frag.c`) narrows each exact search to one bucket of the
# sorted index by the top _FP_BUCKET_BITS bits: about 5 entries instead of 21 steps
# over 19 MB, a cache miss each.
_FP_BUCKET_BITS = 19
_FP_BUCKET_SHIFT = 64 - _FP_BUCKET_BITS
# per index: (bit table, bucket starts or None without the C extension)
_FP_TABLES: weakref.WeakKeyDictionary[WatchlistIndex, tuple[np.ndarray, np.ndarray | None]] = (
    weakref.WeakKeyDictionary())

# Canonical forms of non-ASCII words, for the C reader of names (cleared when full).
_WORD_CACHE: dict[str, str] = {}
_WORD_CACHE_MAX = 200_000
# A text whose hits' windows add up to at least 1/DENSE_COVER of it is read once for all
# of them: by the Python reader of names and dates (`_ChunkText`), and a byte-path chunk
# is decoded whole rather than window by window.
DENSE_COVER = 3
NAME_BONUS = 0.15
BIRTH_DATE_BONUS = 0.05

# Error handlers as `matchers.decode` uses them, so a range decodes like the whole file.
CODEC_ERRORS = {"utf-8": "vahti-cp1252", "cp1252": "vahti-latin1"}


class NeedsContext(Exception):
    """A range's bytes end before the normalised context one of its chunks needs
    (`Scanner.scan_bytes_columns`)."""


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Literal["identifier", "fragment"]
    id_type: str
    ref: str
    location: str
    start: int
    end: int
    score: float


# The member descriptors of Finding's slots, in field order: their __set__ fills a slot
# as the frozen dataclass's __init__ does, without its per-field `object.__setattr__`.
_FIELD_SETTERS = tuple(Finding.__dict__[f.name].__set__ for f in fields(Finding))


def new_finding(kind: str, id_type: str, ref: str, location: str, start: int, end: int,
                score: float) -> Finding:
    """`Finding(...)` at 60% of the cost (a dense dump has a finding every row, and this
    is how they are made without the C extension): the slots are filled through their
    descriptors. The object is the same (equality, hash, pickle, repr)."""
    f = object.__new__(Finding)
    s_kind, s_type, s_ref, s_location, s_start, s_end, s_score = _FIELD_SETTERS
    s_kind(f, kind)
    s_type(f, id_type)
    s_ref(f, ref)
    s_location(f, location)
    s_start(f, start)
    s_end(f, end)
    s_score(f, score)
    return f


# The order of a scan's findings.
FINDING_ORDER = attrgetter("start", "end", "kind", "id_type", "ref")
# Findings handed on one by one are made this many at a time (`FindingColumns.blocks`).
FINDING_BLOCK = 512


@dataclass(frozen=True)
class FindingColumns:
    """Findings of one input as columns, in FINDING_ORDER (offsets relative to where its
    scan started). A dense dump has a finding on every row: columns cross a worker's pipe
    in a tenth of the time pickled objects take, and each `Finding` is made once, at its
    final offsets, by whoever consumes it (`findings`, in C when the extension is built)."""

    kinds: list[str]
    id_types: list[str]
    refs: list[str]
    location: str
    starts: np.ndarray  # int64
    ends: np.ndarray  # int64
    scores: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.id_types)

    @staticmethod
    def empty(location: str) -> FindingColumns:
        return FindingColumns([], [], [], location, np.zeros(0, np.int64),
                              np.zeros(0, np.int64), np.zeros(0, np.float64))

    @staticmethod
    def of(found: Sequence[Finding], location: str) -> FindingColumns:
        """Findings (of one location, in FINDING_ORDER) as columns."""
        return FindingColumns(
            [f.kind for f in found], [f.id_type for f in found], [f.ref for f in found],
            location, np.fromiter((f.start for f in found), np.int64, len(found)),
            np.fromiter((f.end for f in found), np.int64, len(found)),
            np.fromiter((f.score for f in found), np.float64, len(found)))

    def shifted(self, base: int) -> FindingColumns:
        """The same findings, offsets `base` further."""
        return replace(self, starts=self.starts + base, ends=self.ends + base) if base else self

    def findings(self, base: int = 0) -> list[Finding]:
        """The findings, offsets `base` further."""
        return self._rows(base, 0, len(self))

    def blocks(self, base: int = 0) -> Iterator[list[Finding]]:
        """The findings, offsets `base` further, in lists of at most FINDING_BLOCK: for a
        consumer that takes them one by one and drops them. Made a block at a time, a
        finding is still in the cache when it is taken and when it is freed; made all
        at once (a task's tens of thousands), it is not: 287,000 findings of the 40 MB
        leak corpus, made, taken and dropped, cost 210-300 ns each in blocks of 256-512
        against 350-470 ns in one list."""
        for lo in range(0, len(self), FINDING_BLOCK):
            yield self._rows(base, lo, min(len(self), lo + FINDING_BLOCK))

    def _rows(self, base: int, lo: int, hi: int) -> list[Finding]:
        starts = np.ascontiguousarray(self.starts, dtype=np.int64)
        ends = np.ascontiguousarray(self.ends, dtype=np.int64)
        scores = np.ascontiguousarray(self.scores, dtype=np.float64)
        lib = native.lib
        if lib is not None:
            return lib.make_findings(Finding, self.kinds, self.id_types, self.refs,
                                     self.location, starts, ends, scores, base, lo, hi)
        return list(map(new_finding, self.kinds[lo:hi], self.id_types[lo:hi],
                        self.refs[lo:hi], [self.location] * (hi - lo),
                        (starts[lo:hi] + base).tolist(), (ends[lo:hi] + base).tolist(),
                        scores[lo:hi].tolist()))

    def _key(self, i: int) -> tuple:
        return (int(self.starts[i]), int(self.ends[i]), self.kinds[i], self.id_types[i],
                self.refs[i])

    def merged(self, more: FindingColumns) -> FindingColumns:
        """These and `more` (short; both in FINDING_ORDER) as one, in FINDING_ORDER: each
        of `more` placed by bisection on the starts, then past the lower keys of equal
        start (ties with an equal key: `more` first)."""
        if not len(more):
            return self
        at: list[int] = []
        j = 0
        for i in range(len(more)):
            key = more._key(i)
            j = max(j, int(np.searchsorted(self.starts, key[0], side="left")))
            while j < len(self) and self._key(j) < key:
                j += 1
            at.append(j)
        return FindingColumns(
            _inserted(self.kinds, at, more.kinds), _inserted(self.id_types, at, more.id_types),
            _inserted(self.refs, at, more.refs), self.location,
            np.insert(self.starts, at, more.starts), np.insert(self.ends, at, more.ends),
            np.insert(self.scores, at, more.scores))


def _inserted(base: list[str], at: list[int], values: list[str]) -> list[str]:
    """`base` with values[k] inserted before base[at[k]] (`at` ascending)."""
    out: list[str] = []
    prev = 0
    for j, v in zip(at, values, strict=True):
        out += base[prev:j]
        out.append(v)
        prev = j
    return out + base[prev:]


@dataclass(frozen=True)
class Skipped:
    """An input that was not scanned, or not to its end ("read failed"), and why (never
    its content)."""

    location: str
    reason: str


@dataclass(frozen=True)
class Scanned:
    """One input (file or archive member) that was read, after its findings.

    `content_id` is the keyed id of the input's raw bytes (`matchers.contentid`);
    `status` is "ok", or why there was no text to scan ("binary", "empty"), or "strings":
    binary, and only its text strings were read (`matchers.binary_strings`); `kind`
    and `encoding` as `matchers.decode` judged them (for text extracted from a
    document, `encoding` names its format: sqlite, pdf, docx, ...). A "binary" input
    was not read: `reason` says what it looked like ("binary: PNG image"), as a
    `Skipped` reason would.
    """

    location: str
    size: int
    content_id: str
    kind: str
    encoding: str
    status: str
    # with ScanOptions.retain: the input's candidate keys per type (`matchers.retain`)
    retained: dict[str, np.ndarray] | None = field(default=None, compare=False, repr=False)
    partial: bool = field(default=False, compare=False, repr=False)
    reason: str | None = field(default=None, compare=False)
    # the plain SHA-256, only for inputs of at least contentid.SHARE_MIN_BYTES ("" below):
    # printed on explicit request (--share-sha256), never stored
    shareable_sha256: str = field(default="", compare=False, repr=False)


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
    # Keep every candidate's key and the text's fingerprints (`matchers.retain`):
    # all identifier types are then detected, enrolled or not.
    retain: bool = False
    extra: dict[str, object] = field(default_factory=dict)


# An identifier type as a number in the columns of hits: types in the order of their
# names, so that sorting by code sorts by name (FINDING_ORDER).
TYPE_NAMES = tuple(sorted(IDENTIFIER_TYPES))
_TYPE_CODE = {t: i for i, t in enumerate(TYPE_NAMES)}
_TYPE_NAME_ARRAY = np.array(TYPE_NAMES, dtype=object)
# Hits of their own kind until they are scored, reported (as the type they read as)
# only when confirmed beside their person (`_score`): a run-on identity code
# (`hetu.find_with_run_on`) may be a date-prefixed serial number, a mobile number
# without its leading 0 (`phone.without_trunk`) any nine digits, and a number glued to
# letters (`phone.glued_to_letters`) part of a product code.
RUN_ON_HETU = "hetu, run-on"
PHONE_WITHOUT_0 = "phone, without its 0"
PHONE_GLUED = "phone, glued to a letter"
_REPORTED_AS = {RUN_ON_HETU: "hetu", PHONE_WITHOUT_0: "phone", PHONE_GLUED: "phone"}
for _pending in _REPORTED_AS:
    _TYPE_CODE[_pending] = len(_TYPE_CODE)
# code -> the code it is reported as (itself, but for the pending kinds)
_REPORTED_CODE = np.array([_TYPE_CODE[_REPORTED_AS.get(t, t)] for t in _TYPE_CODE], np.int64)


class _Hits:
    """Hits before scoring, as int64 columns: type (`TYPE_NAMES` code), start, end and
    person, added a detector's arrays at a time (no list per hit)."""

    def __init__(self, norm: Normalized | None = None) -> None:
        self.norm = norm  # the normalised text the hits were found in
        self._parts: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
        self._columns: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def add(self, t: str, s: np.ndarray, e: np.ndarray, p: np.ndarray) -> None:
        if len(s):
            self._parts.append((_TYPE_CODE[t], s, e, p))
            self._columns = None

    def __len__(self) -> int:
        return sum(len(part[1]) for part in self._parts)

    def columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(type codes, starts, ends, people), int64, made once."""
        if self._columns is None:
            parts = self._parts
            if not parts:
                empty = np.zeros(0, dtype=np.int64)
                self._columns = (empty, empty, empty, empty)
            else:
                def joined(i: int) -> np.ndarray:
                    return np.concatenate([np.asarray(p[i], dtype=np.int64) for p in parts])

                codes = np.repeat(np.array([p[0] for p in parts], dtype=np.int64),
                                  [len(p[1]) for p in parts])
                self._columns = (codes, joined(1), joined(2), joined(3))
        return self._columns

    @property
    def starts(self) -> np.ndarray:
        return self.columns()[1]

    @property
    def ends(self) -> np.ndarray:
        return self.columns()[2]

    def set_offsets(self, starts: np.ndarray, ends: np.ndarray) -> None:
        """Replace every hit's start and end (same order)."""
        codes, _, _, people = self.columns()
        self._columns = (codes, starts, ends, people)


@dataclass
class _Scored:
    """One chunk's hits to score: deduplicated, in final offsets, and where each hit's
    corroboration window is read: ``bounds[i]`` = (window start, hit start, hit end,
    window end) in ``texts[text_of[i]]`` (a chunk's text, or a window's own
    normalised text). No texts when nothing corroborates."""

    types: np.ndarray  # `TYPE_NAMES` codes
    starts: np.ndarray
    ends: np.ndarray
    people: np.ndarray
    texts: list[str] = field(default_factory=list)
    text_of: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    bounds: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int64))


class Scanner:
    """Scans text for the people of one watchlist index."""

    def __init__(self, index: WatchlistIndex, key: Key, options: ScanOptions | None = None):
        index.check_key(key)
        native.warn_if_missing()
        heap.keep_big_buffers()  # a scan's buffers are reused, not faulted in again
        self.index = index
        self.key = key
        self.options = options or ScanOptions()
        self._digester = digester(key)
        self.content_ids = ContentIds(key)
        wanted = self.options.types
        if wanted is not None:
            unknown = set(wanted) - set(IDENTIFIER_TYPES) - {"fragment"}
            if unknown:
                raise ValueError(f"unknown identifier types: {sorted(unknown)}")
        # Only types someone is enrolled with are worth detecting, unless every
        # candidate is retained for later retro-hunts.
        self.retained = Retained() if self.options.retain else None
        self.types = [
            t for t in IDENTIFIER_TYPES
            if (t in index.id_types or self.retained is not None)
            and (wanted is None or t in wanted)
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
        if self.scan_fragments:
            tables = _FP_TABLES.get(index)
            if tables is None or (tables[1] is None
                                  and getattr(native.lib, "fragment_lookup", None) is not None):
                # built once per index (a daemon scans with one often)
                tables = _FP_TABLES[index] = _fragment_tables(index.fragments.fp_sorted)
            self._fp_table: np.ndarray = tables[0]
            self._fp_buckets: np.ndarray | None = tables[1]  # for fragment_lookup (C)
        # Retention fingerprints every text, whether or not records are enrolled.
        self.fingerprint = self.scan_fragments or (
            self.retained is not None and self.options.fragments
            and (wanted is None or "fragment" in wanted))
        # Digit-based types only look at ASCII: clean bytes can be scanned as they are.
        self.byte_path = set(self.types) <= NUMERIC_TYPES and not self.fingerprint
        w = max(0, self.options.window)
        self.context_before = CONTEXT_BEFORE + w
        self.context_after = CONTEXT_AFTER + w  # enough for a clean text
        self.context_after_read = AFTER_READ * CONTEXT_AFTER + w  # read first (MAX_CONTEXT)
        self.timings: dict[str, float] = defaultdict(float)

    @property
    def context_before_bytes(self) -> int:
        """Bytes a range scan needs before its start (see `scan_bytes`): the
        identifiers' context, and a fragment scan's."""
        before = self.context_before * MAX_BYTES_PER_CHAR
        return max(before, FRAGMENT_CONTEXT_BEFORE * MAX_BYTES_PER_CHAR) if self.fingerprint \
            else before

    @property
    def context_after_bytes(self) -> int:
        """Bytes a range scan reads after its end, up to a character start (`scan_bytes`):
        the identifiers' context, and a fragment scan's."""
        after = self.context_after_read * MAX_BYTES_PER_CHAR
        return max(after, FRAGMENT_CONTEXT_AFTER * 2) if self.fingerprint else after

    # -- public ------------------------------------------------------------------

    def scan_text(self, text: str, location: str, kind: str = "text") -> list[Finding]:
        """All findings in `text`, in order of position; offsets index `text`."""
        return self.scan_range(text, 0, len(text), location, kind)

    def scan_range(
        self, text: str, lo: int, hi: int, location: str, kind: str = "text"
    ) -> list[Finding]:
        """Findings that start in ``text[lo:hi]`` (the rest of `text` is context)."""
        return self.scan_range_columns(text, lo, hi, location, kind).findings()

    def scan_range_columns(
        self, text: str, lo: int, hi: int, location: str, kind: str = "text"
    ) -> FindingColumns:
        """`scan_range` as columns (offsets index `text`)."""
        found: list[_Scored] = []
        frags: list[tuple[int, float, int, int]] = []
        step = max(1024, self.options.chunk_chars)
        for cs in range(lo, max(hi, lo + 1), step):
            ce = min(hi, cs + step)
            if self.types:
                piece, b0, b1, norm = self._with_context(
                    partial(_text_around, text, cs, ce), kind, None, self.context_after_read)
                hits = self._hits_in(norm, b0, b1)
                self._collect(found, _HitWindows(piece, hits), hits, cs - b0, False, kind)
                if kind == "html":
                    self._collect_hidden(found, piece, norm, b0, b1, cs - b0)
            if self.fingerprint:
                fs = max(0, cs - FRAGMENT_CONTEXT_BEFORE)
                we = min(len(text), ce + FRAGMENT_CONTEXT_AFTER)
                for rec, score, s, e in self._fragments(text[fs:we], kind, cs - fs, ce - fs):
                    frags.append((rec, score, s + fs, e + fs))
        return self._finish(found, frags, location)

    def scan_bytes(
        self, data: bytes, lo: int, hi: int, codec: str, location: str, kind: str = "text"
    ) -> tuple[list[Finding], int]:
        """Findings that start in bytes ``data[lo:hi]`` of a UTF-8 or cp1252 text.

        `lo` and `hi` must be character starts; the rest of `data` is context
        (`context_before_bytes` before `lo` and `context_after_bytes` after `hi` are
        enough, but for text padded with characters that normalise to nothing: see
        `scan_bytes_columns`). Offsets are character offsets counted from the character
        at `lo`. Returns the findings and the number of characters in ``data[lo:hi]``.
        """
        found, n_chars = self.scan_bytes_columns(data, lo, hi, codec, location, kind)
        return found.findings(), n_chars

    def scan_bytes_columns(
        self, data: bytes, lo: int, hi: int, codec: str, location: str, kind: str = "text",
        input_before: bool = False, input_after: bool = False,
    ) -> tuple[FindingColumns, int]:
        """`scan_bytes` with the findings as columns. `input_before` and `input_after`:
        the input goes on before `data` and after it (a range read from a file). A chunk
        whose normalised context needs more than `data` holds on such a side then
        raises `NeedsContext` (read the range again with MAX_CONTEXT_BYTES a side)."""
        a = np.frombuffer(data, dtype=np.uint8)
        utf8 = codec == "utf-8"
        errors = CODEC_ERRORS.get(codec, "replace")
        found: list[_Scored] = []
        frags: list[tuple[int, float, int, int]] = []
        step = max(1024, self.options.chunk_chars)
        before_b = self.context_before * MAX_BYTES_PER_CHAR
        # (a clean window normalises to itself: `context_after` is enough for it)
        after_b = self.context_after * MAX_BYTES_PER_CHAR
        base = 0  # characters from lo to cs
        cs = lo
        while True:
            ce = char_start(a, min(hi, cs + step), utf8) if cs + step < hi else hi
            t0 = time.perf_counter()
            ws = char_start(a, max(0, cs - before_b), utf8)
            we = char_start(a, min(len(a), ce + after_b), utf8)
            win = a[ws:we]
            clean, leads = _clean_bytes(data, ws, we, utf8, kind)
            self.timings["decode/normalise"] += time.perf_counter() - t0
            if clean and self.byte_path:
                n_chars = (ce - cs) - _count_between(leads, cs - ws, ce - ws)
                if self.types:
                    self._scan_clean_bytes(found, data, win, ws, cs, ce, leads, base, codec)
            else:
                t0 = time.perf_counter()
                view = memoryview(data)  # decoded where they lie, without copies
                prefix = _decoded(view[ws:cs], codec, errors)
                body = _decoded(view[cs:ce], codec, errors)
                tail_end = char_start(a, min(len(a), ce + self.context_after_bytes), utf8)
                tail = _decoded(view[ce:tail_end], codec, errors)
                self.timings["decode/normalise"] += time.perf_counter() - t0
                n_chars = len(body)
                if self.types:
                    around = _BytesAround(a, view, codec, errors, cs, ce, prefix, body, tail)
                    # A clean window proves the piece clean: no normalisation; and a clean
                    # piece must not reach past the window found clean.
                    piece, b0, _, norm = self._with_context(
                        around, kind, clean or None,
                        self.context_after if clean else self.context_after_read,
                        input_before, input_after)
                    hits = self._hits_in(norm, b0, b0 + len(body))
                    self._collect(found, _HitWindows(piece, hits), hits, base - b0, bool(clean),
                                  kind)
                    if kind == "html":
                        self._collect_hidden(found, piece, norm, b0, b0 + len(body), base - b0)
                if self.fingerprint:
                    fprefix = _decoded_before(a, view, codec, errors, cs,
                                              FRAGMENT_CONTEXT_BEFORE)[-FRAGMENT_CONTEXT_BEFORE:]
                    ftext = fprefix + body + tail[:FRAGMENT_CONTEXT_AFTER]
                    n = len(fprefix)
                    for rec, score, s, e in self._fragments(ftext, kind, n, n + len(body)):
                        frags.append((rec, score, s - n + base, e - n + base))
            base += n_chars
            if ce >= hi:
                break
            cs = ce
        return self._finish(found, frags, location), base

    # -- identifiers ---------------------------------------------------------------

    def _normalized(self, piece: str, kind: str, clean: bool | None) -> Normalized:
        t0 = time.perf_counter()
        if clean:
            norm = Normalized(piece, len(piece))
        else:
            norm = normalize(piece, html_tags=kind == "html", sql=kind == "sql")
        self.timings["decode/normalise"] += time.perf_counter() - t0
        return norm

    def _with_context(
        self, around: Callable[[int, int], tuple[str, int, int, bool, bool]], kind: str,
        clean: bool | None, after_n: int, input_before: bool = False, input_after: bool = False,
    ) -> tuple[str, int, int, Normalized]:
        """A chunk with the context it needs, normalised: (piece, chunk start, chunk end,
        normalised piece). ``around(before_n, after_n)`` gives the chunk with up to that
        many input characters before and after it (fewer where the text at hand ends: it
        says so), and is asked for more, CONTEXT_GROWTH times a round, while the normalised
        context falls short (see MAX_CONTEXT). Raises `NeedsContext` when the text at hand
        ends on a side that the input goes on (`input_before`, `input_after`)."""
        before_n = self.context_before
        while True:
            piece, b0, b1, all_before, all_after = around(before_n, after_n)
            norm = self._normalized(piece, kind, clean)
            short_before, short_after = self._short_context(norm, b0, b1)
            more_before = short_before and before_n < MAX_CONTEXT
            more_after = short_after and after_n < MAX_CONTEXT
            if (input_before and more_before and all_before) or (
                    input_after and more_after and all_after):
                raise NeedsContext
            more_before &= not all_before
            more_after &= not all_after
            if not (more_before or more_after):
                return piece, b0, b1, norm
            if more_before:
                before_n = min(MAX_CONTEXT, CONTEXT_GROWTH * before_n)
            if more_after:
                after_n = min(MAX_CONTEXT, CONTEXT_GROWTH * after_n)

    def _short_context(self, norm: Normalized, b0: int, b1: int) -> tuple[bool, bool]:
        """Whether a piece, normalised, holds fewer than CONTEXT_BEFORE characters before
        its chunk ``[b0, b1)``, and fewer than CONTEXT_AFTER after it that leave a
        window's input characters after them (see MAX_CONTEXT)."""
        if norm.identity:
            return False, False
        w = max(0, self.options.window)
        # (three offsets: bisected in C, where `out_offsets` would first compute a table
        # over all of the map's segments)
        chunk_end = norm.out_offset(b1)
        last = norm.out_offset(max(b1, norm.source_len - w))
        return norm.out_offset(b0) < CONTEXT_BEFORE, last - chunk_end < CONTEXT_AFTER

    def _hits_in(self, norm: Normalized, b0: int, b1: int) -> _Hits:
        """Hits that start in input ``[b0, b1)`` of a normalised piece, in its input
        offsets."""
        hits = _Hits(norm=norm)
        for t, s, e, people in self._identify(None, norm.text):
            s_in, e_in = norm.spans(s, e)
            keep = (s_in >= b0) & (s_in < b1)
            hits.add(t, s_in[keep], e_in[keep], people[keep])
        return hits

    def _collect_hidden(
        self, out: list[_Scored], piece: str, norm: Normalized, b0: int, b1: int, shift: int
    ) -> None:
        """The hits that start in input ``[b0, b1)`` of a page's piece inside its tags,
        comments, scripts and styles, which `norm` (the page's text) dropped: read as
        plain text (`html_hidden`), their windows too."""
        hidden = html_hidden.hidden_text(piece, norm.matched)
        if hidden is None:
            return
        hidden_norm = self._normalized(hidden.text, "text", None)
        hits = _Hits(norm=hidden_norm)
        for t, s, e, people in self._identify(None, hidden_norm.text):
            s_h, e_h = hidden_norm.spans(s, e)
            s_in = hidden.to_page(s_h, e_h)[0]
            keep = (s_in >= b0) & (s_in < b1)
            hits.add(t, s_h[keep], e_h[keep], people[keep])
        self._collect(out, _HitWindows(hidden.text, hits), hits, shift, False, "text",
                      hidden.to_page)

    def _scan_clean_bytes(
        self, out: list[_Scored], data: bytes, win: np.ndarray, ws: int, cs: int, ce: int,
        leads: np.ndarray, base: int, codec: str,
    ) -> None:
        """The byte path for one clean chunk (see the module doc)."""
        text = data[ws : ws + len(win)].decode("latin-1")  # one char per byte: same offsets
        hits = _Hits()
        for t, s, e, people in self._identify(win, text):
            keep = (s >= cs - ws) & (s < ce - ws)
            hits.add(t, s[keep] + ws, e[keep] + ws, people[keep])
        if not len(hits):
            return
        # Byte offsets in data -> character offsets from cs (+ base from lo).
        cs_chars = (cs - ws) - _count_between(leads, 0, cs - ws)
        starts = hits.starts - ws
        ends = hits.ends - ws
        s_chars = starts - np.searchsorted(leads, starts, side="left") - cs_chars + base
        e_chars = ends - np.searchsorted(leads, ends, side="left") - cs_chars + base
        windows = _ByteWindows(data, codec, hits.starts, hits.ends, (
            ws, ws + len(win), leads, s_chars + cs_chars - base, e_chars + cs_chars - base))
        hits.set_offsets(s_chars, e_chars)
        self._collect(out, windows, hits, 0, True)

    def _identify(
        self, codes: np.ndarray | None, text: str
    ) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
        """(type, starts, ends, people) of the enrolled identifiers in `text`
        (normalised or clean), offsets of `codes`/`text`; `codes` None: the code
        points of `text`, made only if a detector needs them."""
        runs = None
        # The C HETU scanner needs no digit runs, nor the code points of a str (it
        # reads the str itself): a HETU-only scan skips making them.
        need = set(NUMERIC_TYPES.intersection(self.types))
        if native.lib is not None:
            need.discard("hetu")
        if codes is None and (need or "email" in self.types or native.lib is None):
            codes = code_points(text)
        if need or "email" in self.types:
            assert codes is not None
            t0 = time.perf_counter()
            runs = DigitRuns(codes)
            self.timings["digit runs"] += time.perf_counter() - t0
        # The valid identity codes' ends: an e-mail address or a phone number glued to one
        # is read from there (a packed row's next column, see `email.after_codes`). The
        # hetu branch makes them (it comes first), or here when codes are not scanned for.
        code_ends = None
        if "hetu" not in self.types and ("email" in self.types or "phone" in self.types):
            t0 = time.perf_counter()
            code_ends = hetu.find_with_run_on(codes, text, runs)[1]
            self.timings["hetu"] += time.perf_counter() - t0
        # The numbers glued to letters (a packed row's phone column between its name and
        # its e-mail column): read as phones, and an address glued to their end is read.
        packed = None
        if "email" in self.types or "phone" in self.types:
            t0 = time.perf_counter()
            assert runs is not None
            packed = phone.glued_to_letters(runs, self.options.region)
            self.timings["phone"] += time.perf_counter() - t0
        for t in self.types:
            t0 = time.perf_counter()
            if t == "hetu":
                code_ends = yield from self._codes(codes, text, runs)
                self.timings["hetu"] += time.perf_counter() - t0
                continue
            elif t == "phone":
                assert runs is not None and codes is not None and code_ends is not None
                assert packed is not None
                yield from self._phones(runs, codes, text, code_ends, packed)
                self.timings["phone"] += time.perf_counter() - t0
                continue
            elif t == "email":
                assert codes is not None and code_ends is not None and packed is not None
                starts, ends, values, lengths = email.without_tags(email.after_codes(
                    codes, text, np.concatenate((code_ends, packed.ends)),
                    email.find_arrays(codes, text)))
                keys = (to_u64(self._digester.digest_rows("email", values, lengths))
                        if len(starts) else None)
                part = "email"
            else:
                found = list(self._find(t, text, runs))
                starts = np.fromiter((f[0] for f in found), np.int64, len(found))
                ends = np.fromiter((f[1] for f in found), np.int64, len(found))
                keys = (to_u64(self._digester.digest_many(t, [f[2] for f in found]))
                        if found else None)
                part = "other numeric" if t in NUMERIC_TYPES else "other"
            if keys is not None:
                where, people = self._looked_up(t, keys)
                if len(where):
                    yield t, starts[where], ends[where], people
            self.timings[part] += time.perf_counter() - t0

    def _looked_up(self, t: str, keys: np.ndarray,
                   retain: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The watchlist's hits among `keys` of type `t` (where, people); `retain`, the
        keys kept for later retro-hunts (all of them when None), are kept."""
        if self.retained is not None:
            self.retained.add(t, keys if retain is None else retain)
        return self.index.lookup(t, keys)

    def _codes(
        self, codes: np.ndarray | None, text: str, runs: DigitRuns | None
    ) -> Generator[tuple[str, np.ndarray, np.ndarray, np.ndarray], None, np.ndarray]:
        """The enrolled identity codes' hits; returns the ends of the codes, run-on ones
        too (a number glued to one is read: `phone.after_codes`). A run-on code's hit is
        reported only when confirmed (`_score`), and it is not retained: a retro-hunt
        has no window to confirm it in."""
        starts, ends, canon, run_on = hetu.find_with_run_on(codes, text, runs)
        if not len(starts):
            return ends
        keys = to_u64(self._digester.digest_fixed("hetu", canon))
        some_on = run_on.any()  # seldom: only packed text has them
        where, people = self._looked_up("hetu", keys, keys[~run_on] if some_on else None)
        if not some_on:
            if len(where):
                yield "hetu", starts[where], ends[where], people
            return ends
        if len(where):
            on = run_on[where]
            yield "hetu", starts[where[~on]], ends[where[~on]], people[~on]
            yield RUN_ON_HETU, starts[where[on]], ends[where[on]], people[on]
        return ends

    def _phones(
        self, runs: DigitRuns, codes: np.ndarray, text: str, code_ends: np.ndarray,
        packed: phone.Readings,
    ) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
        glued = phone.after_codes(codes, text, code_ends, self.options.region)
        if glued:  # a number glued to a code's end (which `candidates` takes for a longer code)
            keys = to_u64(self._digester.digest_many("phone", [g[2] for g in glued]))
            where, people = self._looked_up("phone", keys)
            if len(where):
                at = np.array([g[:2] for g in glued], dtype=np.int64).reshape(-1, 2)
                yield "phone", at[where, 0], at[where, 1], people
        # pending kinds, not retained (a retro-hunt has no window to confirm them in); a
        # number right after a code is read as such (above), not as one glued to a letter
        for kind, found in ((PHONE_WITHOUT_0, phone.without_trunk(runs, self.options.region)),
                            (PHONE_GLUED, packed)):
            if not len(found.starts):
                continue
            keys = to_u64(self._digester.digest_rows("phone", found.values, found.lengths))
            where, people = self._looked_up("phone", keys, keys[:0])
            if kind == PHONE_GLUED and len(where):
                keep = ~np.isin(found.starts[where], code_ends, kind="sort")
                where, people = where[keep], people[keep]
            if len(where):
                yield kind, found.starts[where], found.ends[where], people
        cands = phone.candidates(runs, self.options.region)
        if not len(cands.starts):
            return
        keys = to_u64(self._digester.digest_rows("phone", cands.values, cands.lengths))
        where, people = self._looked_up("phone", keys)  # every reading retained: a search keys one
        if not len(where):
            return
        keep = phone.reported(cands, where)
        where, people = where[keep], people[keep]
        yield "phone", cands.starts[where], cands.ends[where], people

    def _find(self, t: str, text: str, runs: DigitRuns | None):  # noqa: ANN202
        from .detectors import cpr, fodselsnummer, personnummer

        if runs is not None:
            numeric = {"cpr": cpr, "fodselsnummer": fodselsnummer, "personnummer": personnummer}
            if t in numeric:
                return numeric[t].find(text, runs)
        return self._detectors[t].find(text)

    # -- scoring -------------------------------------------------------------------

    def _collect(
        self, out: list[_Scored], windows: _Windows, hits: _Hits, shift: int, clean: bool,
        kind: str = "text",
        place: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> None:
        """Add a chunk's hits (deduplicated, offsets + `shift`) with where their windows
        are read (`_Windows.readings`). `place`: maps the hits' offsets (those `windows`
        reads at) to the chunk's, before the shift."""
        if not len(hits):  # a chunk with no hit: no window to look at
            return
        codes, starts, ends, people = hits.columns()
        keep = _first_of_each(codes, starts, ends, people)
        starts, ends = starts[keep], ends[keep]
        if place is not None:
            starts, ends = place(starts, ends)
        scored = _Scored(codes[keep], starts + shift, ends + shift, people[keep])
        if self.index.corroborating:
            scored.texts, scored.text_of, scored.bounds = windows.readings(
                keep, self.options.window, clean, kind)
        out.append(scored)

    def _score(self, batches: list[_Scored], location: str) -> FindingColumns:
        if not batches:
            return FindingColumns.empty(location)
        type_of = np.concatenate([b.types for b in batches])
        people = np.concatenate([b.people for b in batches])
        starts = np.concatenate([b.starts for b in batches])
        ends = np.concatenate([b.ends for b in batches])
        scores = np.full(len(type_of), self.options.base_score)
        bonus = np.zeros(len(type_of))
        if self.index.corroborating:
            t0 = time.perf_counter()
            bonus = self._corroboration(batches, people)
            scores = np.minimum(1.0, scores + bonus)
            self.timings["corroboration"] += time.perf_counter() - t0
        pending = type_of >= len(TYPE_NAMES)
        if pending.any():  # reported when corroborated or confirmed, else not at all
            keep = ~pending | (bonus > 0)
            if not keep.all():  # (a loop over the hits that no name or date confirmed)
                keep |= _beside_another(~keep, type_of, people, starts,
                                        max(0, self.options.window))
            type_of = _REPORTED_CODE[type_of][keep]
            people, starts, ends, scores = people[keep], starts[keep], ends[keep], scores[keep]
            if not len(type_of):
                return FindingColumns.empty(location)
        persons, person_at = _distinct_people(people)
        refs = self.index.refs.many(persons)
        order = _finding_order(starts, ends, type_of, refs, person_at)
        return FindingColumns(
            ["identifier"] * len(type_of),
            _TYPE_NAME_ARRAY[type_of[order]].tolist(),
            refs[person_at[order]].tolist(), location, starts[order], ends[order],
            scores[order])

    def _corroboration(self, batches: list[_Scored], people: np.ndarray) -> np.ndarray:
        """Bonus per hit for the same person's name / birth date in its window (one
        batch): the values of the window's two spans (before and after the
        identifier, each read on its own), digested once, against the person's
        corroborating keys."""
        texts: list[str] = []
        text_of, bounds = [], []
        for b in batches:
            text_of.append(b.text_of + len(texts))
            texts += b.texts
            bounds.append(b.bounds)
        text_of_all = np.concatenate(text_of)
        bounds_all = np.ascontiguousarray(np.concatenate(bounds), dtype=np.int64)
        if native.lib is not None:
            return self._corroboration_native(texts, text_of_all, bounds_all, people)
        return self._corroboration_python(texts, text_of_all, bounds_all, people)

    def _corroboration_native(
        self, texts: list[str], text_of: np.ndarray, bounds: np.ndarray, people: np.ndarray
    ) -> np.ndarray:
        lib = native.lib
        assert lib is not None
        wanted = self.index.corroborating
        # Overlapping windows are read once in C (their union, then each window's
        # edges), and only values that some window has come back to be digested.
        names, dates = lib.corr_values(
            texts, text_of, bounds, "name" in wanted, "birth_date" in wanted, _WORD_CACHE,
            name_detector.canonical_word)
        if len(_WORD_CACHE) > _WORD_CACHE_MAX:
            _WORD_CACHE.clear()
        bonus = np.zeros(len(people))
        for corr_type, value, found in (("name", NAME_BONUS, names),
                                        ("birth_date", BIRTH_DATE_BONUS, dates)):
            if found is None:
                continue
            blob, offsets, hit_ptr, ids = found
            offsets = np.frombuffer(offsets, dtype=np.int64)
            if len(offsets) < 2:
                continue
            keys = to_u64(self._digester.digest_packed(
                corr_type, np.frombuffer(blob, dtype=np.uint8), offsets[:-1], np.diff(offsets)))
            ptr, enrolled = wanted[corr_type]
            hit = lib.corr_member(np.ascontiguousarray(ptr, dtype=np.int64),
                                  np.ascontiguousarray(enrolled, dtype=np.uint64),
                                  people, hit_ptr, ids, keys)
            bonus += np.frombuffer(hit, dtype=np.uint8) * value
        return bonus

    def _corroboration_python(
        self, texts: list[str], text_of: np.ndarray, bounds: np.ndarray, people: np.ndarray
    ) -> np.ndarray:
        """`_corroboration_native` in Python: a text with dense windows is read once
        for all of them (`_ChunkText`), others span by span."""
        dense = _dense(np.bincount(text_of, minlength=len(texts)), self.options.window,
                       np.fromiter(map(len, texts), np.int64, len(texts)))
        readers: dict[int, _ChunkText | _SpanReader] = {}
        found: dict[str, list[set[str]]] = {"name": [], "birth_date": []}
        for t, (a, s, e, b) in zip(text_of.tolist(), bounds.tolist(), strict=True):
            reader = readers.get(t)
            if reader is None:
                if dense[t]:
                    mine = text_of == t
                    reader = _ChunkText(texts[t], bounds[mine, 0], bounds[mine, 3])
                else:
                    reader = _SpanReader(texts[t])
                readers[t] = reader
            for corr_type in found:
                found[corr_type].append(reader.values(corr_type, a, s)
                                        | reader.values(corr_type, e, b))
        bonus = np.zeros(len(people))
        person_of = people.tolist()
        for corr_type, value in (("name", NAME_BONUS), ("birth_date", BIRTH_DATE_BONUS)):
            if corr_type not in self.index.corroborating:
                continue
            values = sorted(set().union(*found[corr_type]))
            if not values:
                continue
            keys = to_u64(self._digester.digest_many(corr_type, values)).tolist()
            key_of = dict(zip(values, keys, strict=True))
            enrolled_of: dict[int, set[int]] = {}
            for n, person in enumerate(person_of):
                if not found[corr_type][n]:
                    continue
                enrolled = enrolled_of.get(person)
                if enrolled is None:
                    enrolled = enrolled_of[person] = set(
                        self.index.corroborating_keys(corr_type, person).tolist())
                if any(key_of[v] in enrolled for v in found[corr_type][n]):
                    bonus[n] += value
        return bonus

    # -- fragments -------------------------------------------------------------------

    def _fragments(
        self, text: str, kind: str = "text", lo: int = 0, hi: int | None = None
    ) -> list[tuple[int, float, int, int]]:
        """Fragment matches that start in ``text[lo:hi]`` (the rest is context), the best
        region per record among them, with offsets into `text`.

        Words hidden behind entities, string escapes or tags (``k\\u00e4ynti``
        in JSON, ``&auml;`` in HTML) are only words after normalisation, so such
        text is normalised first and the offsets mapped back. Plain text,
        including non-ASCII letters, goes to the tokenizer as it is.
        """
        hi = len(text) if hi is None else hi
        if "\\" in text or "&" in text or (kind == "html" and "<" in text):
            norm = normalize(text, html_tags=kind == "html", sql=kind == "sql")
            found = [(rec, score, *norm.span(s, e))
                     for rec, score, s, e in self._fragments_plain(norm.text, lo, hi, norm)]
            if kind == "html":
                found += self._hidden_fragments(text, norm, lo, hi)
            return found
        return self._fragments_plain(text, lo, hi)

    def _hidden_fragments(
        self, text: str, norm: Normalized, lo: int, hi: int
    ) -> list[tuple[int, float, int, int]]:
        """`_fragments` in a page's tags, comments, scripts and styles, which `norm` (the
        page's text) dropped (`html_hidden`), that start in ``text[lo:hi]``."""
        hidden = html_hidden.hidden_text(text, norm.matched)
        found = self._fragments(hidden.text) if hidden is not None else []
        if not found:
            return []
        assert hidden is not None
        recs, scores, s, e = (list(col) for col in zip(*found, strict=True))
        s_in, e_in = hidden.to_page(np.array(s, dtype=np.int64), np.array(e, dtype=np.int64))
        return [(rec, score, a, b) for rec, score, a, b
                in zip(recs, scores, s_in.tolist(), e_in.tolist(), strict=True) if lo <= a < hi]

    def _fragments_plain(
        self, text: str, lo: int, hi: int, norm: Normalized | None = None
    ) -> list[tuple[int, float, int, int]]:
        """`_fragments` of a plain (or normalised) text; `lo`, `hi` are offsets into the
        input `norm` was made from, if given."""
        from . import fragments

        t0 = time.perf_counter()
        hashes, starts, ends = fragments.text_fingerprints(self.key, text)
        if self.retained is not None:
            self.retained.add(FRAGMENT, hashes)
        if not self.scan_fragments:
            return []
        f = self.index.fragments
        # Only fingerprints the index holds can count. A bit table over their top
        # bits drops most of the others with one lookup; the rest are found exactly
        # (sorted, so the search walks the index in order), and `match` is given
        # where (a search of the 19 MB index costs a cache miss per step).
        found = None
        lookup = getattr(native.lib, "fragment_lookup", None)  # None: no (or an older) build
        if len(hashes) and len(f.fp_sorted) and lookup is not None and self._fp_buckets is not None:
            keep_b, lo_b, hi_b = lookup(
                self._fp_table, int(_FP_TABLE_SHIFT), f.fp_sorted, self._fp_buckets,
                _FP_BUCKET_SHIFT, hashes)
            keep = np.frombuffer(keep_b, dtype=np.int64)
            found = (np.frombuffer(lo_b, dtype=np.int64), np.frombuffer(hi_b, dtype=np.int64))
            hashes, starts, ends = hashes[keep], starts[keep], ends[keep]
        elif len(hashes) and len(f.fp_sorted):
            maybe = np.flatnonzero(_bit_test(self._fp_table, hashes >> _FP_TABLE_SHIFT))
            sub = hashes[maybe]
            order = np.argsort(sub, kind="stable")
            left = np.searchsorted(f.fp_sorted, sub[order], "left")
            right = np.searchsorted(f.fp_sorted, sub[order], "right")
            present = right > left
            keep_sorted = order[present]
            by_text = np.argsort(keep_sorted, kind="stable")
            keep = maybe[keep_sorted[by_text]]
            found = (left[present][by_text], right[present][by_text])
            hashes, starts, ends = hashes[keep], starts[keep], ends[keep]
        eligible = None
        if lo > 0 or hi < (len(text) if norm is None else norm.source_len):
            at = norm.spans(starts, ends)[0] if norm is not None else starts
            eligible = (at >= lo) & (at < hi)
        result = list(
            fragments.match(
                f.fp_sorted, f.fp_record, f.record_fp_counts, hashes, starts, ends,
                self.options.fragment_threshold, found=found, eligible=eligible,
            )
        )
        self.timings["fragments"] += time.perf_counter() - t0
        return result

    def _finish(
        self, pending: list[_Scored], frags: list[tuple[int, float, int, int]], location: str
    ) -> FindingColumns:
        found = self._score(pending, location)  # in FINDING_ORDER already
        if not frags:
            return found
        fragments = sorted(self._fragment_findings(frags, location), key=FINDING_ORDER)
        return found.merged(FindingColumns.of(fragments, location))

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


def _fragment_tables(fp_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The bit set of the index's fingerprints' top `_FP_TABLE_BITS` bits, and where each
    `_FP_BUCKET_BITS` bucket starts in it (for the C lookup; None without it). In one C
    pass where the extension has it: a scan's start-up, 63 ms with numpy's passes for
    40,000 people's notes in a new process, 20 ms so (benchmarks/scanner_startup.py)."""
    lib = native.lib
    fp_sorted = np.ascontiguousarray(fp_sorted, dtype=np.uint64)
    if getattr(lib, "fragment_lookup", None) is None:
        return _bit_table(fp_sorted >> _FP_TABLE_SHIFT, _FP_TABLE_BITS), None
    made = getattr(lib, "fragment_tables", None)
    got = made(fp_sorted, int(_FP_TABLE_SHIFT), _FP_BUCKET_SHIFT) if made else None
    if got is not None:
        return np.frombuffer(got[0], dtype=np.uint8), np.frombuffer(got[1], dtype=np.int64)
    buckets = np.searchsorted(fp_sorted >> np.uint64(_FP_BUCKET_SHIFT),
                              np.arange((1 << _FP_BUCKET_BITS) + 1, dtype=np.uint64))
    return _bit_table(fp_sorted >> _FP_TABLE_SHIFT, _FP_TABLE_BITS), buckets.astype(np.int64)


def _bit_table(idx: np.ndarray, bits: int) -> np.ndarray:
    """A bit set over [0, 2**bits) (uint8, little-endian bit order) holding `idx`."""
    table = np.zeros(1 << (bits - 3), dtype=np.uint8)
    idx = idx.astype(np.int64)
    if len(idx) and not (idx[1:] >= idx[:-1]).all():
        idx = np.sort(idx)
    if len(idx):
        byte = idx >> 3
        first = np.flatnonzero(np.concatenate(([True], byte[1:] != byte[:-1])))
        table[byte[first]] = np.bitwise_or.reduceat((1 << (idx & 7)).astype(np.uint8), first)
    return table


def _bit_test(table: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Which of `idx` are in the bit set `table` (see `_bit_table`)."""
    idx = idx.astype(np.int64)
    return (np.take(table, idx >> 3) >> (idx & 7).astype(np.uint8)) & 1 == 1


# -- text around hits (for corroboration) ----------------------------------------------


class _Windows:
    def readings(
        self, idx: np.ndarray, w: int, clean: bool, kind: str
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Where the windows (`w` characters on each side, normalised) of hits `idx`
        are read: texts, and per hit the index of its text and its bounds in it
        (window start, hit start, hit end, window end); see `_Scored`. `clean`: the
        whole chunk needs no normalisation."""
        raise NotImplementedError


def _packed(*columns: np.ndarray) -> np.ndarray | None:
    """The columns (int64, of equal length, not empty) in one int64 that sorts as they do,
    the first the most significant, each in the bits its largest value needs; None when
    one is negative or they do not fit in 63 bits."""
    if min(int(c.min()) for c in columns) < 0:
        return None
    bits = [int(c.max()).bit_length() for c in columns]
    if sum(bits) > 63:
        return None
    key = np.array(columns[0], dtype=np.int64)
    for column, width in zip(columns[1:], bits[1:], strict=True):
        key <<= width
        key |= column
    return key


def _apart(starts: np.ndarray) -> bool:
    """Do the starts ascend strictly (in order, no two at one place)? A HETU scan's do."""
    return bool((starts[1:] > starts[:-1]).all())


def _finding_order(starts: np.ndarray, ends: np.ndarray, type_of: np.ndarray,
                   refs: np.ndarray, person_at: np.ndarray) -> np.ndarray:
    """The order of findings in FINDING_ORDER (start, end, type, ref: all are
    identifiers), ties in hit order (type codes sort as the types' names do).

    Only findings with the same start, end and type need their refs compared (one
    span enrolled for two people): the refs are ranked for those alone, not sorted as
    strings for every person of the batch.

    A batch of one type (a HETU scan) comes in order: then no sort. Otherwise the three
    columns usually fit in one int64 (start, length, type: the same order), sorted once,
    stably, instead of three times by lexsort."""
    n = len(starts)
    if _apart(starts):
        return np.arange(n, dtype=np.int64)
    key = _packed(starts, ends - starts, type_of)
    if key is not None:
        tied = key[1:] == key[:-1]
        if (tied | (key[1:] > key[:-1])).all():  # in order, but for a few spans enrolled twice
            order = np.arange(n, dtype=np.int64)
        else:
            order = np.argsort(key, kind="stable")
            ranked = key[order]
            tied = ranked[1:] == ranked[:-1]
    else:
        order = np.lexsort((type_of, ends, starts))
        s, e, t = starts[order], ends[order], type_of[order]
        tied = (s[1:] == s[:-1]) & (e[1:] == e[:-1]) & (t[1:] == t[:-1])
    if not tied.any():
        return order
    # The places of tied findings in `order`, a run of them per group of equal spans,
    # reordered by ref within their runs (the few of them only: a span enrolled twice).
    pair = np.flatnonzero(tied)  # order[i] and order[i + 1] tie
    tie = np.union1d(pair, pair + 1)
    group = np.cumsum((tie == 0) | ~tied[np.maximum(tie - 1, 0)])  # a run starts a group
    rank = np.unique(refs[person_at[order[tie]]], return_inverse=True)[1].reshape(-1)
    order = order.copy()  # (its own: it may be the arange above, or a sort's)
    order[tie] = order[tie[np.lexsort((rank, group))]]
    return order


# Below heap.MMAP_THRESHOLD (its int64 slots: 16 MiB), so a table comes from the heap and
# its pages are reused from batch to batch.
_PEOPLE_TABLE_MAX = 1 << 21


def _beside_another(pending: np.ndarray, type_of: np.ndarray, people: np.ndarray,
                    starts: np.ndarray, w: int) -> np.ndarray:
    """Per hit: is it one of `pending` (a run-on code, a number without its 0 or glued to
    a letter) with a hit of another identifier type of the same person (an e-mail address,
    a phone number, a code) within `w` characters? A row of a register names its person
    by more than one identifier, and chance would not put two of one person's together.
    (The same identifier again says nothing of what the pending digits are.)"""
    out = np.zeros(len(pending), dtype=bool)
    reported = _REPORTED_CODE[type_of]
    # (person, start) as one sortable number: a person's hits in order of their starts
    at = people.astype(np.int64) << _START_BITS | starts
    for kind in np.unique(type_of[pending]).tolist():
        others = np.sort(at[reported != _REPORTED_CODE[kind]])
        mine = np.flatnonzero(pending & (type_of == kind))
        if not len(others) or not len(mine):
            continue
        lo = (people[mine].astype(np.int64) << _START_BITS) | np.maximum(starts[mine] - w, 0)
        near = np.searchsorted(others, lo, "left")
        out[mine] = (near < len(others)) & (
            others[np.minimum(near, len(others) - 1)] <= at[mine] + w)
    return out


_START_BITS = 40  # a hit's start in a text of less than a TiB


def _distinct_people(people: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct people of a batch of hits (sorted), and where each hit's person is
    among them. People are indices into the watchlist: a table over the indices does it
    without a sort or a search, which cost far more per hit than the table's bytes (a
    byte and a table read per index below the largest) unless the watchlist dwarfs the
    batch. Medians, hits of 40,000 people: 2,000 hits 21 us against 58 by sort and search,
    6,000 hits 46 against 543 (a 512 KiB range of a dense dump scanned by a worker);
    400,000 people: 6,000 hits 93 against 488, 2,000 hits 69 against 58. The table is
    also bounded (`_PEOPLE_TABLE_MAX` indices: 18 MB): past it, a register of millions
    would fault in a fresh table's pages all over for each batch."""
    if not len(people):
        return people, people
    top = int(people.max()) + 1
    if top > min(100 * len(people) + 65536, _PEOPLE_TABLE_MAX):  # a few hits, a big watchlist
        persons = dedupe_sorted(np.sort(people))  # np.unique took 2-9x longer
        return persons, np.searchsorted(persons, people)
    present = np.zeros(top, dtype=bool)
    present[people] = True
    persons = np.flatnonzero(present)
    slot = np.empty(top, dtype=np.int64)  # read only where a hit's person is: no zeroing
    slot[persons] = np.arange(len(persons))
    return persons, slot[people]


def _first_of_each(
    tcode: np.ndarray, starts: np.ndarray, ends: np.ndarray, people: np.ndarray
) -> np.ndarray:
    """Indices of the first of each distinct (type, start, end, person) hit, in order
    (a stable sort of the four columns, not np.unique over rows: 2.5x faster).

    The four usually fit in one int64 (bits for the largest of each): then hits that
    are already in order and distinct within each type, each type's hits one run (as
    the detectors find them, a type after another), are seen so in one pass, and others
    take one stable sort of that key, not four."""
    if not len(tcode):
        return np.zeros(0, dtype=np.int64)
    if _apart(starts):  # all distinct
        return np.arange(len(tcode), dtype=np.int64)
    key = _packed(tcode, starts, ends - starts, people)
    if key is not None:
        # Each type's hits come as one run, in order, but the runs in the order the
        # scanner asks for the types (hetu, email, phone), not the codes': within runs
        # ascending, and one run per type, is all distinct (74 of 79 chunks of the 40 MB
        # leak corpus, all types, took the sort before).
        run_ends = tcode[1:] != tcode[:-1]
        if (run_ends | (key[1:] > key[:-1])).all() and (
                np.count_nonzero(run_ends) + 1 == np.count_nonzero(np.bincount(tcode))):
            return np.arange(len(key), dtype=np.int64)
        order = np.argsort(key, kind="stable")
        ranked = key[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = ranked[1:] != ranked[:-1]
        return np.sort(order[first])
    order = np.lexsort((people, ends, starts, tcode))
    cols = [c[order] for c in (tcode, starts, ends, people)]
    first = np.ones(len(order), dtype=bool)
    first[1:] = np.logical_or.reduce([c[1:] != c[:-1] for c in cols])
    return np.sort(order[first])


def _dense(n_hits, w: int, size):  # noqa: ANN001, ANN202  (ints or int arrays)
    """Do `n_hits` windows of `w` characters a side cover enough of a text of `size`
    (1/DENSE_COVER) to read it once for all of them rather than window by window?"""
    return n_hits * (2 * w + 16) * DENSE_COVER >= size


def _windows_in(text: str, starts: np.ndarray, ends: np.ndarray, w: int) -> np.ndarray:
    """Bounds of the windows of hits [starts, ends) of `text`."""
    return np.stack([np.maximum(0, starts - w), starts, ends,
                     np.minimum(len(text), ends + w)], axis=1).astype(np.int64, copy=False)


class _SpanReader:
    """The corroborating values of spans of a text, each span read on its own
    (what `_ChunkText` gives, for texts with few windows)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def values(self, corr_type: str, x: int, y: int) -> set[str]:
        return _span_values(corr_type, self.text[x:y]) if x < y else set()


class _ChunkText:
    """The corroborating values (names, birth dates) of spans of one chunk's text,
    found with one pass over the whole text instead of one per hit's window.

    A break is a character that no match of the type's expression can hold and
    whose lookarounds read it like the end of the text (see `_BREAKS`): a span's
    values are then those of its stretch up to its first break, of the whole text's
    matches between its first and last break, and of its stretch after its last
    break; the two stretches are short and read on their own (a word or date cut
    by the window reads as the window cuts it), so the result is exactly that of
    reading the span alone.
    """

    def __init__(self, text: str, lo: np.ndarray, hi: np.ndarray) -> None:
        """`lo`/`hi`: the spans that will be asked for (only their matches are found)."""
        self.text = text
        self._spans = _union(lo, hi)
        self._codes: np.ndarray | None = None
        self._tables: dict[str, tuple[list[int], list[int], list[list[str]]]] = {}

    def _table(self, corr_type: str) -> tuple[list[int], list[int], list[list[str]]]:
        """Break positions (after each break character), and the start and values of
        every match in the text. The expression runs only over the stretches between
        breaks that hold an anchor (`_anchors`): no match lies anywhere else."""
        table = self._tables.get(corr_type)
        if table is None:
            if self._codes is None:
                self._codes = code_points(self.text)
            codes = self._codes
            brk = np.flatnonzero(member(_BREAKS[corr_type], codes)) + 1
            anchors = _anchors(corr_type, codes)
            u_lo, u_hi = self._spans
            k = np.searchsorted(u_lo, anchors, "right") - 1
            anchors = anchors[(k >= 0) & (anchors < u_hi[np.maximum(k, 0)])]
            seg = np.unique(np.searchsorted(brk, anchors, "right") - 1)
            lo = np.where(seg >= 0, brk[np.maximum(seg, 0)], 0) if len(brk) else seg * 0
            hi = np.append(brk, len(codes))[seg + 1] if len(brk) else seg * 0 + len(codes)
            # Stretches close together are read in one call (what lies between them
            # holds no match): fewer calls.
            if len(lo) > 1:
                new = np.concatenate(([True], lo[1:] - hi[:-1] > _MERGE_GAP))
                lo, hi = lo[new], np.append(hi[np.flatnonzero(new)[1:] - 1], hi[-1])
            starts: list[int] = []
            vals: list[list[str]] = []
            finder = _FINDERS[corr_type]
            for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
                for start, values in finder(self.text, a, b):
                    starts.append(start)
                    vals.append(values)
            table = self._tables[corr_type] = (brk.tolist(), starts, vals)
        return table

    def values(self, corr_type: str, x: int, y: int) -> set[str]:
        """The values of `corr_type` in ``text[x:y]`` read alone."""
        if x >= y:
            return set()
        breaks, starts, vals = self._table(corr_type)
        i1 = bisect_left(breaks, x)
        i2 = bisect_right(breaks, y) - 1
        if i1 > i2:
            return _span_values(corr_type, self.text[x:y])
        x1, y2 = breaks[i1], breaks[i2]
        out = _span_values(corr_type, self.text[x:x1])
        for k in range(bisect_left(starts, x1), bisect_left(starts, y2)):
            out.update(vals[k])
        out |= _span_values(corr_type, self.text[y2:y])
        return out


def _union(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The union of the spans [lo, hi) as sorted disjoint spans."""
    order = np.argsort(lo, kind="stable")
    lo, hi = np.asarray(lo)[order], np.maximum.accumulate(np.asarray(hi)[order])
    if not len(lo):
        return lo, hi
    new = np.concatenate(([True], lo[1:] > hi[:-1]))
    last = np.append(np.flatnonzero(new)[1:] - 1, len(lo) - 1)
    return lo[new], hi[last]


def _date_values(text: str, a: int, b: int) -> Iterator[tuple[int, list[str]]]:
    for s, _, c in birth_date_detector.find(text, a, b):
        yield s, [c]


_MERGE_GAP = 64
_FINDERS: dict[str, Callable[[str, int, int], Iterator[tuple[int, list[str]]]]] = {
    "name": name_detector.candidate_runs, "birth_date": _date_values}
_LETTERS = ascii_table("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_GAPS = ascii_table(" ,\t")


def _anchors(corr_type: str, codes: np.ndarray) -> np.ndarray:
    """Positions that every match holds one of (sorted; more are harmless).

    A run of names holds a letter, spaces/commas/tabs, a letter (any character
    beyond ASCII may be a letter). A birth date holds a year "18", "19" or "20"
    that no ASCII digit precedes.
    """
    if corr_type == "name":
        letter = member(_LETTERS, codes) | (codes >= 0x80)
        gap = member(_GAPS, codes)
        # gap runs: first and last position
        edge = np.flatnonzero(np.diff(np.concatenate(([False], gap, [False])).astype(np.int8)))
        first, last = edge[0::2], edge[1::2] - 1
        n = len(codes)
        ok = (first > 0) & (last + 1 < n)
        first, last = first[ok], last[ok]
        return first[letter[first - 1] & letter[last + 1]]
    c = codes[:-1].astype(np.int64) if len(codes) else codes.astype(np.int64)
    nxt = codes[1:]
    year = ((c == ord("1")) & ((nxt == ord("8")) | (nxt == ord("9")))) | (
        (c == ord("2")) & (nxt == ord("0")))
    pos = np.flatnonzero(year)
    before = codes[np.maximum(pos - 1, 0)]
    return pos[(pos == 0) | ~((before >= ord("0")) & (before <= ord("9")))]


def _span_values(corr_type: str, text: str) -> set[str]:
    if corr_type == "name":
        # two words need a space, comma or tab between them
        if " " not in text and "," not in text and "\t" not in text:
            return set()
        return name_detector.candidate_values(text)
    if len(text) < 8:  # the shortest date: 1.1.1900
        return set()
    return {c for _, _, c in birth_date_detector.find(text)}


# Break characters (ASCII only, see `_ChunkText`). Names: a run of words holds
# letters, a word's joiners (' ’ -) and spaces, commas, tabs; anything else ends it.
# Birth dates: digits, white space and . / - make a date, and \w . - / in the
# lookarounds: the remaining punctuation is safe.
# Any subset of them would do (fewer: longer stretches read alone); these are the
# field and markup separators of dumps, whose stretches are short.
_BREAKS = {
    "name": ascii_table("\n\r!\"#$%&()*+:;<=>?@[]^`{|}~"),
    "birth_date": ascii_table("!\"#$%&()*+,:;<=>?@[]^`{|}~"),
}


_SPAN_ORDER = np.array([0, 2, 3, 1])


class _HitWindows(_Windows):
    """Windows of hits given in offsets of a str.

    After `prepare`, a window that needs normalising is, where possible, cut from
    the normalised text the hits were found in instead of being normalised on its
    own (the cost per hit of dense text full of entities or escapes): that gives
    the same text when no normalisation match straddles the window's ends, and
    no entity or escape ends it (``&amp`` or ``\\0`` cut at the window's end
    would read differently there).
    """

    HAZARD = 8  # characters before a window's end that must hold no trigger

    def __init__(self, text: str, hits: _Hits) -> None:
        self.text, self.hits = text, hits
        self.cut: np.ndarray | None = None  # per hit: use the normalised text?
        self.bounds: np.ndarray | None = None  # per hit: its window and span, normalised

    def readings(
        self, idx: np.ndarray, w: int, clean: bool, kind: str
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        text = self.text
        starts = self.hits.starts[idx]
        ends = self.hits.ends[idx]
        bounds = _windows_in(text, starts, ends, w)
        text_of = np.zeros(len(idx), dtype=np.int64)
        if clean:
            return [text], text_of, bounds
        ready = self.prepare(w, kind)[idx]
        texts = [text]
        cut = self.cut[idx] if self.cut is not None else None
        if cut is not None and cut.any():
            assert self.bounds is not None and self.hits.norm is not None
            texts.append(self.hits.norm.text)
            text_of[cut] = 1
            # (a, b, s, e) to (a, s, e, b), of the rows taken only: a column list on all
            # rows costs 2.4x as much
            bounds[cut] = self.bounds[idx[cut]][:, _SPAN_ORDER]
        alone = np.flatnonzero(~ready)  # windows normalised on their own
        if not len(alone):
            return texts, text_of, bounds
        batch = normalize_windows(text, bounds[alone], html_tags=kind == "html",
                                  sql=kind == "sql")
        if batch is not None:  # all in one call
            text_of[alone] = np.arange(len(texts), len(texts) + len(alone))
            texts += batch[0]
            bounds[alone] = batch[1]
            return texts, text_of, bounds
        for j in alone.tolist():
            a, s, e, b = bounds[j].tolist()
            norm = normalize(text[a:b], html_tags=kind == "html", sql=kind == "sql")
            ns, ne = _norm_range(norm, s - a, e - a)
            text_of[j] = len(texts)
            texts.append(norm.text)
            bounds[j] = (0, ns, ne, len(norm.text))
        return texts, text_of, bounds

    def prepare(self, w: int, kind: str) -> np.ndarray:
        """Per hit: can its window be read without normalising it on its own (it is
        clean, or `cut` from the normalised text)?"""
        text = self.text
        starts = self.hits.starts
        ends = self.hits.ends
        norm = self.hits.norm
        if norm is not None and norm.identity:
            return np.ones(len(starts), dtype=bool)  # nothing in the text normalises
        html_tags, sql = kind == "html", kind == "sql"
        c_ready = getattr(native.lib, "window_ready", None) if _normalize.use_native else None
        if (c_ready is not None and norm is not None and norm.matched is not None
                and norm.segments is not None):
            # One pass in C (a dozen numpy passes cost 3x more), which looks for
            # triggers only in the windows that need it, not in all of the text.
            ready, cut_b, bounds = c_ready(
                text, _special_table(html_tags, True, sql),
                np.ascontiguousarray(starts, dtype=np.int64),
                np.ascontiguousarray(ends, dtype=np.int64), w, norm.matched, norm.segments,
                len(norm.text), self.HAZARD)
            self.cut = np.frombuffer(cut_b, dtype=np.bool_)
            self.bounds = np.frombuffer(bounds, dtype=np.int64).reshape(-1, 4)
            return np.frombuffer(ready, dtype=np.bool_)
        triggers = match_starts(text, html_tags=html_tags, escapes=True, sql=sql)
        a = np.maximum(0, starts - w)
        b = np.minimum(len(text), ends + w)
        raw_clean = np.searchsorted(triggers, a, "left") == np.searchsorted(triggers, b, "left")
        if norm is None or norm.matched is None or norm.identity:
            return raw_clean
        m = norm.matched

        def uncut(x: np.ndarray) -> np.ndarray:
            if not len(m):  # only lone triggers: nothing normalised
                return np.ones(len(x), dtype=bool)
            j = np.searchsorted(m[:, 0], x, "left") - 1
            return (j < 0) | (m[np.maximum(j, 0), 1] <= x)

        near_end = (np.searchsorted(triggers, b, "left")
                    - np.searchsorted(triggers, b - self.HAZARD, "left")) > 0
        cut = uncut(a) & uncut(b) & (~near_end | (b == len(text)))
        self.cut = cut
        self.bounds = np.stack([norm.out_offsets(x) for x in (a, b, starts, ends)], axis=1)
        return raw_clean | cut


class _ByteWindows(_Windows):
    """Windows of hits given in byte offsets of a buffer (the byte path)."""

    def __init__(self, data: bytes, codec: str, starts: np.ndarray, ends: np.ndarray,
                 chunk: tuple[int, int, np.ndarray, np.ndarray, np.ndarray] | None = None
                 ) -> None:
        self.data, self.codec = data, codec
        self.errors = CODEC_ERRORS.get(codec, "replace")
        self.starts, self.ends = np.asarray(starts).tolist(), np.asarray(ends).tolist()
        # the clean chunk: its bytes [ws, we) and the hits' character offsets in it
        self.chunk = chunk

    def readings(
        self, idx: np.ndarray, w: int, clean: bool, kind: str
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        # Dense hits (windows covering much of the chunk) are read from the decoded
        # chunk; sparse ones from their own decoded windows.
        if self.chunk is not None and _dense(len(idx), w, self.chunk[1] - self.chunk[0]):
            ws, we, _, s_chars, e_chars = self.chunk
            text = _decoded(memoryview(self.data)[ws:we], self.codec, self.errors)
            return ([text], np.zeros(len(idx), dtype=np.int64),
                    _windows_in(text, s_chars[idx], e_chars[idx], w))
        texts = []
        bounds = np.zeros((len(idx), 4), dtype=np.int64)
        for j, i in enumerate(idx.tolist()):
            near, s, e = self.around(i, w)
            texts.append(near)
            bounds[j] = (0, s, e, len(near))
        return texts, np.arange(len(idx), dtype=np.int64), bounds

    def around(self, i: int, w: int) -> tuple[str, int, int]:
        s, e = self.starts[i], self.ends[i]
        a = max(0, s - w * MAX_BYTES_PER_CHAR)
        while self.codec == "utf-8" and a < s and 0x80 <= self.data[a] < 0xC0:
            a += 1  # a character start
        dec = self.codec, self.errors
        before = self.data[a:s].decode(*dec)[-w:]
        ident = self.data[s:e].decode(*dec)
        after = self.data[e : e + w * MAX_BYTES_PER_CHAR].decode(*dec)[:w]
        return before + ident + after, len(before), len(before) + len(ident)


def _text_around(text: str, cs: int, ce: int, before_n: int, after_n: int
                 ) -> tuple[str, int, int, bool, bool]:
    """``text[cs:ce]`` with up to `before_n` and `after_n` characters around it, for
    `Scanner._with_context`: (piece, chunk start, chunk end, at the text's start, at its
    end)."""
    ws = max(0, cs - before_n)
    we = min(len(text), ce + after_n)
    piece = text if (ws == 0 and we == len(text)) else text[ws:we]
    return piece, cs - ws, ce - ws, ws == 0, we == len(text)


class _BytesAround:
    """`_text_around` for the decoded chunk `body`, bytes ``a[cs:ce]``: the characters
    decoded before and after it so far are kept, and more are decoded when asked for."""

    def __init__(self, a: np.ndarray, view: memoryview, codec: str, errors: str, cs: int,
                 ce: int, before: str, body: str, after: str) -> None:
        self.a, self.view, self.codec, self.errors = a, view, codec, errors
        self.cs, self.ce = cs, ce
        self.before, self.body, self.after = before, body, after

    def __call__(self, before_n: int, after_n: int) -> tuple[str, int, int, bool, bool]:
        a, view, utf8 = self.a, self.view, self.codec == "utf-8"
        if len(self.before) < before_n:
            self.before = _decoded_before(a, view, self.codec, self.errors, self.cs, before_n)
        if len(self.after) < after_n:
            end = char_start(a, min(len(a), self.ce + after_n * MAX_BYTES_PER_CHAR), utf8)
            self.after = _decoded(view[self.ce : end], self.codec, self.errors)
        # (a side still shorter than asked for reached an end of the bytes at hand)
        before, after = self.before[-before_n:], self.after[:after_n]
        return (before + self.body + after, len(before), len(before) + len(self.body),
                len(before) < before_n, len(after) < after_n)


def _decoded_before(a: np.ndarray, view: memoryview, codec: str, errors: str, pos: int,
                    n_chars: int) -> str:
    """The bytes before `pos` that hold at least `n_chars` characters (all of them when
    fewer), decoded from a character start."""
    at = char_start(a, max(0, pos - n_chars * MAX_BYTES_PER_CHAR), codec == "utf-8")
    return _decoded(view[at:pos], codec, errors)


def _decoded(data: memoryview, codec: str, errors: str) -> str:
    """``str(data, codec, errors)``, UTF-8 by `decode.utf8_text`."""
    return _decode.utf8_text(data, errors) if codec == "utf-8" else str(data, codec, errors)


def _norm_range(norm: Normalized, s: int, e: int) -> tuple[int, int]:
    """Normalised offsets covering the input span [s, e)."""
    return norm.out_offset(s), norm.out_offset(e)


# -- clean chunks ------------------------------------------------------------------------


def _cp1252_special() -> np.ndarray:
    """Bytes >= 0x80 whose cp1252 (or latin-1) character normalisation changes."""
    table = _special_table(False, True, False)
    out = np.zeros(256, dtype=bool)
    for b in range(0x80, 0x100):
        try:
            ch = bytes([b]).decode("cp1252")
        except UnicodeDecodeError:
            ch = bytes([b]).decode("latin-1")
        out[b] = table[ord(ch)]
    return out


_CP1252_SPECIAL = _cp1252_special()
_CP1252_SPECIAL_BYTES = _CP1252_SPECIAL.astype(np.uint8).tobytes()
# Every character led by 0xC3 in UTF-8 (U+00C0-U+00FF) is left alone by normalisation.
assert not _special_table(False, True, False)[0xC0:0x100].any()
_NO_LEADS = np.zeros(0, dtype=np.int64)


def _clean_bytes(
    data: bytes, ws: int, we: int, utf8: bool, kind: str
) -> tuple[bool, np.ndarray]:
    """Is ``data[ws:we]`` clean (see the module doc)? Also the positions of its
    0xC3 leads (UTF-8), which turn byte offsets into character offsets."""
    lib = native.lib
    if lib is not None:
        leads = lib.clean_bytes(data, ws, we, utf8, kind == "html", kind == "sql",
                                _CP1252_SPECIAL_BYTES)
        if leads is None:
            return False, _NO_LEADS
        return True, (np.frombuffer(leads, dtype=np.int64) if leads else _NO_LEADS)
    triggers = [b"&", b"\\"] + [b"<"] * (kind == "html") + [b"''"] * (kind == "sql")
    if any(data.find(t, ws, we) >= 0 for t in triggers):
        return False, _NO_LEADS
    win = np.frombuffer(data, dtype=np.uint8, count=we - ws, offset=ws)
    if win.max(initial=0) < 0x80:
        return True, _NO_LEADS
    if not utf8:
        high = np.flatnonzero(win >= 0x80)
        return not _CP1252_SPECIAL[win[high]].any(), _NO_LEADS
    leads = np.flatnonzero(win == 0xC3)
    n_high = int(np.count_nonzero(win >= 0x80))
    if n_high != 2 * len(leads) or not len(leads) or leads[-1] + 1 >= len(win):
        return False, _NO_LEADS
    # As many high bytes as two per 0xC3 lead, and each lead followed by a
    # continuation byte: then every high byte is one of those pairs.
    nxt = win[leads + 1]
    if not ((nxt >= 0x80) & (nxt < 0xC0)).all():
        return False, _NO_LEADS
    return True, leads


def _count_between(sorted_pos: np.ndarray, lo: int, hi: int) -> int:
    if not len(sorted_pos):
        return 0
    return int(np.searchsorted(sorted_pos, hi, "left") - np.searchsorted(sorted_pos, lo, "left"))


def char_start(a: np.ndarray | bytes, pos: int, utf8: bool) -> int:
    """The first character start at or after `pos` as the UTF-8 decoder reads `a` (its
    error handler makes one character of each byte it cannot read): `pos`, unless it falls
    inside a valid multi-byte sequence, then that sequence's end.

    It reads only the three bytes before `pos` and that sequence, so every range of a
    file, read with a few bytes around it, cuts the file at the same places. Skipping
    continuation bytes to the end of their run did not: cp1252 text read as UTF-8 can
    hold a run of them longer than a range's context, whose neighbours then cut it at
    different places (a gap, and the offsets after it off)."""
    if not utf8 or pos >= len(a) or not 0x80 <= a[pos] < 0xC0:
        return pos
    for q in range(pos - 1, max(-1, pos - 4), -1):
        lead = a[q]
        if 0x80 <= lead < 0xC0:
            continue  # (a continuation byte: the lead may be further back)
        n = (2 if 0xC2 <= lead < 0xE0 else 3 if 0xE0 <= lead < 0xF0
             else 4 if 0xF0 <= lead < 0xF5 else 0)
        if q + n > pos and _valid_utf8(bytes(a[q : q + n]), n):
            return q + n
        return pos
    return pos


def _valid_utf8(seq: bytes, n: int) -> bool:
    """Whether `seq` is one whole valid UTF-8 character of `n` bytes."""
    if len(seq) != n:
        return False  # (cut off by the end of the bytes at hand)
    try:
        seq.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def scan_files(
    paths: Sequence[str],
    index: WatchlistIndex,
    key: Key,
    options: ScanOptions | None = None,
    jobs: int = 1,
    progress=None,  # noqa: ANN001
) -> Iterator[Finding | Scanned | Skipped]:
    """Scan files, directories and archives; see `matchers.scanfiles`."""
    from .scanfiles import scan_files as _scan_files

    # without columns=True: every finding an object
    return cast("Iterator[Finding | Scanned | Skipped]",
                _scan_files(paths, index, key, options, jobs, progress=progress))
