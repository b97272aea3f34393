"""Record-fragment fingerprints: keyed, winnowed word k-grams.

A register's free text (session notes, care plans) is enrolled as a set of
64-bit keyed fingerprints; a scanned page matches a record when enough of the
record's fingerprints appear *together* in it. Nothing stored reveals a word:
every fingerprint is AES-256 (a PRP under the "fragment" subkey) of one
16-byte combination of K word hashes, truncated to 64 bits.

Pipeline (numpy, in chunks of 128k characters, so that a chunk's arrays stay in
cache and no Python code runs per token or per character):

1. Normalise and tokenise with char offsets into the *given* text. A token is
   a run of word characters (letters, digits, marks) after NFKC + casefold;
   punctuation and whitespace separate tokens, except that an apostrophe or
   hyphen between two word characters is dropped ("don't" = "dont",
   "e-mail" = "email"), and invisible format characters (ZWSP, soft hyphen,
   BOM) are ignored. A latin-1 chunk is classified and case-folded by one
   `bytes.translate` (one byte per character); other chunks through a uint32
   table over the BMP. Dropped joiners and ignorables are deleted from the
   unit buffer in one pass, token boundaries come from one `flatnonzero` over
   the word mask, and offsets are mapped back to the given text. The rare
   tokens holding anything else (ligatures, "ß", combining marks, astral
   letters) are re-hashed in Python from their exactly normalised string,
   which gives the same value as the fast path for the equivalent plain text.
2. Each token gets a 64-bit value: a polynomial in Q over its 64-bit lanes (8
   latin-1 code points per lane; 2 per lane for tokens with any code point
   beyond latin-1, a separate domain), plus its length, xor a key-derived seed,
   then a multiply-xorshift finaliser. Lanes are read from the unit buffer with
   two aligned gathers and shifts, so the cost is per token, not per char.
3. Each run of K tokens is combined linearly (odd multipliers) into one
   64-bit value; winnowing runs on these (pseudo-random under the key), and
   only the selected k-grams are keyed: AES-ECB of the 16-byte block
   (combination, first token value), one bulk call per chunk, truncated to 64
   bits (ECB on purpose: equal k-grams must give equal fingerprints; it is a
   keyed PRF here, not a cipher mode for secrecy).
   With the C extension (`matchers.native`) steps 1-2 run as one C pass over the
   units (`_chunk_tokens_native`), giving the same tokens, offsets and values;
   the numpy code above is the fallback. For text without complex characters
   (nearly all), steps 1-4 up to the keying run in one C call instead
   (`fragment_select` in `_native_frag.c`: the same chunks, the same streaming
   winnowing as `_Stream`, no numpy pass per chunk); only AES stays here.
4. Winnowing (Schleimer, Wilkerson, Aiken 2003) with window W keeps the
   minimum of every W consecutive k-gram values; consecutive selections
   of the same value collapse to one (the point of their "robust winnowing":
   runs of identical k-grams such as "NULL, NULL, NULL" would otherwise select
   every position).

Enrolment (`record_fingerprints_many`) runs the same pipeline once over a batch
of records joined by line breaks, drops k-grams and windows that span two
records, and encrypts the whole batch's selection in one call; each record gets
exactly the values `text_fingerprints` gives for it alone.

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

from vahti.matchers import native, unicode_tables
from vahti.matchers.keys import Key, derive_subkey

K = 5
W = 3
MIN_MATCHES = 5
MIN_REL_MATCHES = 4
MATCH_THRESHOLD = 0.5
MAX_GAP_CHARS = 300
# A record with fewer fingerprints than MIN_REL_MATCHES can never be a hit. Notes of
# this many (distinct) words always have enough: n words make n - K + 1 k-grams, and
# every winnowing window of W k-grams selects one, so MIN_REL_MATCHES disjoint windows
# need K - 1 + W * MIN_REL_MATCHES words.
MIN_RECORD_WORDS = K - 1 + W * MIN_REL_MATCHES
MAX_RECORDS_PER_FP = 64  # a fingerprint in more records than this is boilerplate
DEFAULT_STOP_MAX_RECORDS = 3

CHUNK_CHARS = 1 << 17  # arrays of one chunk stay in L2 and in malloc's free lists
_MAX_CHUNK = 1 << 20
_CUT_SEARCH = 1 << 12  # look this far back from a chunk end for a separator
_PAD = 8  # zero units after every unit buffer, so 8-byte lane reads stay inside

# Unit values below 4 are classes, not characters (folded word characters are >= "0").
_SEP, _JOIN, _IGN, _COMPLEX = 0, 1, 2, 3
_JOINERS = "'\u2019\u02bc-\u2010\u2011"

_U64 = np.uint64
_MASK64 = (1 << 64) - 1
# Token values: a polynomial over 64-bit lanes (8 latin-1 units, or 2 code points for
# tokens with a character beyond latin-1) plus the length, then keyed and mixed.
_Q = 0x9E3779B97F4A7C15  # odd lane base
_LEN_NARROW = 0xC2B2AE3D27D4EB4F
_LEN_WIDE = 0x165667B19E3779F9
# odd multipliers combining a k-gram's tokens (fixed, public: the key is in AES)
_M1 = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                0xD6E8FEB86659FD93, 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53,
                0x94D049BB133111EB, 0xBF58476D1CE4E5B9], dtype=_U64)
_MASK8 = np.array([(1 << (8 * i)) - 1 for i in range(8)] + [_MASK64], dtype=_U64)
_EMPTY_U64 = np.empty(0, dtype=_U64)
_EMPTY_I64 = np.empty(0, dtype=np.int64)
_ZERO = np.zeros(1, dtype=np.int64)


class FragmentIndex(NamedTuple):
    """The arrays `match` consumes. `fp_sorted[i]` belongs to record `fp_record[i]`."""

    fp_sorted: np.ndarray  # uint64, sorted, may repeat across records
    fp_record: np.ndarray  # int32
    fp_counts: np.ndarray  # int32, fingerprints kept per record


# --- tables ----------------------------------------------------------------------------
#
# One unit per BMP code point: _SEP for separators, the folded code point for ordinary
# word characters, _JOIN / _IGN / _COMPLEX for the rare rest (joiners, ignorables,
# characters needing exact normalisation). Latin-1 text goes through a 256-byte
# `bytes.translate` table instead (folds beyond latin-1 are _COMPLEX there).


def _fold(s: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", s).casefold())


def _is_ignorable(ch: str) -> bool:
    return unicodedata.category(ch) == "Cf" or "\ufe00" <= ch <= "\ufe0f"


def _entry(ch: str) -> int:
    """Unit of one character (see above)."""
    if ch in _JOINERS:
        return _JOIN
    if _is_ignorable(ch):
        return _IGN
    cat = unicodedata.category(ch)
    if cat[0] == "M" or "\u1100" <= ch <= "\u11ff":  # marks and conjoining jamo compose
        return _COMPLEX
    folded = _fold(ch)
    if len(folded) == 1 and folded.isalnum() and ord(folded) <= 0xFFFF:
        return ord(folded)
    if any(c.isalnum() for c in folded):
        return _COMPLEX
    return _SEP


def prepare() -> None:
    """Build the per-process unit tables now (e.g. before scan workers fork)."""
    _tables()


@functools.cache
def _tables() -> tuple[np.ndarray, bytes]:
    """The BMP unit table (uint32; shipped precomputed, see `unicode_tables`) and the
    latin-1 translate table."""
    units = unicode_tables.fragment_units()
    latin1 = bytes(u if u < 256 else _COMPLEX for u in units[:256].tolist())
    return units, latin1


def bmp_units() -> np.ndarray:
    """The unit of every BMP character, asked of `unicodedata` (0.07-0.1 s): what
    `unicode_tables` ships."""
    units = np.zeros(0x10000, dtype=np.uint32)
    for cp in range(0x10000):
        if not 0xD800 <= cp <= 0xDFFF:  # lone surrogates stay separators
            units[cp] = _entry(chr(cp))
    return units


@functools.lru_cache(maxsize=4096)
def _astral_entry(cp: int) -> int:
    entry = _entry(chr(cp))
    # no table row for these: any word character goes the exact (slow) way
    return _COMPLEX if entry > _COMPLEX else entry


_QPOW = np.ones(1, dtype=_U64)


def _qpow(n: int) -> np.ndarray:
    """Q^0 .. Q^(n-1) (at least), mod 2^64."""
    global _QPOW
    if len(_QPOW) < n:
        p = np.empty(max(n, 2 * len(_QPOW), 256), dtype=_U64)
        p[0] = 1
        p[1:] = _U64(_Q)
        np.multiply.accumulate(p, out=p)
        _QPOW = p
    return _QPOW


def _mix64(x: np.ndarray) -> np.ndarray:
    """Multiply-xorshift finaliser, in place: spreads the lanes' low-entropy bits."""
    x *= _U64(0xBF58476D1CE4E5B9)
    x ^= x >> _U64(31)
    x *= _U64(0x94D049BB133111EB)
    x ^= x >> _U64(29)
    return x


def _lane_values(buf: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Unmixed value of each token buf[start : start + len]: sum_j lane_j * Q^j + len * C.

    `buf` is uint8 (narrow tokens: 8 units a lane) or uint32 (wide: 2 a lane), 8-byte
    aligned, at least _PAD zero units past the last token and a multiple of 8 bytes
    long. A lane at any unit offset is put together from the two aligned 64-bit words
    it straddles (aligned gathers are several times faster than unaligned ones); no
    per-character work.
    """
    words = buf.view("<u8")
    lg = 3 if buf.itemsize == 1 else 1
    v = _lanes_at(words, starts, lens, lg)
    long = np.flatnonzero(lens > (1 << lg))
    if len(long):
        ls, ll = starts[long], lens[long]
        extra = (ll - 1) >> lg  # lanes after the first
        if extra.max() == 1:
            x = _lanes_at(words, ls + (1 << lg), ll - (1 << lg), lg)
            x *= _U64(_Q)
            v[long] += x
        else:
            first = np.cumsum(extra) - extra
            j = np.arange(1, int(first[-1] + extra[-1]) + 1) - np.repeat(first, extra)
            tid = np.repeat(np.arange(len(long)), extra)
            off = j << lg
            x = _lanes_at(words, ls[tid] + off, ll[tid] - off, lg)
            x *= _qpow(int(extra.max()) + 1)[j]
            v[long] += np.add.reduceat(x, first)
    x = lens.view(_U64) * _U64(_LEN_NARROW if lg == 3 else _LEN_WIDE)
    v += x
    return v


_LANE_MASKS = {
    3: _MASK8,  # by number of uint8 units kept
    1: np.array([0, 0xFFFFFFFF, _MASK64], dtype=_U64),  # by number of uint32 units kept
}


def _lanes_at(words: np.ndarray, pos: np.ndarray, rem: np.ndarray, lg: int) -> np.ndarray:
    """The 64 bits at unit offset `pos` of `words` (2^lg units a word), keeping the first
    min(rem, 2^lg) units (little-endian: the low bits). pos, rem: int64 >= 0."""
    q = pos >> lg
    sh = pos & ((1 << lg) - 1)
    sh <<= 6 - lg  # bits per unit
    shu = sh.view(_U64)
    lane = words[q]
    lane >>= shu
    q += 1
    hi = words[q]
    np.subtract(_U64(64), shu, out=shu)
    hi <<= shu  # a shift by 64 gives 0 in numpy
    lane |= hi
    lane &= _LANE_MASKS[lg].take(rem, mode="clip")  # clip: rem > 2^lg keeps all
    return lane


def _zeros(n: int, dtype: type) -> np.ndarray:
    """A zeroed unit buffer for n units plus _PAD, a multiple of 8 bytes long."""
    return np.zeros(n + _PAD + (-n & 7), dtype=dtype)


def _py_token_units(token: str) -> list[int]:
    """Code points of one token, normalised exactly (the slow path)."""
    folded = _fold("".join(ch for ch in token if ch not in _JOINERS and not _is_ignorable(ch)))
    return [ord(ch) for ch in folded if ch.isalnum() or unicodedata.category(ch)[0] == "M"]


def _py_lane_value(units: list[int]) -> int:
    """`_lane_values` of one token in Python: equal to the vectorised value."""
    wide = any(u > 0xFF for u in units)
    upl, bits = (2, 32) if wide else (8, 8)
    value, q = 0, 1
    for j in range(0, len(units), upl):
        lane = 0
        for i, u in enumerate(units[j : j + upl]):
            lane |= u << (bits * i)
        value = (value + lane * q) & _MASK64
        q = (q * _Q) & _MASK64
    return (value + len(units) * (_LEN_WIDE if wide else _LEN_NARROW)) & _MASK64


# --- tokenisation ----------------------------------------------------------------------


def _chunk_units(chunk: str, final: bool) -> tuple[np.ndarray, int, bool]:
    """Units of a chunk (uint8 when latin-1, else uint32; writable, _PAD zeros appended),
    where to cut it (just after its last separator, so no token is split) and whether
    it holds any joiner, ignorable or complex character."""
    n = len(chunk)
    try:
        raw = chunk.encode("latin-1")
    except UnicodeEncodeError:
        raw = None
    if raw is not None:
        fb = bytearray(raw)
        fb += bytes(_PAD + (-n & 7))
        fb = fb.translate(_tables()[1])
        special = b"\x01" in fb or b"\x02" in fb or b"\x03" in fb
        cut = n
        if not final:
            i = fb.rfind(b"\x00", max(0, n - _CUT_SEARCH), n)
            if i >= 0:
                cut = i + 1
        return np.frombuffer(fb, dtype=np.uint8), cut, special
    table = _tables()[0]
    cp = np.frombuffer(chunk.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    units = _zeros(n, np.uint32)
    np.take(table, np.minimum(cp, 0xFFFF), out=units[:n])
    astral = np.flatnonzero(cp > 0xFFFF)
    if len(astral):
        units[astral] = [_astral_entry(int(c)) for c in cp[astral]]
    cut = n
    if not final:
        tail = units[max(0, n - _CUT_SEARCH) : n]
        seps = np.flatnonzero(tail == 0)
        if len(seps):  # else a 4k-char "word": split it, nothing better exists
            cut = n - len(tail) + int(seps[-1]) + 1
    return units, cut, True


def _tokens(text: str, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(token values uint64, starts int64, ends int64) per chunk; offsets into `text`."""
    pos = 0
    n_text = len(text)
    while pos < n_text:
        chunk = text[pos : pos + min(CHUNK_CHARS, _MAX_CHUNK)]
        final = pos + len(chunk) >= n_text
        units, cut, special = _chunk_units(chunk, final)
        yield _chunk_tokens(chunk, units, cut, pos, seed, special)
        pos += cut


def _chunk_tokens(
    chunk: str, units: np.ndarray, n: int, offset: int, seed: int, special: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tokens of chunk[:n] from its units: values (keyed, mixed), starts and ends.

    Joined apostrophes/hyphens and ignorables are first deleted from the units (one
    C-level pass), so that every token is a contiguous run; offsets are mapped back
    to `chunk` afterwards. Tokens with complex characters are re-done in Python.
    """
    lib = native.lib
    if lib is not None:
        return _chunk_tokens_native(lib, chunk, units, n, offset, seed)
    skip = complex_ = None
    if special:
        u = units[:n]
        sp = np.flatnonzero((u - u.dtype.type(1)) < 3)
        if len(sp):
            kind = u[sp]
            at = np.flatnonzero(kind == _JOIN)
            if len(at):
                # an apostrophe/hyphen joins only between two word characters
                joins = sp[at]
                # clamp: a joiner at either end of the text is checked below
                before = u[np.maximum(joins - 1, 0)]
                after = u[np.minimum(joins + 1, n - 1)]
                ok = (before >= _COMPLEX) & (after >= _COMPLEX)
                ok &= joins > 0
                ok &= joins < n - 1
                if not ok.all():
                    u[joins[~ok]] = _SEP
                    keep = np.ones(len(sp), dtype=bool)
                    keep[at[~ok]] = False
                    sp, kind = sp[keep], kind[keep]
            is_cx = kind == _COMPLEX
            complex_ = sp[is_cx]
            skip = sp[~is_cx]
            if len(skip):
                units, n = _delete_units(units, n, skip)
    u = units[:n]
    inword = u != 0
    if n == 0 or not inword.any():
        return _EMPTY_U64, _EMPTY_I64, _EMPTY_I64
    flips = np.flatnonzero(inword[1:] != inword[:-1])
    flips += 1
    head, tail = bool(inword[0]), bool(inword[n - 1])
    if head or tail:
        flips = np.concatenate((_ZERO if head else _EMPTY_I64, flips,
                                np.array([n]) if tail else _EMPTY_I64))
    starts, ends = flips[0::2], flips[1::2]
    lens = ends - starts
    if units.dtype == np.uint8:
        value = _lane_values(units, starts, lens)
    else:
        value = _lane_values(units.astype(np.uint8), starts, lens)
        wide = np.flatnonzero(u > 0xFF)
        if len(wide):
            wide = dedupe_sorted(np.searchsorted(starts, wide, side="right") - 1)
            value[wide] = _lane_values(units, starts[wide], lens[wide])
    if skip is not None and len(skip):
        # kept unit c of the compacted chunk was chunk[c + (skips before it)]
        # (a few thousand binary searches into the tokens, not one per token)
        moved = skip - np.arange(len(skip))
        nt = len(starts)
        starts = starts + np.cumsum(np.bincount(
            np.searchsorted(starts, moved, side="left"), minlength=nt + 1)[:nt])
        ends = ends + np.cumsum(np.bincount(
            np.searchsorted(ends, moved, side="right"), minlength=nt + 1)[:nt])
    if complex_ is not None and len(complex_):
        at = dedupe_sorted(np.searchsorted(starts, complex_, side="right") - 1)
        for t in at.tolist():
            cps = _py_token_units(chunk[int(starts[t]) : int(ends[t])])
            value[t] = _py_lane_value(cps)
            lens[t] = len(cps)
        keep = lens > 0  # e.g. a lone combining mark
        if not keep.all():
            value, starts, ends = value[keep], starts[keep], ends[keep]
    value ^= _U64(seed)
    return _mix64(value), starts + offset, ends + offset


def _chunk_tokens_native(
    lib, chunk: str, units: np.ndarray, n: int, offset: int, seed: int  # noqa: ANN001
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_chunk_tokens` in one C pass (same values); complex tokens are re-done here."""
    v_b, s_b, e_b, cx_b = lib.fragment_tokens(units, n, seed)
    value = np.frombuffer(v_b, dtype=_U64)  # a bytearray: writable
    starts = np.frombuffer(s_b, dtype=np.int64)
    ends = np.frombuffer(e_b, dtype=np.int64)
    if cx_b:
        keep = np.ones(len(value), dtype=bool)
        for t in np.frombuffer(cx_b, dtype=np.int64).tolist():
            cps = _py_token_units(chunk[int(starts[t]) : int(ends[t])])
            if cps:
                v = np.array([_py_lane_value(cps) ^ seed], dtype=_U64)
                value[t] = _mix64(v)[0]
            else:
                keep[t] = False  # e.g. a lone combining mark
        if not keep.all():
            value, starts, ends = value[keep], starts[keep], ends[keep]
    return value, starts + offset, ends + offset


def _delete_units(units: np.ndarray, n: int, skip: np.ndarray) -> tuple[np.ndarray, int]:
    """units[:n] without the positions `skip`, zero-padded like `_chunk_units` (what
    follows position n is kept too, and not read)."""
    m = n - len(skip)
    if units.dtype == np.uint8:
        # every joiner/ignorable left in units[:n] is a skip: delete them in C
        src = units.base.obj if isinstance(units.base, memoryview) else units.tobytes()
        kept = src.translate(None, b"\x01\x02")  # the bytearray under `units`
        kept += bytes(_PAD + (-len(kept) & 7))
        return np.frombuffer(kept, dtype=np.uint8), m
    keep = np.ones(n, dtype=bool)
    keep[skip] = False
    out = _zeros(m, np.uint32)
    out[:m] = units[:n][keep]
    return out, m


def dedupe_sorted(a: np.ndarray) -> np.ndarray:
    """A sorted array without its repeats (`np.unique` of it, without sorting again)."""
    if len(a) < 2:
        return a
    keep = np.empty(len(a), dtype=bool)
    keep[0] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


# --- k-grams, keyed ------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _keys(key: Key) -> tuple[bytes, int]:
    """The fragment subkey (AES-256) and a 64-bit seed (a subkey of its own) that keys
    the token values, so that even which k-grams winnowing selects depends on the key."""
    subkey = derive_subkey(key, "fragment")
    seed = int.from_bytes(derive_subkey(key, "fragment-seed")[:8], "little")
    return subkey, seed


def _combine(tok: np.ndarray) -> np.ndarray:
    """Unkeyed 64-bit combination of every run of K consecutive (keyed) token values:
    sum_j tok[i+j] * M[j], order-sensitive; colliding with probability about 2^-64."""
    n = len(tok) - K + 1
    g = tok[:n] * _M1[0]
    tmp = np.empty(n, dtype=_U64)
    for j in range(1, K):
        np.multiply(tok[j : j + n], _M1[j], out=tmp)
        g += tmp
    return g


def _encrypt(enc, g: np.ndarray, first: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Fingerprints of selected k-grams: AES-ECB of the 16-byte block (combination,
    first token value), truncated to 64 bits, in one bulk call.

    ECB on purpose: equal k-grams must give equal fingerprints; it is a keyed PRF
    (a PRP) here, not a cipher mode for secrecy."""
    return _encrypt_blocks(enc, np.column_stack((g, first)))


def _encrypt_blocks(enc, blocks) -> np.ndarray:  # type: ignore[no-untyped-def]
    """`_encrypt` of its 16-byte blocks (a buffer of uint64 pairs)."""
    raw = memoryview(blocks).cast("B")
    m = len(raw) // 16
    out = np.empty(2 * m + 2, dtype=_U64)  # update_into wants 15 bytes of slack
    enc.update_into(raw, memoryview(out).cast("B"))
    return out[0 : 2 * m : 2].copy()


# --- winnowing -------------------------------------------------------------------------


def _winnow_mask(h: np.ndarray, w: int) -> np.ndarray:
    """Positions of h that are the minimum of at least one window h[t:t+w].

    The same set as the rightmost-minimum selection, except that ties select
    every tied position; ties are equal values, which `_Stream._emit`
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


class _Stream:
    """k-grams and streaming winnowing over tokens arriving in chunks.

    Winnowing (Schleimer, Wilkerson, Aiken 2003) runs on the k-gram combinations,
    which are pseudo-random under the key; only the selected k-grams are encrypted.
    The last K + W - 2 tokens are carried into the next chunk so that every window
    is evaluated exactly once; positions already emitted are skipped.
    """

    def __init__(self, subkey: bytes) -> None:
        self.enc = Cipher(algorithms.AES(subkey), modes.ECB()).encryptor()
        self.t, self.s, self.e = _EMPTY_U64, _EMPTY_I64, _EMPTY_I64
        self.base = 0  # global token index of self.t[0]
        self.evaluated = False
        self.last_pos = -1  # global k-gram index of the last emitted one
        self.last_g: int | None = None
        self.out: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def feed(self, t: np.ndarray, s: np.ndarray, e: np.ndarray) -> None:
        if len(self.t):
            t = np.concatenate((self.t, t))
            s = np.concatenate((self.s, s))
            e = np.concatenate((self.e, e))
        nk = len(t) - K + 1
        if nk >= W:
            g = _combine(t)
            sel = np.flatnonzero(_winnow_mask(g, W))
            if self.last_pos >= self.base:
                sel = sel[sel > self.last_pos - self.base]
            if len(sel):
                self.last_pos = int(sel[-1]) + self.base
                self._emit(g[sel], t[sel], s[sel], e[K - 1 :][sel])
            self.evaluated = True
            drop = nk - W + 1
            t, s, e = t[drop:], s[drop:], e[drop:]
            self.base += drop
        self.t, self.s, self.e = t, s, e

    def _emit(self, g: np.ndarray, t0: np.ndarray, s: np.ndarray, e: np.ndarray) -> None:
        # robust winnowing: consecutive selections of one value collapse to the first
        keep = np.empty(len(g), dtype=bool)
        keep[0] = self.last_g is None or int(g[0]) != self.last_g
        np.not_equal(g[1:], g[:-1], out=keep[1:])
        self.last_g = int(g[-1])
        if not keep.all():
            g, t0, s, e = g[keep], t0[keep], s[keep], e[keep]
        if len(g):
            self.out.append((_encrypt(self.enc, g, t0), s, e))

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        nk = len(self.t) - K + 1
        if not self.evaluated and nk >= 1:
            # shorter than one window: the document is its own window
            g = _combine(self.t)
            i = nk - 1 - int(np.argmin(g[::-1]))
            self._emit(g[i : i + 1], self.t[i : i + 1], self.s[i : i + 1],
                       self.e[i + K - 1 : i + K])
        if not self.out:
            return _EMPTY_U64.copy(), _EMPTY_I64.copy(), _EMPTY_I64.copy()
        if len(self.out) == 1:
            return self.out[0]
        h, s, e = (np.concatenate(parts) for parts in zip(*self.out, strict=True))
        return h, s, e


# --- public API ------------------------------------------------------------------------


def text_fingerprints(key: Key, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Winnowed fingerprints of a scanned text, in text order.

    Returns (hashes uint64, starts int64, ends int64): for each selected k-gram
    the char offset in `text` where its first token starts and its last token
    ends (`text[start:end]` is the k-gram as written).
    """
    subkey, seed = _keys(key)
    select = getattr(native.lib, "fragment_select", None)  # None: no (or an older) build
    if select is not None:
        bmp, latin1 = _tables()
        picked = select(text, latin1, bmp, seed, min(CHUNK_CHARS, _MAX_CHUNK), _CUT_SEARCH)
        if picked is not None:  # else complex or astral characters: the general path
            blocks, starts, ends = picked
            if not blocks:
                return _EMPTY_U64.copy(), _EMPTY_I64.copy(), _EMPTY_I64.copy()
            enc = Cipher(algorithms.AES(subkey), modes.ECB()).encryptor()
            return (_encrypt_blocks(enc, blocks), np.frombuffer(starts, dtype=np.int64),
                    np.frombuffer(ends, dtype=np.int64))
    stream = _Stream(subkey)
    for tok, starts, ends in _tokens(text, seed):
        stream.feed(tok, starts, ends)
    return stream.finish()


def record_fingerprints(key: Key, text: str) -> np.ndarray:
    """The unique, sorted fingerprints of one record's free text (for enrolment);
    the same values as `np.unique(text_fingerprints(key, text)[0])`."""
    return record_fingerprints_many(key, [text])[0]


def record_fingerprints_many(key: Key, texts: Sequence[str]) -> list[np.ndarray]:
    """`record_fingerprints` of many records in one vectorised pass.

    The texts are joined with line breaks (tokens never span one), k-grams and
    winnowing windows that would span two records are dropped, the selected
    k-grams of all records are encrypted in one call and the result is split.
    """
    n_rec = len(texts)
    if n_rec == 0:
        return []
    subkey, seed = _keys(key)
    joined = "\n".join(texts)
    rec_start = np.zeros(n_rec, dtype=np.int64)
    np.cumsum([len(t) + 1 for t in texts[:-1]], out=rec_start[1:])
    parts = list(_tokens(joined, seed))
    if not parts:
        return [_EMPTY_U64.copy() for _ in range(n_rec)]
    tok = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    starts = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
    nk = len(tok) - K + 1
    if nk <= 0:
        return [_EMPTY_U64.copy() for _ in range(n_rec)]
    rec = np.searchsorted(rec_start, starts, side="right") - 1
    g = _combine(tok)
    sel = np.zeros(nk, dtype=bool)
    nw = nk - W + 1
    if nw > 0:
        mn = g[:nw].copy()
        for j in range(1, W):
            np.minimum(mn, g[j : j + nw], out=mn)
        mn[rec[:nw] != rec[K + W - 2 :]] = _MASK64  # windows spanning two records
        for j in range(W):
            sel[j : j + nw] |= g[j : j + nw] == mn
    # a window's minimum can be the all-ones value only by accident (2^-64)
    k_ok = rec[:nk] == rec[K - 1 :]
    sel &= k_ok
    # records with 1 .. W-1 k-grams have no window: each is its own window
    valid = np.flatnonzero(k_ok)
    counts = np.bincount(rec[valid], minlength=n_rec)
    short = np.flatnonzero((counts > 0) & (counts < W))
    if len(short):
        lo = np.searchsorted(rec[valid], short, side="left")
        for r_lo, c in zip(lo.tolist(), counts[short].tolist(), strict=True):
            span = valid[r_lo : r_lo + c]
            sel[span[c - 1 - int(np.argmin(g[span][::-1]))]] = True
    at = np.flatnonzero(sel)
    enc = Cipher(algorithms.AES(subkey), modes.ECB()).encryptor()
    fp = _encrypt(enc, g[at], tok[at]) if len(at) else _EMPTY_U64
    owner = rec[at]
    order = np.lexsort((fp, owner))
    fp, owner = fp[order], owner[order]
    keep = np.ones(len(fp), dtype=bool)
    keep[1:] = (fp[1:] != fp[:-1]) | (owner[1:] != owner[:-1])
    fp, owner = fp[keep], owner[keep]
    bounds = np.searchsorted(owner, np.arange(1, n_rec))
    return np.split(fp, bounds)


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
    found: tuple[np.ndarray, np.ndarray] | None = None,
    eligible: np.ndarray | None = None,
) -> list[tuple[int, float, int, int]]:
    """Records whose fingerprints appear together in a scanned text.

    For each record, its matched fingerprints (in text order) are split into
    regions wherever two consecutive ones are more than `max_gap` chars apart.
    The best region (most distinct fingerprints, m) is a hit when
    m >= `min_matches`, or when m >= MIN_REL_MATCHES and m / (record's count)
    >= `threshold` (short records). Returns (record_idx, score, start, end)
    sorted by start, score = m / record's fingerprint count. `found`: the left and
    right `np.searchsorted` of `hashes` in `index_fp_sorted`, when the caller has them.
    `eligible`: per fingerprint, whether a region may start at it (the text around a
    scanned chunk is context: its regions are only read, and the best is chosen among
    the chunk's own).
    """
    if len(hashes) == 0 or len(index_fp_sorted) == 0:
        return []
    if found is not None:
        lo, hi = found
    else:
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
    # best region per record, among those that may start where they do
    cand = np.arange(len(first)) if eligible is None else np.flatnonzero(
        eligible[text_pos[first]])
    best = cand[np.lexsort((-m[cand], c_rec[cand]))]
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
