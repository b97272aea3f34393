"""Reading a register: digests only, problems by row and column, never by value."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from matchers.digest import digest
from matchers.keys import Key
from matchers.register import RegisterError, RegisterSummary, read_register
from vahti.demo.synthetic import make_people

KEY = Key(bytes(range(32)))


def register_bytes(rows: list[list[str]], delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue().encode(encoding)


def read(data: bytes, **kw) -> tuple[list, RegisterSummary]:
    summary = RegisterSummary()
    return list(read_register(data, KEY, summary, **kw)), summary


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_are_sniffed_and_values_keyed(delimiter):
    people = make_people(30, seed=7)
    rows = [["ref", "hetu", "email", "phone", "name", "birth_date", "notes"]]
    rows += [[p.ref, p.hetu, p.email, p.phone, p.full_name, p.birth_date.isoformat(),
              p.notes[0]] for p in people]
    enrolled, summary = read(register_bytes(rows, delimiter))
    assert summary.delimiter == delimiter
    assert [e.ref for e in enrolled] == [p.ref for p in people]
    first = enrolled[0]
    assert first.digests["hetu"] == [digest(KEY, "hetu", people[0].hetu.upper())]
    assert set(first.digests) == {"hetu", "email", "phone"}
    assert set(first.corroborating) == {"name", "birth_date"}
    assert first.fingerprints.dtype == np.uint64 and len(first.fingerprints) > 5
    assert summary.values["hetu"] == 30 and summary.values["notes"] == 30
    assert not summary.problems


def test_problems_name_row_and_column_never_the_value():
    secret_hetu, secret_mail = "131052-308X", "anna.virtanen@@example.fi"
    rows = [["ref", "hetu", "email", "phone", "birth_date", "shoe"],
            ["A1", "131052-308T", "a@example.fi", "040 123 4567", "1952-10-13", "41"],
            ["A2", secret_hetu, secret_mail, "12", "1952-13-45", "42"],
            ["A3", "131052-308T", "", "", "", ""],
            ["", "131052-308T", "", "", "", ""],
            ["A1", "010101-0101", "", "", "", ""],
            ["A6", "x"]]
    enrolled, summary = read(register_bytes(rows))
    assert [e.ref for e in enrolled] == ["A1", "A3"]
    text = "\n".join(str(p) for p in summary.problems)
    assert "row 3, column hetu: not a valid hetu: wrong check character or checksum" in text
    assert "row 3, column email:" in text and "row 3, column phone:" in text
    assert "row 3, column birth_date:" in text
    assert "row 5, column ref: missing" in text
    assert "row 6, column ref: duplicate: the same ref as row 2" in text
    assert "row 7, column *: 2 fields where the header has 6" in text
    for value in (secret_hetu, secret_mail, "1952-13-45", "A2"):
        assert value not in text
    assert summary.unknown_columns == ["shoe"]
    assert summary.rows == 6 and summary.enrolled == 2 and summary.rows_skipped == 4
    assert summary.refs_with_problems == {"A2"}


def test_encodings_cp1252_and_utf16_bom():
    rows = [["ref", "name", "hetu"], ["Ä1", "Äijälä Öhman", "131052-308T"]]
    for encoding in ("cp1252", "utf-16", "utf-8-sig"):
        enrolled, summary = read(register_bytes(rows, encoding=encoding))
        assert [e.ref for e in enrolled] == ["Ä1"], encoding
        assert enrolled[0].corroborating["name"] == read(register_bytes(rows))[0][0] \
            .corroborating["name"]


def test_whole_file_errors():
    with pytest.raises(RegisterError, match="no 'ref' column"):
        read(b"hetu,email\n131052-308T,a@b.fi\n")
    with pytest.raises(RegisterError, match="empty file"):
        read(b"")
    with pytest.raises(RegisterError, match="not a text file"):
        read(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10)
    with pytest.raises(RegisterError, match="customer id pattern"):
        read(b"ref,customer_id\nA,ASI-123456\n")
    enrolled, _ = read(b"ref,customer_id\nA,asi-123456\n", customer_id_pattern=r"ASI-\d{6}")
    assert "customer_id" in enrolled[0].digests


def test_same_input_same_output():
    rows = [["ref", "hetu", "notes"],
            ["A", "131052-308T", " ".join(["potilas kertoi unettomuudesta"] * 20)]]
    a, _ = read(register_bytes(rows))
    b, _ = read(register_bytes(rows))
    assert a[0].digests == b[0].digests and a[0].fingerprint_bytes == b[0].fingerprint_bytes

