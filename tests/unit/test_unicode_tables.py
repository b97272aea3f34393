"""The Unicode tables of `normalize` and of `fragments`, shipped precomputed
(matchers/unicode_tables.py): they are the ones of the running Python, and anything else
is computed instead."""

from __future__ import annotations

import json
import unicodedata

import numpy as np
import pytest

from vahti.matchers import fragments, normalize, unicode_tables
from vahti.matchers.keys import Key


@pytest.fixture
def fresh_tables(monkeypatch):  # noqa: ANN001, ANN201
    """`unicode_tables.tables()` and normalize's tables rebuilt for the test, and again
    after it (so that no other test sees what this one read)."""
    def clear() -> None:
        for cached in (unicode_tables.tables, normalize._special_chars,
                       normalize._special_table, normalize._native_table,
                       normalize._native_context, normalize._special_class,
                       normalize._pattern, unicode_tables.fragment_units,
                       fragments._tables):
            cached.cache_clear()

    clear()
    yield monkeypatch
    monkeypatch.undo()
    clear()


def test_the_shipped_tables_are_those_of_this_python():
    """Fails after a change of `is_special` or on another Unicode version: regenerate
    with `make unicode-tables`."""
    shipped = unicode_tables.read(unicode_tables.SHIPPED)
    assert shipped is not None, "unicode_tables.json is missing or for another Unicode"
    assert shipped["unidata_version"] == unicodedata.unidata_version
    assert shipped == unicode_tables.compute()


def test_normalize_s_tables_are_what_unicodedata_says():
    """Built from the ranges, they hold per code point what the per-character loop did."""
    special = [cp for cp in range(0x80, 0x10000) if unicode_tables.is_special(chr(cp))]
    expected = np.zeros(0x110000, dtype=bool)
    expected[special] = True
    expected[0x10000:] = True
    assert np.array_equal(normalize._special_chars(), expected)
    combining = np.frombuffer(bytes(map(unicodedata.combining, map(chr, range(0x110000)))),
                              dtype=np.uint8) != 0
    native = np.frombuffer(normalize._native_table(), dtype=np.uint8)
    assert np.array_equal(native, expected.astype(np.uint8) | (combining.astype(np.uint8) << 1))


def written(path, **changes) -> dict:  # noqa: ANN001
    data = json.loads(unicode_tables.SHIPPED.read_text()) | changes
    path.write_text(json.dumps(data))
    return data


KEY = Key(bytes(range(32)))
NOTE = ("Potilas kertoi vastaanotolla, että unettomuus on pahentunut syksyn aikana; "
        "hän toivoo lähetettä terapiaan – Šárka Łukasiewicz kävi ÄITINSÄ kanssa.")


def _fingerprints() -> list[int]:
    return fragments.text_fingerprints(KEY, NOTE)[0].tolist()


FINGERPRINTS = _fingerprints()  # with the tables as shipped (and beyond latin-1)

BOGUS = [[0x41, 0x5A]]  # "A-Z": never special, so it shows where a table came from


def test_tables_for_this_unicode_version_are_read_not_computed(tmp_path, fresh_tables):
    path = tmp_path / "unicode_tables.json"
    written(path, special_bmp=BOGUS)
    fresh_tables.setattr(unicode_tables, "SHIPPED", path)
    assert unicode_tables.tables()["special_bmp"] == ((0x41, 0x5A),)
    assert normalize._special_chars()[ord("A")]


@pytest.mark.parametrize("changes", [{"unidata_version": "13.0.0"}, {"format": 0}])
def test_tables_for_another_unicode_version_are_computed(tmp_path, fresh_tables, changes):
    path = tmp_path / "unicode_tables.json"
    written(path, special_bmp=BOGUS, **changes)
    fresh_tables.setattr(unicode_tables, "SHIPPED", path)
    assert unicode_tables.read(path) is None
    assert unicode_tables.tables() == unicode_tables.compute()
    assert not normalize._special_chars()[ord("A")]
    assert normalize.normalize("x\u2013y").text == "x-y"


@pytest.mark.parametrize("content", ["", "{", "[]", '{"format": 1}', "\xff\xfe"])
def test_a_missing_or_damaged_file_is_computed(tmp_path, fresh_tables, content):
    path = tmp_path / "unicode_tables.json"
    path.write_text(content, encoding="latin-1")
    for where in (path, tmp_path / "missing.json"):
        assert unicode_tables.read(where) is None
    fresh_tables.setattr(unicode_tables, "SHIPPED", path)
    assert unicode_tables.tables() == unicode_tables.compute()


def test_out_of_range_code_points_are_refused(tmp_path):
    path = tmp_path / "unicode_tables.json"
    written(path, combining=[[0x300, 0x110000]])
    assert unicode_tables.read(path) is None


def test_regenerating_writes_what_is_shipped(tmp_path):
    path = tmp_path / "unicode_tables.json"
    unicode_tables.write(path)
    assert path.read_bytes() == unicode_tables.SHIPPED.read_bytes()


def test_the_fragment_units_are_read_not_asked_of_unicodedata(fresh_tables):
    """A scan's fragment tokens need a unit for every BMP character: asked of
    `unicodedata` one by one, that took 0.07-0.1 s of every process's start."""
    def asked() -> None:
        raise AssertionError("the units were computed")

    assert len(FINGERPRINTS) >= 5  # the note is long enough to be fingerprinted
    fresh_tables.setattr(fragments, "bmp_units", asked)
    units, latin1 = fragments._tables()
    assert units.dtype == np.uint32 and len(units) == unicode_tables.BMP
    assert units[ord("A")] == ord("a") and units[ord(" ")] == fragments._SEP
    assert units[ord("-")] == fragments._JOIN and units[0xAD] == fragments._IGN
    assert latin1[ord("\xc4")] == ord("\xe4")
    assert fragments.text_fingerprints(KEY, NOTE)[0].tolist() == FINGERPRINTS


def test_the_fragment_units_are_those_of_unicodedata():
    units = unicode_tables.units_of(unicode_tables.read(unicode_tables.SHIPPED)["fragment_units"])
    assert np.array_equal(units, fragments.bmp_units())
    assert unicode_tables.units_of(unicode_tables.unit_runs(units)).tolist() == units.tolist()


@pytest.mark.parametrize("runs", [
    [], [0], [1, 0], [0, 0, 0, 1], [0, 0, 0x10000, 0], [0, 0.5], [0, True], [0, "0"],
    [0, 0x10004],  # no such class
    [0, 0, 0x41, -0x42],  # "A" below zero
    [0, 0, 0xFFFF, 1],  # beyond the BMP
    [0, 0, 0x41, -0x40],  # a word character's unit where the classes are
    [0, 2**70],  # beyond any int64
])
def test_fragment_units_that_make_no_table_are_computed(tmp_path, fresh_tables, runs):
    path = tmp_path / "unicode_tables.json"
    written(path, fragment_units=runs)
    fresh_tables.setattr(unicode_tables, "SHIPPED", path)
    with pytest.raises(ValueError):
        unicode_tables.units_of(tuple(runs))
    assert np.array_equal(fragments._tables()[0], fragments.bmp_units())
    assert fragments.text_fingerprints(KEY, NOTE)[0].tolist() == FINGERPRINTS


def test_fragment_units_for_this_unicode_version_are_read(tmp_path, fresh_tables):
    path = tmp_path / "unicode_tables.json"
    runs = list(unicode_tables.unit_runs(fragments.bmp_units()))
    runs[1] = unicode_tables._CLASS + fragments._COMPLEX  # U+0000, a separator, as complex
    written(path, fragment_units=runs)
    fresh_tables.setattr(unicode_tables, "SHIPPED", path)
    assert fragments._tables()[0][0] == fragments._COMPLEX
