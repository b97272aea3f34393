"""The Unicode tables of `normalize`, shipped precomputed (matchers/unicode_tables.py):
they are the ones of the running Python, and anything else is computed instead."""

from __future__ import annotations

import json
import unicodedata

import numpy as np
import pytest

from vahti.matchers import normalize, unicode_tables


@pytest.fixture
def fresh_tables(monkeypatch):  # noqa: ANN001, ANN201
    """`unicode_tables.tables()` and normalize's tables rebuilt for the test, and again
    after it (so that no other test sees what this one read)."""
    def clear() -> None:
        for cached in (unicode_tables.tables, normalize._special_chars,
                       normalize._special_table, normalize._native_table,
                       normalize._native_context, normalize._special_class,
                       normalize._pattern):
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
