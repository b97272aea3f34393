"""A mobile number kept as a number loses its leading 0: a spreadsheet's number cell, a
SQLite INTEGER column, a JSON number ("puhelin": 401234567). Such a field is read as the
region's national number with its 0 put back, and reported when its person is confirmed
beside it (their name or birth date in the window, or another of their identifiers), as
a run-on identity code is: alone, nine digits are as often an order or a customer number.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.support.index import synthetic_index
from vahti.demo import synthetic
from vahti.matchers import scanfiles
from vahti.matchers.engine import Finding, Scanner, ScanOptions
from vahti.matchers.keys import Key

KEY = Key(bytes(range(32)))
PEOPLE = synthetic.make_people(30, seed=45)
INDEX = synthetic_index(KEY, PEOPLE)
PHONE_ONLY = ScanOptions(types=frozenset({"phone"}))


def without_0(p: synthetic.Person) -> str:
    national = p.phone.replace(" ", "")
    assert national[0] == "0" and national[1] in "45", national  # a mobile number
    return national[1:]


def spans(scanner: Scanner, text: str) -> list[tuple[str, str, float]]:
    cols = scanner.scan_range_columns(text, 0, len(text), "x", "text")
    return [(r, text[s:e], score) for r, s, e, score in zip(
        cols.refs, cols.starts.tolist(), cols.ends.tolist(), cols.scores, strict=True)]


def test_a_number_without_its_0_is_found_beside_its_persons_name() -> None:
    text = "nimi;puhelin\n" + "".join(f"{p.full_name};{without_0(p)}\n" for p in PEOPLE)
    found = spans(Scanner(INDEX, KEY, PHONE_ONLY), text)
    assert sorted((r, t) for r, t, _ in found) == sorted(
        (p.ref, without_0(p)) for p in PEOPLE)
    assert min(score for _, _, score in found) > ScanOptions().base_score  # corroborated


def test_a_number_without_its_0_is_found_beside_another_of_its_persons_identifiers() -> None:
    rows = ("".join(f"{i};{p.email};{without_0(p)}\n" for i, p in enumerate(PEOPLE)),
            "".join(f"{i}\t{without_0(p)}\t{p.hetu}\n" for i, p in enumerate(PEOPLE)))
    for text in rows:
        found = spans(Scanner(INDEX, KEY, ScanOptions()), text)
        phones = sorted((r, t) for r, t, _ in found if t.isdigit())
        assert phones == sorted((p.ref, without_0(p)) for p in PEOPLE)
        assert len(found) == 2 * len(PEOPLE)


@pytest.mark.parametrize("row", [
    '{{"nimi": "{name}", "puhelin": {n}}},\n',  # JSON
    "INSERT INTO potilas VALUES (7,'{name}',{n});\n",  # SQL
    "7,{name},{n}.0,\n",  # pandas: a column with gaps is written as floats
    "<tr><td>{name}</td><td>{n}</td></tr>\n",
])
def test_a_number_field_of_an_export_is_read(row: str) -> None:
    text = "".join(row.format(name=p.full_name, n=without_0(p)) for p in PEOPLE)
    found = spans(Scanner(INDEX, KEY, PHONE_ONLY), text)
    assert sorted((r, t) for r, t, _ in found) == sorted(
        (p.ref, without_0(p)) for p in PEOPLE), row


def test_a_number_without_its_0_alone_is_not_reported_nor_retained() -> None:
    """Nine digits alone may be any number: an order's, a customer's."""
    scanner = Scanner(INDEX, KEY, ScanOptions(retain=True))
    text = "".join(f"tilaus {i};{without_0(p)}\n" for i, p in enumerate(PEOPLE))
    assert spans(scanner, text) == []
    assert "phone" not in scanner.retained.take()


@pytest.mark.parametrize("form", [
    "INV-{n}", "x{n}", "{n}x", "{n}-2", "12.{n}", "+{n}", "1{n}", "{n}1", "{n} 12",
    "040 {n}", "(0){n}", "{n}.5", "{n}.05", "{n}.00",
])
def test_digits_that_are_not_a_whole_field_are_not_read_so(form: str) -> None:
    """Glued to a longer token, inside a longer number or a chain of digit groups, the
    digits are no number field of their own."""
    p = PEOPLE[0]
    text = f"{p.full_name}: {form.format(n=without_0(p))}\n"
    found = spans(Scanner(INDEX, KEY, PHONE_ONLY), text)
    assert [t for _, t, _ in found if t == without_0(p)] == [], form


def test_a_number_written_in_full_is_found_once() -> None:
    """"+358 401234567": the national part is no number of its own beside its code."""
    p = PEOPLE[1]
    for written in (f"+358 {without_0(p)}", f"+358-{without_0(p)}", f"358 {without_0(p)}",
                    f"(+358) {without_0(p)}"):
        found = spans(Scanner(INDEX, KEY, PHONE_ONLY), f"{p.full_name}, {written}\n")
        assert len(found) <= 1 and all(t.endswith(without_0(p)) for _, t, _ in found), written


def test_only_mobile_numbers_are_read_without_their_0() -> None:
    """A landline without its 0 (9 1234567) is a bare run of any digits; the region's
    mobile numbers begin with few prefixes (4x and 50 in Finland)."""
    key = Key(bytes(32))
    b = synthetic_index(key, PEOPLE[:1])
    scanner = Scanner(b, key, PHONE_ONLY)
    assert spans(scanner, f"{PEOPLE[0].full_name};912345678\n") == []


def test_a_sqlite_integer_phone_column_is_read(tmp_path: Path) -> None:
    """SQLite keeps a phone column of INTEGER affinity as a number: the 0 is gone."""
    path = tmp_path / "potilaat.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE potilas (id INTEGER PRIMARY KEY, nimi TEXT, puhelin INTEGER)")
    conn.executemany("INSERT INTO potilas VALUES (?, ?, ?)",
                     [(i, p.full_name, int(without_0(p))) for i, p in enumerate(PEOPLE)])
    conn.commit()
    conn.close()
    events = list(scanfiles.scan_files([str(path)], INDEX, KEY, PHONE_ONLY))
    found = sorted(e.ref for e in events if isinstance(e, Finding))
    assert found == sorted(p.ref for p in PEOPLE)


def test_the_region_decides_what_is_read_without_a_0() -> None:
    """Norway's numbers have no trunk prefix: nothing to put back."""
    p = PEOPLE[2]
    text = f"{p.full_name};{without_0(p)}\n"
    assert spans(Scanner(INDEX, KEY, ScanOptions(types=frozenset({"phone"}), region="NO")),
                 text) == []
    assert len(spans(Scanner(INDEX, KEY, PHONE_ONLY), text)) == 1

