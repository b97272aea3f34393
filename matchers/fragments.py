"""Record-fragment fingerprints: keyed, winnowed word k-grams.

A register's free text (session notes, care plans) is enrolled as a set of
64-bit keyed fingerprints; a scanned page matches a record when enough of the
record's fingerprints appear *together* in it. Nothing stored reveals a word:
every fingerprint is AES-256 (a PRP under the "fragment" subkey) of one
16-byte combination of K word hashes, truncated to 64 bits.

Pipeline (numpy, in chunks of 64k characters, small enough to stay in cache):

1. Normalise and tokenise with char offsets into the *given* text. A token is
   a run of word characters (letters, digits, marks) after NFKC + casefold;
   punctuation and whitespace separate tokens, except that an apostrophe or
   hyphen between two word characters is dropped ("don't" = "dont",
   "e-mail" = "email"), and invisible format characters (ZWSP, soft hyphen,
   BOM) are ignored. Characters whose NFKC-casefold is one character go
   through a lookup table; the rare tokens holding anything else (ligatures,
   "ß", combining marks, astral letters, joiners) are re-hashed in Python from
   their exactly normalised string, which gives the same value as the table
   path would for the equivalent plain text.
2. Each token gets a 64-bit value: a polynomial over its normalised code points
   via prefix sums (mod 2^64), then a splitmix64 finaliser.
3. Each run of K tokens is combined into one 16-byte block and encrypted with
   AES-ECB in one bulk call per chunk (ECB on purpose: equal k-grams must give
   equal fingerprints; it is a keyed PRF here, not a cipher mode for secrecy).
4. Winnowing (Schleimer, Wilkerson, Aiken 2003) with window W keeps the
   minimum of every W consecutive k-gram fingerprints; consecutive selections
   of the same value collapse to one (the point of their "robust winnowing":
   runs of identical k-grams such as "NULL, NULL, NULL" would otherwise select
   every position).

Parameters and why (measured with tests/unit/test_fragments.py's generator:
notes of 100-400 words, 40-word excerpts with 3 replaced words, one inserted or
dropped word, case, punctuation and line-break noise):

* K = 5 words. Five-word shingles are specific: outside boilerplate, a 5-gram
  shared by unrelated texts is rare, while one word edit destroys only the 5
  k-grams touching it.
* W = 3. Guarantee threshold W + K - 1 = 7 words: any 7 shared consecutive
  words share a fingerprint, so the stretches between edits of a lightly
  edited excerpt still match. Density is about 2/(W+1) = 0.5 fingerprints per
  word (~200 per 400-word note). W = 4 lost too much recall (0.94 at the same
  false-positive margin).
* Match rule (`match`): one record's matched fingerprints, in text order, form
  a region while consecutive ones are at most MAX_GAP_CHARS (300) apart — a
  bounded region, not hits scattered over a dump. A region is a hit when it
  holds at least MIN_MATCHES (5) distinct fingerprints of the record. An
  accidental verbatim overlap of up to 8 words (a shared phrase) yields at
  most 4, while a 40-word excerpt with four edits yields 9 in the median and
  at least 5 in 98% of cases. Records too short for that (under ~10
  fingerprints) also hit when at least MIN_REL_MATCHES (4) fingerprints cover
  at least `threshold` (0.5) of the record. The score is always the honest
  share of the record's fingerprints found, so a 40-word excerpt of a
  400-word note scores about 0.05 and still hits.
* Stop fingerprints (`stop_fingerprints`): boilerplate that several records
  share ("seuraava käynti sovittu ensi viikolle") is dropped at index build
  (default: in more than 3 records), optionally with the fingerprints of
  ordinary background prose.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from matchers.keys import Key, derive_subkey

K = 5
W = 3
MIN_MATCHES = 5
MIN_REL_MATCHES = 4
MATCH_THRESHOLD = 0.5
MAX_GAP_CHARS = 300
MAX_RECORDS_PER_FP = 64  # a fingerprint in more records than this is boilerplate
DEFAULT_STOP_MAX_RECORDS = 3

CHUNK_CHARS = 1 << 16  # small arrays stay in cache and in malloc's free lists
_POW_LEN = (1 << 20) + 2  # power tables; CHUNK_CHARS may not exceed 1 << 20
_CUT_SEARCH = 1 << 12  # look this far back from a chunk end for a separator

# character classes
_IGN, _JOIN, _COMPLEX = 2, 3, 4  # special classes (see the tables below)
_JOINERS = "'\u2019\u02bc-\u2010\u2011"

_U64 = np.uint64
_B = 0x100000001B3 * 0x9E3779B97F4A7C15 % (1 << 64) | 1  # odd polynomial base
_MASK64 = (1 << 64) - 1
# odd multipliers combining a k-gram's tokens (fixed, public: the key is in AES)
_M1 = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                0xD6E8FEB86659FD93, 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53,
                0x94D049BB133111EB, 0xBF58476D1CE4E5B9], dtype=_U64)


class FragmentIndex(NamedTuple):
    """The arrays `match` consumes. `fp_sorted[i]` belongs to record `fp_record[i]`."""

    fp_sorted: np.ndarray  # uint64, sorted, may repeat across records
    fp_record: np.ndarray  # int32
    fp_counts: np.ndarray  # int32, fingerprints kept per record


# --- tables ----------------------------------------------------------------------------
#
# One uint64 per BMP code point: 0 for separators, the folded code point for
# ordinary word characters, and _SPECIAL | class for the rare rest (joiners,
# ignorables, characters needing exact normalisation). One gather per char then
# tells everything; specials are handled sparsely by index.

_SPECIAL = 1 << 63


def _fold(s: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", s).casefold())


def _is_ignorable(ch: str) -> bool:
    return unicodedata.category(ch) == "Cf" or "\ufe00" <= ch <= "\ufe0f"


def _entry(ch: str) -> int:
    """Table entry for one character (see above)."""
    if ch in _JOINERS:
        return _SPECIAL | _JOIN
    if _is_ignorable(ch):
        return _SPECIAL | _IGN
    cat = unicodedata.category(ch)
    if cat[0] == "M" or "\u1100" <= ch <= "\u11ff":  # marks and conjoining jamo compose
        return _SPECIAL | _COMPLEX
    folded = _fold(ch)
    if len(folded) == 1 and folded.isalnum():
        return ord(folded)
    if any(c.isalnum() for c in folded):
        return _SPECIAL | _COMPLEX
    return 0


@functools.cache
def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The BMP table (built once, ~0.1 s) and the polynomial base's power tables."""
    val = np.zeros(0x10000, dtype=_U64)
    for cp in range(0x10000):
        if not 0xD800 <= cp <= 0xDFFF:  # lone surrogates stay separators
            val[cp] = _entry(chr(cp))
    n = _POW_LEN
    powb = np.empty(n, dtype=_U64)
    powb[0] = 1
    powb[1:] = _U64(_B)
    np.multiply.accumulate(powb, out=powb)
    powinv = np.empty(n, dtype=_U64)
    powinv[0] = 1
    powinv[1:] = _U64(pow(_B, -1, 1 << 64))
    np.multiply.accumulate(powinv, out=powinv)
    return val, powb, powinv


@functools.lru_cache(maxsize=4096)
def _astral_entry(cp: int) -> int:
    entry = _entry(chr(cp))
    # no table row for these: any word character goes the exact (slow) way
    return _SPECIAL | _COMPLEX if 0 < entry < _SPECIAL else entry


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads the polynomial's low-entropy bits."""
    x = x ^ (x >> _U64(30))
    x = x * _U64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> _U64(27))
    x = x * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


def _py_token_value(token: str) -> tuple[int, int]:
    """Polynomial value and length of one token, normalised exactly (slow path).
    For tokens of ordinary characters it equals the vectorised value."""
    folded = _fold("".join(ch for ch in token if ch not in _JOINERS and not _is_ignorable(ch)))
    value = 0
    power = 1
    length = 0
    for ch in folded:
        if ch.isalnum() or unicodedata.category(ch)[0] == "M":
            value = (value + ord(ch) * power) & _MASK64
            power = (power * _B) & _MASK64
            length += 1
    return value, length


# --- tokenisation ----------------------------------------------------------------------


def _classify(chunk: str) -> np.ndarray:
    """Table entries for every character of a chunk."""
    table, _, _ = _tables()
    try:
        return table[np.frombuffer(chunk.encode("latin-1"), dtype=np.uint8)]
    except UnicodeEncodeError:
        pass
    cp = np.frombuffer(chunk.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    astral = np.flatnonzero(cp > 0xFFFF)
    if len(astral) == 0:
        return table[cp]
    entries = table[np.minimum(cp, 0xFFFF)]
    entries[astral] = [_astral_entry(int(c)) for c in cp[astral]]
    return entries


def _cut(entries: np.ndarray, final: bool) -> int:
    """Where to end this chunk: just after its last separator, so no token is split."""
    if final:
        return len(entries)
    tail = entries[-_CUT_SEARCH:]
    seps = np.flatnonzero(tail == 0)
    if len(seps) == 0:
        return len(entries)  # a 4k-char "word": split it, nothing better exists
    return len(entries) - len(tail) + int(seps[-1]) + 1


def _tokens(text: str) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(token values uint64, starts int64, ends int64) per chunk; offsets into `text`."""
    pos = 0
    n_text = len(text)
    while pos < n_text:
        chunk = text[pos : pos + min(CHUNK_CHARS, _POW_LEN - 2)]
        final = pos + len(chunk) >= n_text
        entries = _classify(chunk)
        cut = _cut(entries, final)
        if cut < len(chunk):
            entries, chunk = entries[:cut], chunk[:cut]
        yield _chunk_tokens(chunk, entries, pos)
        pos += cut


def _chunk_tokens(
    chunk: str, entries: np.ndarray, offset: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    _, powb, powinv = _tables()
    n = len(entries)
    inword = entries != 0
    spec = np.flatnonzero(entries >= _U64(_SPECIAL))
    skip = np.empty(0, dtype=np.int64)  # in-token characters that take no position
    slow = np.empty(0, dtype=np.int64)  # characters whose token needs the exact path
    if len(spec):
        kind = (entries[spec] & _U64(0xFF)).astype(np.uint8)
        joins = spec[kind == _JOIN]
        skip = spec[kind == _IGN]
        slow = spec[kind == _COMPLEX]
        if len(joins):
            # an apostrophe/hyphen joins only between two word characters
            plain_word = inword.copy()
            plain_word[joins] = False
            plain_word[skip] = False
            left = np.where(joins > 0, joins - 1, 0)
            right = np.where(joins < n - 1, joins + 1, n - 1)
            ok = (joins > 0) & (joins < n - 1) & plain_word[left] & plain_word[right]
            inword[joins[~ok]] = False
            skip = np.concatenate((skip, joins[ok]))
            skip.sort()
        entries[spec] = 0
    padded = np.zeros(n + 2, dtype=bool)
    padded[1:-1] = inword
    flips = np.flatnonzero(padded[1:] != padded[:-1])  # token starts and ends alternate
    starts, ends = flips[0::2], flips[1::2]
    if len(starts) == 0:
        empty = np.empty(0, dtype=np.int64)
        return np.empty(0, dtype=_U64), empty, empty
    # polynomial of each token by prefix sums: sum(c_i * B^i) over the token,
    # shifted back to the token's own start with B^-start
    h = np.empty(n + 1, dtype=_U64)
    h[0] = 0
    np.multiply(entries, powb[:n], out=entries)
    np.cumsum(entries, out=h[1:])
    value = (h[ends] - h[starts]) * powinv[starts]
    lengths = ends - starts
    if len(skip):
        _close_gaps(skip, starts, ends, h, powinv, value, lengths)
    if len(slow):
        for t in np.unique(np.searchsorted(starts, slow, side="right") - 1).tolist():
            v, ln = _py_token_value(chunk[int(starts[t]) : int(ends[t])])
            value[t] = v
            lengths[t] = ln
    if len(skip) or len(slow):
        keep = lengths > 0
        value, lengths, starts, ends = value[keep], lengths[keep], starts[keep], ends[keep]
    tokval = _mix64(value ^ (lengths.astype(_U64) * _U64(0x9E3779B97F4A7C15)))
    return tokval, starts + offset, ends + offset


def _close_gaps(
    skip: np.ndarray, starts: np.ndarray, ends: np.ndarray, h: np.ndarray,
    powinv: np.ndarray, value: np.ndarray, lengths: np.ndarray,
) -> None:
    """Recompute, in place, the tokens that contain characters taking no position
    (joined apostrophes/hyphens, ZWSP, soft hyphens), without a Python loop.

    Such a token [s, e) with skipped characters q_1 < ... < q_m splits into
    segments [s, q_1), [q_1, q_2), ..., [q_m, e); segment j must be shifted back
    by j positions, i.e. scaled by B^-(s + j) instead of B^-s. The skipped
    characters themselves contribute 0 to the prefix sums h.
    """
    tok = np.searchsorted(starts, skip, side="right") - 1
    m = len(skip)
    first = np.ones(m, dtype=bool)
    first[1:] = tok[1:] != tok[:-1]
    last = np.ones(m, dtype=bool)
    last[:-1] = first[1:]
    group = np.flatnonzero(first)
    sizes = np.diff(np.append(group, m))
    rank = np.arange(1, m + 1) - np.repeat(group, sizes)  # j of the segment after q
    nxt = np.empty(m, dtype=np.int64)
    nxt[:-1] = skip[1:]
    nxt[last] = ends[tok[last]]
    s = starts[tok]
    t1 = tok[first]
    value[t1] = (h[skip[first]] - h[starts[t1]]) * powinv[starts[t1]]
    np.add.at(value, tok, (h[nxt] - h[skip]) * powinv[s + rank])
    lengths[t1] -= sizes


# --- k-grams, keyed ------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _subkey(key: Key) -> bytes:
    return derive_subkey(key, "fragment")


def _kgrams(subkey: bytes, tok: np.ndarray) -> np.ndarray:
    """Keyed 64-bit fingerprint of every run of K consecutive token values.

    The AES block is (sum_j tok[i+j] * M[j], tok[i]): an order-sensitive linear
    combination of pseudo-random token values collides with probability about
    2^-64, the same as the truncated output, so one combined lane suffices.
    """
    n = len(tok) - K + 1
    if n <= 0:
        return np.empty(0, dtype=_U64)
    blocks = np.empty((n, 2), dtype=_U64)
    g = tok[:n] * _M1[0]
    tmp = np.empty(n, dtype=_U64)
    for j in range(1, K):
        np.multiply(tok[j : j + n], _M1[j], out=tmp)
        g += tmp
    blocks[:, 0] = g
    blocks[:, 1] = tok[:n]
    enc = Cipher(algorithms.AES(subkey), modes.ECB()).encryptor()
    out = np.frombuffer(enc.update(memoryview(blocks).cast("B")) + enc.finalize(), dtype=_U64)
    return out[0::2].copy()


# --- winnowing -------------------------------------------------------------------------


def _winnow_mask(h: np.ndarray, w: int) -> np.ndarray:
    """Positions of h that are the minimum of at least one window h[t:t+w].

    The same set as the rightmost-minimum selection, except that ties select
    every tied position; ties are equal values, which `_Winnower._emit`
    collapses. Two passes of w shifted array operations, no Python per window.
    """
    nw = len(h) - w + 1
    mn = h[:nw].copy()
    for j in range(1, w):
        np.minimum(mn, h[j : j + nw], out=mn)
    sel = np.zeros(len(h), dtype=bool)
    for j in range(w):
        sel[j : j + nw] |= h[j : j + nw] == mn
    return sel


class _Winnower:
    """Streaming winnowing over k-gram fingerprints arriving in chunks.

    The last w-1 fingerprints are carried into the next chunk so that every
    window is evaluated exactly once; positions already emitted are skipped.
    """

    def __init__(self, w: int | None = None) -> None:
        self.w = W if w is None else w
        self.buf_h = np.empty(0, dtype=_U64)
        self.buf_s = np.empty(0, dtype=np.int64)
        self.buf_e = np.empty(0, dtype=np.int64)
        self.buf_base = 0  # global k-gram index of buf_h[0]
        self.seen_windows = False
        self.last_pos = -1
        self.last_hash: int | None = None
        self.out: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def feed(self, h: np.ndarray, s: np.ndarray, e: np.ndarray) -> None:
        h = np.concatenate((self.buf_h, h))
        s = np.concatenate((self.buf_s, s))
        e = np.concatenate((self.buf_e, e))
        if len(h) >= self.w:
            sel = np.flatnonzero(_winnow_mask(h, self.w))
            sel = sel[sel + self.buf_base > self.last_pos]
            if len(sel):
                self.last_pos = int(sel[-1]) + self.buf_base
                self._emit(h[sel], s[sel], e[sel])
            self.seen_windows = True
            drop = len(h) - (self.w - 1)
            h, s, e = h[drop:], s[drop:], e[drop:]
            self.buf_base += drop
        self.buf_h, self.buf_s, self.buf_e = h, s, e

    def _emit(self, h: np.ndarray, s: np.ndarray, e: np.ndarray) -> None:
        # robust winnowing: consecutive selections of one value collapse to the first
        keep = np.ones(len(h), dtype=bool)
        keep[1:] = h[1:] != h[:-1]
        if self.last_hash is not None and h[0] == self.last_hash:
            keep[0] = False
        self.last_hash = int(h[-1])
        self.out.append((h[keep], s[keep], e[keep]))

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.seen_windows and len(self.buf_h):
            # shorter than one window: the document is its own window
            i = len(self.buf_h) - 1 - int(np.argmin(self.buf_h[::-1]))
            self.out.append((self.buf_h[i : i + 1], self.buf_s[i : i + 1],
                             self.buf_e[i : i + 1]))
        if not self.out:
            empty = np.empty(0, dtype=np.int64)
            return np.empty(0, dtype=_U64), empty, empty.copy()
        h, s, e = (np.concatenate(parts) for parts in zip(*self.out, strict=True))
        return h, s, e


# --- public API ------------------------------------------------------------------------


def text_fingerprints(key: Key, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Winnowed fingerprints of a scanned text, in text order.

    Returns (hashes uint64, starts int64, ends int64): for each selected k-gram
    the char offset in `text` where its first token starts and its last token
    ends (`text[start:end]` is the k-gram as written).
    """
    subkey = _subkey(key)
    win = _Winnower()
    carry_t = np.empty(0, dtype=_U64)
    carry_s = np.empty(0, dtype=np.int64)
    carry_e = np.empty(0, dtype=np.int64)
    for tok, starts, ends in _tokens(text):
        tok = np.concatenate((carry_t, tok))
        starts = np.concatenate((carry_s, starts))
        ends = np.concatenate((carry_e, ends))
        fp = _kgrams(subkey, tok)
        if len(fp):
            win.feed(fp, starts[: len(fp)], ends[K - 1 :])
        keep = min(K - 1, len(tok))
        carry_t, carry_s, carry_e = tok[len(tok) - keep :], starts[len(tok) - keep :], \
            ends[len(tok) - keep :]
    return win.finish()


def record_fingerprints(key: Key, text: str) -> np.ndarray:
    """The unique, sorted fingerprints of one record's free text (for enrolment)."""
    hashes, _, _ = text_fingerprints(key, text)
    return np.unique(hashes)


def stop_fingerprints(
    record_fps: Sequence[np.ndarray],
    max_records: int = DEFAULT_STOP_MAX_RECORDS,
    background: Sequence[np.ndarray] = (),
) -> np.ndarray:
    """Fingerprints to drop at index build: those in more than `max_records`
    records (templates, boilerplate), plus every fingerprint of `background`
    texts (e.g. `text_fingerprints` of ordinary Finnish/English prose)."""
    parts = [np.unique(fp) for fp in record_fps if len(fp)]
    if parts:
        values, counts = np.unique(np.concatenate(parts), return_counts=True)
        common = values[counts > max_records]
    else:
        common = np.empty(0, dtype=_U64)
    if background:
        common = np.union1d(common, np.concatenate([np.asarray(b, dtype=_U64)
                                                    for b in background]))
    return common.astype(_U64)


def build_index(record_fps: Sequence[np.ndarray], stop: np.ndarray | None = None) -> FragmentIndex:
    """Arrays for `match` from each record's fingerprints (record i = position i)."""
    lists = []
    for fp in record_fps:
        fp = np.unique(np.asarray(fp, dtype=_U64))
        if stop is not None and len(stop):
            fp = fp[~np.isin(fp, stop)]
        lists.append(fp)
    counts = np.array([len(fp) for fp in lists], dtype=np.int32)
    if counts.sum() == 0:
        return FragmentIndex(np.empty(0, dtype=_U64), np.empty(0, dtype=np.int32), counts)
    fps = np.concatenate(lists)
    recs = np.repeat(np.arange(len(lists), dtype=np.int32), counts)
    order = np.argsort(fps, kind="stable")
    return FragmentIndex(fps[order], recs[order], counts)


def match(
    index_fp_sorted: np.ndarray,
    index_fp_record: np.ndarray,
    record_fp_counts: np.ndarray,
    hashes: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    threshold: float = MATCH_THRESHOLD,
    *,
    min_matches: int = MIN_MATCHES,
    max_gap: int = MAX_GAP_CHARS,
) -> list[tuple[int, float, int, int]]:
    """Records whose fingerprints appear together in a scanned text.

    For each record, its matched fingerprints (in text order) are split into
    regions wherever two consecutive ones are more than `max_gap` chars apart.
    The best region (most distinct fingerprints, m) is a hit when
    m >= `min_matches`, or when m >= MIN_REL_MATCHES and m / (record's count)
    >= `threshold` (short records). Returns (record_idx, score, start, end)
    sorted by start, score = m / record's fingerprint count.
    """
    if len(hashes) == 0 or len(index_fp_sorted) == 0:
        return []
    lo = np.searchsorted(index_fp_sorted, hashes, side="left")
    hi = np.searchsorted(index_fp_sorted, hashes, side="right")
    cnt = hi - lo
    hit = np.flatnonzero((cnt > 0) & (cnt <= MAX_RECORDS_PER_FP))
    if len(hit) == 0:
        return []
    cnt_h = cnt[hit]
    total = int(cnt_h.sum())
    text_pos = np.repeat(hit, cnt_h)
    within = np.arange(total) - np.repeat(np.cumsum(cnt_h) - cnt_h, cnt_h)
    rec = index_fp_record[np.repeat(lo[hit], cnt_h) + within].astype(np.int64)
    p_start = starts[text_pos]
    order = np.lexsort((p_start, rec))
    rec, text_pos, p_start = rec[order], text_pos[order], p_start[order]
    brk = np.ones(total, dtype=bool)
    brk[1:] = (rec[1:] != rec[:-1]) | (p_start[1:] - p_start[:-1] > max_gap)
    cluster = np.cumsum(brk) - 1
    first = np.flatnonzero(brk)
    c_start = np.minimum.reduceat(p_start, first)
    c_end = np.maximum.reduceat(ends[text_pos], first)
    c_rec = rec[first]
    # distinct fingerprint values per region (a phrase repeated counts once)
    h = hashes[text_pos]
    o2 = np.lexsort((h, cluster))
    new = np.ones(total, dtype=bool)
    new[1:] = (cluster[o2][1:] != cluster[o2][:-1]) | (h[o2][1:] != h[o2][:-1])
    m = np.bincount(cluster[o2][new], minlength=len(first))
    # best region per record
    best = np.lexsort((-m, c_rec))
    firsts = np.ones(len(best), dtype=bool)
    firsts[1:] = c_rec[best][1:] != c_rec[best][:-1]
    results = []
    for c in best[firsts].tolist():
        r = int(c_rec[c])
        count = int(record_fp_counts[r])
        mc = int(m[c])
        if count <= 0:
            continue
        score = mc / count
        if mc >= min_matches or (mc >= MIN_REL_MATCHES and score >= threshold):
            results.append((r, min(score, 1.0), int(c_start[c]), int(c_end[c])))
    results.sort(key=lambda t: (t[2], t[0]))
    return results
