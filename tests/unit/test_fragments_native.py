"""The fused fragment kernels of `_native_frag.c` against the paths they replace.

`fragment_select` (tokens, k-grams, streaming winnowing in one C call) must give the
fingerprints and offsets of the per-chunk path (`_tokens` + `_Stream`, with the C
tokeniser and with numpy alone); `fragment_lookup` the positions and insertion points
of the bit-table test and `np.searchsorted`.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from vahti.demo.notegen import NoteGen
from vahti.matchers import engine, native
from vahti.matchers import fragments as fr
from vahti.matchers.keys import Key

KEY = Key(bytes(range(32)))
FUSED = ("fragment_select", "fragment_lookup")


def _lib():
    if native.lib is None:
        pytest.fail("matchers._native is not built (pip install -e .)")
    return native.lib


def _without_fused():  # the extension as it was before the fused kernels
    lib = _lib()
    return SimpleNamespace(**{n: getattr(lib, n) for n in dir(lib)
                              if not n.startswith("__") and n not in FUSED})


def _all_paths(monkeypatch: pytest.MonkeyPatch, text: str) -> list[tuple[np.ndarray, ...]]:
    """text_fingerprints of `text` fused, per chunk with the C tokeniser, numpy only."""
    full = _lib()
    out = []
    for lib in (full, _without_fused(), None):
        monkeypatch.setattr(native, "lib", lib)
        out.append(fr.text_fingerprints(KEY, text))
    monkeypatch.setattr(native, "lib", full)
    return out


def _select(text: str):  # type: ignore[no-untyped-def]
    bmp, latin1 = fr._tables()
    _, seed = fr._keys(KEY)
    return _lib().fragment_select(text, latin1, bmp, seed, min(fr.CHUNK_CHARS, fr._MAX_CHUNK),
                                  fr._CUT_SEARCH)


_NOTES = "\n".join(NoteGen(21).note(150) for _ in range(40))


def _joined_words(seed: int = 3) -> str:
    """Latin-1 words, short and long (past 16 and past 240 units), with joiners (' -) and
    ignorables (soft hyphens) anywhere in them: at their ends, doubled, side by side."""
    rng = np.random.default_rng(seed)
    marks = list("-'\u00ad")
    words = []
    for _ in range(3000):
        n = int(rng.choice([1, 2, 5, 11, 17, 30, 250]))
        units = [rng.choice(marks) if rng.random() < 0.25 else chr(rng.integers(97, 123))
                 for _ in range(n)]
        words.append("".join(units))
    return " ".join(words)


# (text, whether the fused kernel takes it: no complex unit, nothing beyond the BMP)
CASES = {
    "empty": ("", True),
    "one word": ("x", True),
    "four words": ("yksi kaksi kolme neljä", True),
    "one k-gram": ("yksi kaksi kolme neljä viisi", True),
    "shorter than a window": ("yksi kaksi kolme neljä viisi kuusi", True),
    "exactly a window": ("yksi kaksi kolme neljä viisi kuusi seitsemän", True),
    "repeated k-grams": ("NULL, " * 3000, True),
    "notes": (_NOTES, True),
    "joiners, ignorables": (_NOTES.replace("kertoi", "ker\u00adtoi")
                            .replace(" on ", " don't e-mail ")
                            + " -a- 'b' c-' \ufeffd", True),
    "joiners at the ends": ("-alku sana toinen kolmas neljäs viides it's-", True),
    "joiners and ignorables anywhere": (_joined_words(), True),
    # more selections than the room made at first (one for 8 characters): the arrays grow
    "one-letter words": (" ".join(np.random.default_rng(5).choice(list("abcdefghij"), 40000)),
                         True),
    # the arrays' growth projected from a dense head onto a sparse tail
    "dense head, sparse tail": (" ".join(np.random.default_rng(6).choice(list("abcdefghij"),
                                                                        20000))
                                + " " + " ".join(["pitkä" * 40] * 3000), True),
    "identity codes and dates": (" ".join(f"13{d:02d}52-30{d % 10}T 19{d:02d}-03-12 Anna-Liisa"
                                          for d in range(99)), True),
    "wide separators": (_NOTES.replace(" ", "\u2003", 3).replace(".", "\u2026"), True),
    "fullwidth letters": (_NOTES.replace("a", "\uff41", 5), True),
    "wide letters": (_NOTES.replace("e", "\u03b5", 40), True),
    "long tokens": (" ".join("k" * n for n in range(1, 70)) * 3, True),
    "a token longer than a chunk": ("alku " + "q" * 3000 + " loppu sana toinen kolmas", True),
    "complex": (_NOTES.replace("a", "ß", 3), False),
    "combining mark": (_NOTES.replace("ä", "a\u0308", 5), False),
    "astral": (_NOTES + " \U0001f600 sana toinen kolmas neljäs viides", False),
    "wide text, latin-1 chunks": ("\u03b1 " + _NOTES, True),
}


@pytest.mark.parametrize("chunk", [fr.CHUNK_CHARS, 997, 61])
@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_equals_the_per_chunk_paths(monkeypatch: pytest.MonkeyPatch, name: str,
                                          chunk: int) -> None:
    text, fused = CASES[name]
    monkeypatch.setattr(fr, "CHUNK_CHARS", chunk)
    assert (_select(text) is not None) == fused
    got, per_chunk, numpy_only = _all_paths(monkeypatch, text)
    for a, b, c in zip(got, per_chunk, numpy_only, strict=True):
        assert np.array_equal(a, b) and np.array_equal(a, c)
    assert all(a.flags.writeable for a in got)


def _latin1_texts() -> list[str]:
    """Every latin-1 character, at every place of a 64-unit block (the AVX-512 lookup's),
    in texts of lengths around the blocks' edges and across a chunk's."""
    rng = np.random.default_rng(7)
    latin1 = fr._tables()[1]
    # every character but the few whose unit is complex ("ß", "ª", ...: the general path)
    plain = np.array([c for c in range(256) if latin1[c] != fr._COMPLEX])
    words = "sana toinen kolmas neljäs viides ÄÖÅ ø ÿ".split()
    texts = ["".join(map(chr, plain)) * 3]
    for n in (*range(1, 140), 255, 256, 257, 4095, 4096, 4097, 70001):
        texts.append("".join(map(chr, rng.choice(plain, n))))  # any mix, controls too
        texts.append(" ".join(rng.choice(words, n // 4 + 1))[:n])
    return texts


@pytest.mark.parametrize("chunk", [fr.CHUNK_CHARS, 997])
def test_fused_units_by_vector_and_one_by_one_are_the_same(chunk: int) -> None:
    """The latin-1 units of a chunk are looked up 64 at a time where the CPU has AVX-512
    VBMI, one by one where it has not (simd=False): the same selections either way."""
    bmp, latin1 = fr._tables()
    _, seed = fr._keys(KEY)
    texts = _latin1_texts() + [t for t, _ in CASES.values()]
    for text in texts:
        args = (text, latin1, bmp, seed, chunk, fr._CUT_SEARCH)
        assert _lib().fragment_select(*args) == _lib().fragment_select(*args, False)
    taken = sum(_lib().fragment_select(t, latin1, bmp, seed, chunk, fr._CUT_SEARCH) is not None
                for t in texts)
    assert taken > len(texts) - len(CASES)  # (all but some CASES: no complex unit)


def test_fused_rejects_bad_tables() -> None:
    with pytest.raises(ValueError):
        _lib().fragment_select("sana", b"\x00" * 10, fr._tables()[0], 1, 1000, 10)


def _numpy_lookup(table, fp_sorted, hashes):  # type: ignore[no-untyped-def]
    maybe = engine._bit_test(table, hashes >> engine._FP_TABLE_SHIFT)
    lo = np.searchsorted(fp_sorted, hashes, "left")
    hi = np.searchsorted(fp_sorted, hashes, "right")
    keep = np.flatnonzero(maybe & (hi > lo))
    return keep, lo[keep], hi[keep]


def test_lookup_equals_bit_table_and_searchsorted() -> None:
    rng = np.random.default_rng(7)
    values = rng.integers(0, 2**63, 20000, dtype=np.int64).view(np.uint64) * np.uint64(2)
    edges = np.array([0, 1, 2**64 - 1, 2**64 - 2, 2**45, 2**45 - 1], dtype=np.uint64)
    # repeats, more than MAX_RECORDS_PER_FP of one, and the bucket edges
    fp_sorted = np.sort(np.concatenate((values, values[:50], np.repeat(values[7], 70), edges)))
    table = engine._bit_table(fp_sorted >> engine._FP_TABLE_SHIFT, engine._FP_TABLE_BITS)
    buckets = np.searchsorted(fp_sorted >> np.uint64(engine._FP_BUCKET_SHIFT),
                              np.arange((1 << engine._FP_BUCKET_BITS) + 1,
                                        dtype=np.uint64)).astype(np.int64)
    hashes = np.concatenate((rng.integers(0, 2**63, 50000, dtype=np.int64).view(np.uint64),
                             values[::3], edges, values[:60] + np.uint64(1)))
    rng.shuffle(hashes)
    keep_b, lo_b, hi_b = _lib().fragment_lookup(
        table, int(engine._FP_TABLE_SHIFT), fp_sorted, buckets, engine._FP_BUCKET_SHIFT, hashes)
    got = [np.frombuffer(b, dtype=np.int64) for b in (keep_b, lo_b, hi_b)]
    want = _numpy_lookup(table, fp_sorted, hashes)
    assert len(want[0]) > 6000
    for a, b in zip(got, want, strict=True):
        assert np.array_equal(a, b)
    empty = _lib().fragment_lookup(table, int(engine._FP_TABLE_SHIFT), fp_sorted, buckets,
                                   engine._FP_BUCKET_SHIFT, np.empty(0, np.uint64))
    assert empty == (b"", b"", b"")
    with pytest.raises(ValueError):  # buckets that do not end at the index's length
        _lib().fragment_lookup(table, int(engine._FP_TABLE_SHIFT), fp_sorted[1:], buckets,
                               engine._FP_BUCKET_SHIFT, hashes)


def _numpy_tables(fp_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    table = engine._bit_table(fp_sorted >> engine._FP_TABLE_SHIFT, engine._FP_TABLE_BITS)
    buckets = np.searchsorted(fp_sorted >> np.uint64(engine._FP_BUCKET_SHIFT),
                              np.arange((1 << engine._FP_BUCKET_BITS) + 1, dtype=np.uint64))
    return table, buckets.astype(np.int64)


def test_tables_in_one_pass_equal_numpy_s() -> None:
    """fragment_tables (C, a scan's start-up) builds the bit set and the bucket starts
    numpy's passes build: with repeats, empty buckets, the edges of the 64-bit range."""
    rng = np.random.default_rng(11)
    values = rng.integers(0, 2**63, 30000, dtype=np.int64).view(np.uint64) * np.uint64(2)
    edges = np.array([0, 1, 2**64 - 1, 2**64 - 2, 2**45, 2**45 - 1, 2**37 - 1, 2**37],
                     dtype=np.uint64)
    cases = [np.sort(np.concatenate((values, values[:40], np.repeat(values[3], 9), edges))),
             np.zeros(0, np.uint64), edges[:1], np.sort(edges), np.repeat(edges[2:3], 5)]
    for fp_sorted in cases:
        table, buckets = engine._fragment_tables(fp_sorted)
        want_table, want_buckets = _numpy_tables(fp_sorted)
        assert table.dtype == np.uint8 and buckets is not None and buckets.dtype == np.int64
        assert np.array_equal(table, want_table)
        assert np.array_equal(buckets, want_buckets)
    shift, bucket_shift = int(engine._FP_TABLE_SHIFT), engine._FP_BUCKET_SHIFT
    assert _lib().fragment_tables(values, shift, bucket_shift) is None  # not sorted
    with pytest.raises(ValueError):
        _lib().fragment_tables(np.sort(values), 3, bucket_shift)  # a 2**58-byte table


def test_tables_without_the_c_pass_are_numpy_s(monkeypatch: pytest.MonkeyPatch) -> None:
    fp_sorted = np.sort(np.random.default_rng(5).integers(0, 2**63, 5000, dtype=np.int64)
                        .view(np.uint64))
    monkeypatch.setattr(native, "lib", SimpleNamespace(
        **{n: getattr(_lib(), n) for n in dir(_lib())
           if not n.startswith("__") and n != "fragment_tables"}))
    table, buckets = engine._fragment_tables(fp_sorted)
    want_table, want_buckets = _numpy_tables(fp_sorted)
    assert np.array_equal(table, want_table) and np.array_equal(buckets, want_buckets)
    monkeypatch.setattr(native, "lib", None)
    table, buckets = engine._fragment_tables(fp_sorted)
    assert np.array_equal(table, want_table) and buckets is None
