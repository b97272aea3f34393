"""The in-memory watchlist: sorted digest prefixes, person refs, fragment fingerprints.

Everything is a numpy array, so that a register of a million people loads in
a moment (``np.load(mmap_mode="r")``, pages come in as they are touched) and
lookups are `np.searchsorted` over a whole chunk's candidates at once.

Layout of a saved index (one directory):

- ``meta.json``: format, version, key id, counts, types (written last: an
  index without it is incomplete and refused);
- ``refs.blob.npy`` + ``refs.offsets.npy``: person index -> ref (UTF-8);
- ``id.<type>.keys.npy`` (uint64, sorted) + ``id.<type>.people.npy`` (int32):
  digest prefix -> person, one pair per identifier type;
- ``corr.<type>.ptr.npy`` (int64, people + 1) + ``corr.<type>.keys.npy``
  (uint64): a person's corroborating digests (name, birth_date), CSR layout;
- ``fp.keys.npy`` (uint64, sorted) + ``fp.records.npy`` (int32): fragment
  fingerprint -> record; ``fp.record_counts.npy`` (int32, distinct
  fingerprints per record); ``fp.record_people.npy`` (int32, record -> person).

Digest prefixes are the first 8 bytes of the 16-byte digest (little-endian):
with a million people, a random candidate collides with probability ~5e-14.
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vahti.matchers.private import private_dir

from . import native
from .digest import to_u64
from .fragments import dedupe_sorted
from .keys import Key

FORMAT = "vahti-watchlist-index"
VERSION = 1
_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class IndexError_(Exception):
    """An index that cannot be used (incomplete, wrong format)."""


class KeyMismatchError(IndexError_):
    """The index was built with another key: every lookup would silently miss."""


_REFS_MADE_MAX = 200_000  # refs kept made per index (about 20 MB at most)


class Refs(Sequence[str]):
    """Person index -> ref, decoded lazily from one UTF-8 blob."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray) -> None:
        self._blob = blob
        self._offsets = offsets
        # refs already made by `many` (a scan asks for the same people file after file),
        # by person index, and which of them are there: arrays made on first use
        self._made: np.ndarray | None = None
        self._have: np.ndarray | None = None
        self._n_made = 0

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i):  # type: ignore[override]  # noqa: ANN001, ANN204
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("person index out of range")
        a, b = int(self._offsets[i]), int(self._offsets[i + 1])
        return bytes(self._blob[a:b]).decode("utf-8")

    def many(self, people: np.ndarray) -> np.ndarray:
        """The refs of person indices `people` (in range), in that order, as an object
        array (made by indexing the refs kept: no lookup per person in Python)."""
        people = np.asarray(people, dtype=np.int64)
        if self._made is None or self._have is None:
            self._made = np.empty(len(self), dtype=object)
            self._have = np.zeros(len(self), dtype=bool)
        # sorted without repeats; np.unique would import numpy.ma (10 ms of every command)
        missing = dedupe_sorted(np.sort(people[~self._have[people]]))
        if len(missing):
            if self._n_made + len(missing) > _REFS_MADE_MAX:  # start again
                self._made = np.empty(len(self), dtype=object)
                self._have[:] = False
                self._n_made = 0
                missing = dedupe_sorted(np.sort(people))
            starts = self._offsets[missing].tolist()
            ends = self._offsets[missing + 1].tolist()
            blob = memoryview(self._blob.data)
            made = np.empty(len(missing), dtype=object)
            made[:] = [str(blob[a:b], "utf-8") for a, b in zip(starts, ends, strict=True)]
            self._made[missing] = made
            self._have[missing] = True
            self._n_made += len(missing)
        return self._made[people]

    @classmethod
    def from_list(cls, refs: Sequence[str]) -> Refs:
        encoded = [r.encode("utf-8") for r in refs]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        return cls(blob, offsets)


@dataclass(frozen=True)
class FragmentArrays:
    """What the fragment matcher needs: see `matchers.fragments.match`."""

    fp_sorted: np.ndarray  # uint64, sorted
    fp_record: np.ndarray  # int32, record of each fingerprint
    record_fp_counts: np.ndarray  # int32, distinct fingerprints per record
    record_people: np.ndarray  # int32, person of each record

    @property
    def n_records(self) -> int:
        return len(self.record_fp_counts)


class WatchlistIndex:
    """Digest prefixes of a register's identifiers, ready for bulk lookup."""

    def __init__(
        self,
        key_id: str,
        refs: Refs,
        ids: Mapping[str, tuple[np.ndarray, np.ndarray]],
        corroborating: Mapping[str, tuple[np.ndarray, np.ndarray]],
        fragments: FragmentArrays,
    ) -> None:
        self.key_id = key_id
        self.refs = refs
        self.ids = dict(ids)
        self.corroborating = dict(corroborating)
        self.fragments = fragments
        self.path: Path | None = None

    def __repr__(self) -> str:
        return (
            f"WatchlistIndex(key_id={self.key_id}, people={len(self.refs)}, "
            f"types={sorted(self.ids)}, records={self.fragments.n_records})"
        )

    @property
    def n_people(self) -> int:
        return len(self.refs)

    @property
    def id_types(self) -> list[str]:
        return sorted(t for t, (keys, _) in self.ids.items() if len(keys))

    def check_key(self, key: Key) -> None:
        if key.key_id != self.key_id:
            raise KeyMismatchError(
                f"the watchlist index was built with key {self.key_id}, "
                f"this key is {key.key_id}: refusing to scan (every lookup would miss)"
            )

    def lookup(self, id_type: str, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Match digest prefixes: (position in `keys`, person index) for every hit.

        A digest can belong to several people (a shared phone number), so one
        position may appear more than once.
        """
        entry = self.ids.get(id_type)
        if entry is None or not len(keys) or not len(entry[0]):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        sorted_keys, people = entry
        keys = np.asarray(keys, dtype=np.uint64)
        lib = native.lib
        if lib is not None:
            return _probe(lib, self, id_type, sorted_keys, people, keys)
        return _search(sorted_keys, people, keys)

    def prepare(self, id_types: Iterable[str]) -> None:
        """Build the C probe's tables of these types now (`lookup` builds each when first
        needed): before scan workers fork, so that they inherit them instead of each
        building its own."""
        lib = native.lib
        for id_type in id_types:
            entry = self.ids.get(id_type)
            if lib is not None and entry is not None and len(entry[0]):
                _probe_table(lib, self, id_type, entry[0])

    def corroborating_keys(self, corr_type: str, person: int) -> np.ndarray:
        """The person's corroborating digest prefixes of one type (uint64, sorted)."""
        entry = self.corroborating.get(corr_type)
        if entry is None:
            return np.zeros(0, np.uint64)
        ptr, keys = entry
        return keys[int(ptr[person]) : int(ptr[person + 1])]

    # -- persistence ---------------------------------------------------------

    def save(self, directory: Path | str) -> None:
        d = Path(directory)
        private_dir(d)
        meta_path = d / "meta.json"
        if meta_path.exists():
            meta_path.unlink()  # the index is incomplete until meta.json is back
        np.save(d / "refs.blob.npy", np.asarray(self.refs._blob))
        np.save(d / "refs.offsets.npy", np.asarray(self.refs._offsets))
        for t, (keys, people) in self.ids.items():
            np.save(d / f"id.{t}.keys.npy", keys)
            np.save(d / f"id.{t}.people.npy", people)
        for t, (ptr, keys) in self.corroborating.items():
            np.save(d / f"corr.{t}.ptr.npy", ptr)
            np.save(d / f"corr.{t}.keys.npy", keys)
        f = self.fragments
        np.save(d / "fp.keys.npy", f.fp_sorted)
        np.save(d / "fp.records.npy", f.fp_record)
        np.save(d / "fp.record_counts.npy", f.record_fp_counts)
        np.save(d / "fp.record_people.npy", f.record_people)
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "key_id": self.key_id,
            "people": self.n_people,
            "id_types": sorted(self.ids),
            "corroborating": sorted(self.corroborating),
            "records": f.n_records,
            "fingerprints": int(len(f.fp_sorted)),
        }
        tmp = d / "meta.json.tmp"
        tmp.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        tmp.replace(meta_path)
        self.path = d

    @classmethod
    def load(
        cls, directory: Path | str, key: Key | None = None, mmap: bool = True
    ) -> WatchlistIndex:
        """Load a saved index; with `key`, refuse an index built with another key."""
        d = Path(directory)
        try:
            meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise IndexError_(f"no complete watchlist index in {d} (meta.json missing)") from None
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise IndexError_(f"{d} holds no watchlist index of version {VERSION}")
        if key is not None and key.key_id != meta["key_id"]:
            raise KeyMismatchError(
                f"the watchlist index in {d} was built with key {meta['key_id']}, "
                f"this key is {key.key_id}"
            )
        mode = "r" if mmap else None

        def ld(name: str) -> np.ndarray:
            return np.load(d / name, mmap_mode=mode, allow_pickle=False)

        refs = Refs(ld("refs.blob.npy"), ld("refs.offsets.npy"))
        ids = {t: (ld(f"id.{t}.keys.npy"), ld(f"id.{t}.people.npy")) for t in meta["id_types"]}
        corr = {
            t: (ld(f"corr.{t}.ptr.npy"), ld(f"corr.{t}.keys.npy")) for t in meta["corroborating"]
        }
        frag = FragmentArrays(
            ld("fp.keys.npy"), ld("fp.records.npy"),
            ld("fp.record_counts.npy"), ld("fp.record_people.npy"),
        )
        index = cls(meta["key_id"], refs, ids, corr, frag)
        index.path = d
        return index


class IndexBuilder:
    """Collects a register's digests person by person; `build` sorts them into an index."""

    def __init__(self, key: Key | str) -> None:
        self.key_id = key.key_id if isinstance(key, Key) else key
        self._refs: list[str] = []
        self._ids: dict[str, tuple[list[int], list[int]]] = {}
        self._corr: dict[str, dict[int, list[int]]] = {}
        self._fps: list[np.ndarray] = []
        self._record_people: list[int] = []

    def __len__(self) -> int:
        return len(self._refs)

    def add(
        self,
        ref: str,
        digests: Mapping[str, Iterable[bytes]],
        corroborating: Mapping[str, Iterable[bytes]] | None = None,
        fingerprints: np.ndarray | Sequence[np.ndarray] | None = None,
    ) -> int:
        """Add one person; returns the person index.

        `digests`/`corroborating` map a type to the person's 16-byte digests.
        `fingerprints` is one record's uint64 fingerprints or a list of records.
        """
        person = len(self._refs)
        self._refs.append(ref)
        for t, values in digests.items():
            _check_type(t)
            keys, people = self._ids.setdefault(t, ([], []))
            for v in values:
                keys.append(_prefix(v))
                people.append(person)
        for t, values in (corroborating or {}).items():
            _check_type(t)
            self._corr.setdefault(t, {})[person] = sorted({_prefix(v) for v in values})
        if fingerprints is not None:
            records = [fingerprints] if isinstance(fingerprints, np.ndarray) else fingerprints
            for fp in records:
                # Distinct fingerprints: record_fp_counts is the denominator of a match score.
                self._fps.append(np.unique(np.asarray(fp, dtype=np.uint64)))
                self._record_people.append(person)
        return person

    def build(self) -> WatchlistIndex:
        n = len(self._refs)
        ids = {}
        for t, (keys, people) in self._ids.items():
            k = np.asarray(keys, dtype=np.uint64)
            p = np.asarray(people, dtype=np.int32)
            order = np.argsort(k, kind="stable")
            ids[t] = (k[order], p[order])
        corr = {}
        for t, per_person in self._corr.items():
            counts = np.zeros(n, dtype=np.int64)
            for person, keys in per_person.items():
                counts[person] = len(keys)
            ptr = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(counts, out=ptr[1:])
            flat = np.zeros(int(ptr[-1]), dtype=np.uint64)
            for person, keys in per_person.items():
                flat[ptr[person] : ptr[person + 1]] = keys
            corr[t] = (ptr, flat)
        if self._fps:
            counts = np.asarray([len(f) for f in self._fps], dtype=np.int32)
            fp_all = np.concatenate(self._fps)
            rec_all = np.repeat(np.arange(len(self._fps), dtype=np.int32), counts)
            order = np.argsort(fp_all, kind="stable")
            frag = FragmentArrays(
                fp_all[order], rec_all[order], counts,
                np.asarray(self._record_people, dtype=np.int32),
            )
        else:
            frag = FragmentArrays(
                np.zeros(0, np.uint64), np.zeros(0, np.int32),
                np.zeros(0, np.int32), np.zeros(0, np.int32),
            )
        return WatchlistIndex(self.key_id, Refs.from_list(self._refs), ids, corr, frag)


def _prefix(digest: bytes) -> int:
    if len(digest) < 8:
        raise ValueError("a digest must have at least 8 bytes")
    return int.from_bytes(digest[:8], "little")


def _check_type(t: str) -> None:
    if not _TYPE_RE.match(t):
        raise ValueError(f"not a valid identifier type name: {t!r}")


__all__ = [
    "FragmentArrays", "IndexBuilder", "IndexError_", "KeyMismatchError", "Refs",
    "WatchlistIndex", "to_u64",
]


# Hash tables of the C probe, per index and identifier type: built once (a daemon scans
# with one index often), kept in memory only, dropped with the index.
_PROBE_TABLES: weakref.WeakKeyDictionary[WatchlistIndex, dict[str, bytes]] = (
    weakref.WeakKeyDictionary())


def _probe(lib, index: WatchlistIndex, id_type: str, sorted_keys: np.ndarray,  # noqa: ANN001
           people: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`WatchlistIndex.lookup` by the C hash probe: one table read per candidate
    instead of two binary searches; same hits in the same order as `_search`."""
    sorted_keys = np.ascontiguousarray(sorted_keys, dtype=np.uint64)
    table = _probe_table(lib, index, id_type, sorted_keys)
    where, found = lib.lookup_probe(table, sorted_keys,
                                    np.ascontiguousarray(people, dtype=np.int32),
                                    np.ascontiguousarray(keys))
    return np.frombuffer(where, np.int64), np.frombuffer(found, np.int64)


def _probe_table(lib, index: WatchlistIndex, id_type: str,  # noqa: ANN001
                 sorted_keys: np.ndarray) -> bytes:
    tables = _PROBE_TABLES.setdefault(index, {})
    table = tables.get(id_type)
    if table is None:
        table = tables[id_type] = lib.lookup_table(
            np.ascontiguousarray(sorted_keys, dtype=np.uint64))
    return table


def _search(sorted_keys: np.ndarray, people: np.ndarray,
            keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`WatchlistIndex.lookup` in numpy: binary searches for each key's run of copies."""
    lo = np.searchsorted(sorted_keys, keys, side="left")
    hit = lo < len(sorted_keys)
    hit[hit] = sorted_keys[lo[hit]] == keys[hit]
    if not hit.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    pos = np.flatnonzero(hit)
    hi = np.searchsorted(sorted_keys, keys[pos], side="right")
    counts = hi - lo[pos]
    where = np.repeat(pos, counts)
    first = np.repeat(lo[pos], counts)
    within = np.arange(len(where)) - np.repeat(np.cumsum(counts) - counts, counts)
    return where, np.asarray(people[first + within], dtype=np.int64)
