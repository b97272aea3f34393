"""Fragment fingerprints: normalisation, offsets, recall on edited excerpts,
no hits on shared phrases."""

from __future__ import annotations

import random
import unicodedata

import numpy as np
import pytest

from vahti.demo.notegen import BOILERPLATE, NoteGen
from vahti.matchers import fragments as fr
from vahti.matchers.keys import Key

KEY = Key(bytes(range(32)))
OTHER_KEY = Key(bytes(range(1, 33)))


def _values(text: str, key: Key = KEY) -> list[int]:
    return fr.text_fingerprints(key, text)[0].tolist()


def test_normalisation_ignores_case_punctuation_and_line_breaks() -> None:
    a = "Asiakas kertoi, että hänen äitinsä on sairastunut vakavasti viime keväänä."
    b = "ASIAKAS KERTOI\r\nettä hänen  äitinsä -- on sairastunut; vakavasti (viime) keväänä!!"
    assert _values(a) == _values(b)
    assert len(_values(a)) > 0


def test_normalisation_unicode_variants_hash_alike() -> None:
    base = "hämeenlinnan efficient strasse official don't email asiakas kertoi tänään"
    variants = [
        unicodedata.normalize("NFD", base),  # decomposed ä
        base.replace("ee", "e\u200be"),  # zero-width space inside a word
        base.replace("linnan", "lin\u00adnan"),  # soft hyphen
        base.replace("ffi", "\ufb03").replace("fi", "\ufb01"),  # ligatures
        base.replace("strasse", "Straße"),
        base.replace("don't", "don\u2019t").replace("email", "e-mail"),
        base.replace("asiakas", "ａｓｉａｋａｓ"),  # fullwidth
        base.replace("kertoi", "𝐤𝐞𝐫𝐭𝐨𝐢"),  # mathematical bold (astral)
    ]
    for v in variants:
        assert _values(v) == _values(base), v


def test_offsets_point_at_the_kgram_in_the_given_text() -> None:
    text = ("Alku.  Ｆｕｌｌ\u200bwidth ÄITI, isä;\n don't 𝐁𝐨𝐥𝐝 sana-kirja "
            "yksi kaksi kolme neljä viisi")
    hashes, starts, ends = fr.text_fingerprints(KEY, text)
    assert len(hashes) == len(starts) == len(ends) > 0
    assert np.all(np.diff(starts) > 0)
    for h, s, e in zip(hashes.tolist(), starts.tolist(), ends.tolist(), strict=True):
        piece = text[s:e]
        assert piece[0].isalnum() and piece[-1].isalnum()
        # the span alone fingerprints to exactly this k-gram
        assert _values(piece) == [h]


def test_chunked_equals_unchunked(monkeypatch: pytest.MonkeyPatch) -> None:
    gen = NoteGen(11)
    text = "\n".join(gen.note(200) for _ in range(60))
    text = text.replace("ä", "a\u0308", 50).replace("kertoi", "ker\u00adtoi") + " loppu"
    whole = fr.text_fingerprints(KEY, text)
    monkeypatch.setattr(fr, "CHUNK_CHARS", 997)
    chunked = fr.text_fingerprints(KEY, text)
    for a, b in zip(whole, chunked, strict=True):
        assert np.array_equal(a, b)


def test_keyed_and_shaped() -> None:
    note = NoteGen(2).note(300)
    fps = fr.record_fingerprints(KEY, note)
    assert fps.dtype == np.uint64
    assert np.all(np.diff(fps.astype(np.float64)) > 0) or len(fps) < 2
    assert len(fps) == len(np.unique(fps))
    # winnowing density about 2/(W+1) per word
    n_words = len(note.split())
    assert 0.3 * n_words < len(fps) < 0.7 * n_words
    assert len(np.intersect1d(fps, fr.record_fingerprints(OTHER_KEY, note))) == 0


def test_short_and_empty_texts() -> None:
    assert len(_values("")) == 0
    assert len(_values("yksi kaksi kolme")) == 0  # fewer than K words
    assert len(_values("yksi kaksi kolme neljä viisi")) == 1
    assert len(_values("yksi kaksi kolme neljä viisi kuusi")) == 1  # shorter than a window
    assert fr.match(np.empty(0, np.uint64), np.empty(0, np.int32), np.empty(0, np.int32),
                    *fr.text_fingerprints(KEY, "x")) == []


def test_repeated_kgrams_collapse() -> None:
    hashes = fr.text_fingerprints(KEY, "NULL, " * 5000)[0]
    assert len(hashes) == 1


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str], fr.FragmentIndex, np.ndarray]:
    gen = NoteGen(1)
    rng = random.Random(5)
    records = [gen.note(rng.randint(100, 400)) for _ in range(2000)]
    fps = [fr.record_fingerprints(KEY, r) for r in records]
    stop = fr.stop_fingerprints(fps)
    return records, fr.build_index(fps, stop), stop


def test_stop_fingerprints_drop_boilerplate(corpus: tuple) -> None:
    _, index, stop = corpus
    assert len(stop) > 0
    boiler = np.concatenate([fr.record_fingerprints(KEY, b + " " + b) for b in BOILERPLATE])
    # every boilerplate sentence shows up in hundreds of notes: its k-grams are stopped
    assert np.isin(fr.record_fingerprints(KEY, BOILERPLATE[0] + " " + BOILERPLATE[1]),
                   stop).any()
    assert not np.isin(index.fp_sorted, stop).any()
    assert len(boiler) > 0


def test_recall_on_lightly_edited_excerpts(corpus: tuple) -> None:
    """40-word excerpts, 3 words replaced + one inserted/dropped, case,
    punctuation and line-break noise, embedded in unrelated text: found with a
    span inside the excerpt."""
    records, index, _ = corpus
    rng = random.Random(8)
    excerpt_gen, filler = NoteGen(21), NoteGen(22)
    trials, found = 300, 0
    for _ in range(trials):
        r = rng.randrange(len(records))
        ex = excerpt_gen.excerpt(records[r], 40, 3)
        pre = filler.prose(120) + "\n"
        text = pre + ex + "\n" + filler.prose(120)
        hits = fr.match(*index, *fr.text_fingerprints(KEY, text))
        mine = [h for h in hits if h[0] == r]
        if mine:
            _, score, start, end = mine[0]
            # inside the excerpt, give or take k-grams the record shares with the
            # text around it (e.g. the same boilerplate sentence just before)
            assert start < len(pre) + len(ex) and end > len(pre)
            assert len(pre) - 150 <= start and end <= len(pre) + len(ex) + 150
            assert 0 < score <= 1
            found += 1
    assert found / trials >= 0.95, found / trials


def test_no_hits_on_shared_phrases_and_unrelated_text(corpus: tuple) -> None:
    """Unrelated notes in the same style (same vocabulary, boilerplate and
    common phrases) with 3-7 word phrases copied from random records every
    ~100 words: no record may hit."""
    records, index, _ = corpus
    rng = random.Random(9)
    gen = NoteGen(33)
    words: list[str] = []
    for _ in range(1500):
        words += gen.prose(100).split()
        rec = records[rng.randrange(len(records))].split()
        n = rng.randint(3, 7)
        i = rng.randrange(0, len(rec) - n)
        words += rec[i : i + n]
    text = " ".join(words)
    assert fr.match(*index, *fr.text_fingerprints(KEY, text)) == []


def test_whole_short_record_hits_by_share() -> None:
    gen = NoteGen(4)
    short = gen.note(20)
    others = [gen.note(200) for _ in range(20)]
    index = fr.build_index([fr.record_fingerprints(KEY, t) for t in [short, *others]])
    assert 4 <= index.fp_counts[0] < fr.MIN_MATCHES * 2
    hits = fr.match(*index, *fr.text_fingerprints(KEY, "Lainaus: " + short.upper()))
    assert [h[0] for h in hits] == [0]
    assert hits[0][1] >= 0.5


def test_scattered_fingerprints_do_not_add_up() -> None:
    """A record's phrases spread thinly over a big text (6 words every 150) are
    not a fragment, though together they hold 5x MIN_MATCHES fingerprints."""
    gen = NoteGen(5)
    words = gen.note(400).split()
    fps = [fr.record_fingerprints(KEY, t) for t in [" ".join(words)] +
           [gen.note(300) for _ in range(100)]]
    index = fr.build_index(fps, fr.stop_fingerprints(fps))  # boilerplate goes
    phrases = [" ".join(words[i : i + 6]) for i in range(0, 390, 26)]
    filler = NoteGen(6)
    text = " ".join(filler.prose(150) + " " + p for p in phrases)
    hashes = fr.text_fingerprints(KEY, text)[0]
    assert np.isin(hashes, index.fp_sorted).sum() >= 2 * fr.MIN_MATCHES
    assert fr.match(*index, *fr.text_fingerprints(KEY, text)) == []
    # the same phrases together are a hit
    together = " ".join(phrases)
    assert [h[0] for h in fr.match(*index, *fr.text_fingerprints(KEY, together))] == [0]


def test_the_best_region_is_chosen_among_those_that_may_start_where_they_do() -> None:
    """`match(eligible=...)`: a chunk's text around it is context. A record's better
    region there must not hide its region in the chunk, which is reported instead."""
    gen = NoteGen(7)
    words = gen.note(300).split()
    fps = [fr.record_fingerprints(KEY, t) for t in [" ".join(words)] +
           [gen.note(300) for _ in range(20)]]
    index = fr.build_index(fps)
    filler = NoteGen(8)
    short, long = " ".join(words[10:40]), " ".join(words[100:200])
    text = filler.prose(100) + " " + short + " " + filler.prose(100) + " " + long
    hashes, starts, ends = fr.text_fingerprints(KEY, text)
    cut = text.index(long) - 10  # the chunk: text[:cut]; the long excerpt is context
    ((rec, score, s, e),) = fr.match(*index, hashes, starts, ends)
    assert rec == 0 and s >= cut  # with no context, the long excerpt is the best region
    ((rec, score_own, s, e),) = fr.match(*index, hashes, starts, ends, eligible=starts < cut)
    assert rec == 0 and text.index(short) - 40 <= s < text.index(short) + len(short) <= e + 40
    assert score_own < score
    assert fr.match(*index, hashes, starts, ends, eligible=starts < len(text) // 20) == []


def _edge_texts() -> list[str]:
    gen = NoteGen(12)
    return [
        "",
        "yksi kaksi",
        "yksi kaksi kolme neljä viisi",  # one k-gram
        "yksi kaksi kolme neljä viisi kuusi",  # two: shorter than a window
        gen.note(120),
        gen.note(40).replace("ä", "a\u0308", 3).replace("e", "e\u00ad", 2) + " ﬁnal Straße",
        "INV-7225516707;2021-05-20;don't e-mail -x- '' a--b " + gen.note(30),
        "𝐤𝐞𝐫𝐭𝐨𝐢 " + gen.note(30) + " 漢字 テスト αβγ",
        " ".join(["supercalifragilisticexpialidocious", "a" * 40, "b" * 16, "c" * 17] * 3),
        gen.note(300),
    ]


def test_record_fingerprints_many_equals_one_by_one() -> None:
    texts = _edge_texts()
    many = fr.record_fingerprints_many(KEY, texts)
    assert len(many) == len(texts)
    for text, fps in zip(texts, many, strict=True):
        assert fps.dtype == np.uint64
        assert np.array_equal(fps, np.unique(fr.text_fingerprints(KEY, text)[0])), text[:40]
        assert np.array_equal(fps, fr.record_fingerprints(KEY, text))
    assert fr.record_fingerprints_many(KEY, []) == []
    # batches never mix records: the same note gives the same set wherever it sits
    assert np.array_equal(fr.record_fingerprints_many(KEY, [texts[4], texts[9]])[1],
                          fr.record_fingerprints_many(KEY, [texts[9]])[0])


def test_latin1_and_wide_paths_agree() -> None:
    """A chunk with any character beyond latin-1 goes the UTF-32 way; tokens of
    latin-1 characters must hash alike on both."""
    gen = NoteGen(13)
    text = gen.note(200) + " " + " ".join(["x" * n for n in (7, 8, 9, 15, 16, 17, 33)] * 2)
    wide = text.replace(" ", "\u2003", 1)  # an em space: a separator beyond latin-1
    a, b = fr.text_fingerprints(KEY, text), fr.text_fingerprints(KEY, wide)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)


def test_long_tokens_are_hashed_whole() -> None:
    words = "alku " + "sana " * 2
    for length in (8, 9, 16, 17, 24, 25, 40):
        base = "k" * length
        changed = [base[:i] + "q" + base[i + 1 :] for i in (0, length // 2, length - 1)]
        ref = _values(words + base + " loppu sanat")
        assert ref, length
        for c in changed:
            assert _values(words + c + " loppu sanat") != ref, (length, c)
            wide = _values(words.replace(" ", "\u2003", 1) + c + " loppu sanat")
            assert wide == _values(words + c + " loppu sanat")


def test_offsets_with_joiners_on_paste_like_lines() -> None:
    text = "\n".join(
        f"{i};2021-05-{i % 28 + 1:02d};INV-{7225516707 + i};asiakas don't e-mail "
        f"lin\u00adnan sana{i} -- {'x' * (i % 20)}"
        for i in range(300)
    )
    hashes, starts, ends = fr.text_fingerprints(KEY, text)
    assert len(hashes) > 300
    for h, s, e in zip(hashes.tolist(), starts.tolist(), ends.tolist(), strict=True):
        piece = text[s:e]
        assert piece[0].isalnum() and piece[-1].isalnum()
        assert _values(piece) == [h]


@pytest.mark.parametrize("text", ["x INV-", "a-", "abc'", "-", "'", "word -", "it's-"])
def test_joiner_at_the_end_of_the_text(text):
    hashes, starts, ends = fr.text_fingerprints(KEY, text)
    assert len(hashes) == len(starts) == len(ends)
