"""Reading a register: digests only, problems by row and column, never by value."""

from __future__ import annotations

import csv
import io
import time

import numpy as np
import pytest

from vahti.demo.synthetic import make_people
from vahti.matchers.digest import digest
from vahti.matchers.keys import Key
from vahti.matchers.register import RegisterError, RegisterSummary, read_register

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



# -- refs that are identifiers -------------------------------------------------------------

IDENTIFIER_REFS = [
    ("131052-308T", "an identity code (hetu)"),
    ("P-131052-308T", "an identity code (hetu)"),
    ("131052-308t", "an identity code (hetu)"),
    ("880320-0016", "a Swedish personal identity number (personnummer)"),
    ("SE198803200016", "a Swedish personal identity number (personnummer)"),
    ("15108695088", "a Norwegian national identity number (fodselsnummer)"),
    ("DK-211062-5629", "a Danish CPR number (cpr)"),
    ("anna.virtanen@example.fi", "an e-mail address (email)"),
    ("ref:anna@example.fi", "an e-mail address (email)"),
    ("+358 40 123 4567", "a phone number (phone)"),
    ("040 123 4567", "a phone number (phone)"),
    ("ASI-123456", "a customer number (customer_id)"),
]


@pytest.mark.parametrize(("ref", "what"), IDENTIFIER_REFS)
def test_a_ref_that_is_or_holds_an_identifier_is_refused(ref, what):
    rows = [["ref", "email"], [ref, "someone@example.org"], ["OK-1", "other@example.org"]]
    enrolled, summary = read(register_bytes(rows), customer_id_pattern=r"ASI-\d{6}")
    assert [e.ref for e in enrolled] == ["OK-1"]
    text = "\n".join(str(p) for p in summary.problems)
    assert text.startswith("row 2, column ref: ")
    assert f"{what}; a ref must be an opaque reference" in text
    assert ref not in text and ref.lower() not in text
    assert summary.rows_skipped == 1


@pytest.mark.parametrize("ref", [
    "P0000001", "CANARY-pastes-1", "1000234", "A-12", "131052-308X", "asiakas 42",
    "2024-0001", "x@y", "P-880320-0017",
])
def test_opaque_refs_are_kept(ref):
    rows = [["ref", "email"], [ref, "someone@example.org"]]
    enrolled, summary = read(register_bytes(rows))
    assert [e.ref for e in enrolled] == [ref] and not summary.problems


# -- short notes ------------------------------------------------------------------------------

def test_notes_too_short_to_ever_match_are_counted_not_shown():
    long_note = make_people(1, seed=3)[0].notes[0]
    rows = [["ref", "hetu", "notes"],
            ["A", "131052-308T", "lyhyt muistiinpano"],
            ["B", "010101A123N", long_note],
            ["C", "", "vain kolme sanaa tässä lisää kaksi"],
            ["D", "010594Y9032", ""]]
    enrolled, summary = read(register_bytes(rows))
    assert [e.ref for e in enrolled] == ["A", "B", "D"]
    assert summary.notes_too_short == 2
    assert summary.notes_min_words == 16
    assert summary.values["notes"] == 1
    # a short note is no fault of a row that has an identifier; C has nothing else
    assert [str(p) for p in summary.problems] == [
        "row 4, column notes: too short to ever match as fragments (need at least 16 words) "
        "and no identifier: nothing of this row could ever be found"]
    assert summary.rows_skipped == 1


# -- columns in the register's own language ---------------------------------------------------

def digests_of(enrolled) -> list[tuple]:
    return [(e.ref, e.digests, e.corroborating) for e in enrolled]


REFERENCE = register_bytes([
    ["ref", "hetu", "email", "phone", "name", "birth_date"],
    ["A1", "131052-308T", "anna@example.fi", "040 123 4567", "Anna Virtanen", "1952-10-13"],
])


@pytest.mark.parametrize("header", [
    ["REF", "Henkilötunnus", "Sähköposti", "Puhelinnumero", "Nimi", "Syntymäaika"],
    ["ref", "henkilotunnus", "sahkoposti", "puhelin", "nimi", "syntymaaika"],
    ["ref", "HETU", "E-mail", "matkapuhelin", "name", "birth date"],
    ["ref", "sotu", "e_mail", "Phone", "NIMI", "Birth-Date"],
])
def test_finnish_and_english_headers_read_as_the_canonical_columns(header):
    data = register_bytes([header, ["A1", "131052-308T", "anna@example.fi", "040 123 4567",
                                    "Anna Virtanen", "13.10.1952"]])
    enrolled, summary = read(data)
    assert digests_of(enrolled) == digests_of(read(REFERENCE)[0])
    assert not summary.problems and not summary.unknown_columns


def test_first_and_last_name_columns_are_combined():
    data = register_bytes([["ref", "hetu", "Etunimi", "Sukunimi"],
                           ["A1", "131052-308T", "Anna", "Virtanen"]])
    enrolled, summary = read(data)
    assert enrolled[0].corroborating["name"] == read(REFERENCE)[0][0].corroborating["name"]
    assert not summary.unknown_columns


@pytest.mark.parametrize(("header", "value", "id_type"), [
    (["ref", "Personnummer", "E-post", "Telefon", "Namn", "Kundnummer", "Anteckningar"],
     "880320-0016", "personnummer"),
    (["ref", "Fødselsnummer", "epost", "telefonnummer", "Navn", "asiakasnumero", "Notater"],
     "15108695088", "fodselsnummer"),
    (["ref", "CPR-nummer", "email", "Telefon", "Navn", "kundnummer", "Noter"],
     "211062-5629", "cpr"),
    (["ref", "cprnr", "sähköposti", "puhelin", "navn", "Asiakasnumero", "Huomiot"],
     "211062-5629", "cpr"),
])
def test_nordic_headers(header, value, id_type):
    note = " ".join(["anteckning om klienten och hennes familj"] * 5)
    data = register_bytes([header, ["A1", value, "a@example.se", "+46 8 123 456 78",
                                    "Anna Svensson", "AB123456", note]])
    enrolled, summary = read(data, customer_id_pattern="[A-Z]{2}[0-9]{6}")
    assert not summary.problems and not summary.unknown_columns
    assert set(enrolled[0].digests) == {id_type, "email", "phone", "customer_id"}
    assert "name" in enrolled[0].corroborating and len(enrolled[0].fingerprints)


def test_several_columns_of_one_type_are_all_enrolled():
    data = register_bytes([["ref", "puhelin", "matkapuhelin", "merkinnät", "muistiinpanot"],
                           ["A1", "09 123 4567", "040 123 4567", "", "x"]])
    enrolled, _ = read(data)
    assert len(enrolled[0].digests["phone"]) == 2


def test_map_option_and_ignored_columns_by_name():
    data = register_bytes([["ref", "Tunnus", "Kengännumero", "Osoite", "hetu"],
                           ["A1", "131052-308T", "41", "Katu 1", "010101A123N"]])
    enrolled, summary = read(data, column_map={"tunnus": "hetu", "HETU": "ignore"})
    assert enrolled[0].digests["hetu"] == [digest(KEY, "hetu", "131052-308T")]
    assert summary.unknown_columns == ["Kengännumero", "Osoite"]
    assert summary.ignored_columns == ["hetu"]
    with pytest.raises(RegisterError, match=r"--map: no column 'puuttuu' in the header"):
        read(data, column_map={"puuttuu": "hetu"})
    with pytest.raises(RegisterError, match=r"--map Tunnus=shoe: unknown type 'shoe' \(one of "):
        read(data, column_map={"Tunnus": "shoe"})


def test_no_identifier_column_is_an_error_naming_the_columns():
    data = register_bytes([["ref", "Nimi", "Kengännumero"], ["A1", "Anna Virtanen", "41"]])
    with pytest.raises(RegisterError) as err:
        read(data)
    message = str(err.value)
    assert "no identifier or notes column" in message
    assert "columns found: ref, Nimi, Kengännumero" in message and "--map COLUMN=TYPE" in message
    assert "Anna" not in message


def test_a_first_row_of_data_is_not_printed_as_column_names():
    data = register_bytes([["P1", "131052-308T", "anna@example.fi"]])
    with pytest.raises(RegisterError) as err:
        read(data)
    message = str(err.value)
    assert "row 1 looks like data, not a header" in message
    assert "131052" not in message and "anna" not in message


def test_two_ref_columns_are_ambiguous():
    data = register_bytes([["ref", "viite", "hetu"], ["A1", "B1", "131052-308T"]])
    with pytest.raises(RegisterError, match="more than one ref column: ref, viite"):
        read(data)


# -- customer numbers -----------------------------------------------------------------------

@pytest.mark.parametrize(("values", "suggested"), [
    (["AB123456", "cd654321", "XY000001"], "[A-Z]{2}[0-9]{6}"),
    (["ASI-12345", "ASI-123456", "ASI-1234"], "[A-Z]{3}-[0-9]{4,6}"),
    (["10023456", "10023457"], "[0-9]{8}"),
])
def test_customer_number_column_without_pattern_suggests_one(values, suggested):
    rows = [["ref", "hetu", "asiakasnumero"]]
    rows += [[f"R{i}", "", v] for i, v in enumerate(values)]
    with pytest.raises(RegisterError) as err:
        read(register_bytes(rows))
    message = str(err.value)
    assert "no customer id pattern is configured" in message
    assert f'customer_id_pattern = "{suggested}"' in message
    for value in values:
        assert value not in message and value.lower() not in message
    # the suggestion works: every row enrolls with it
    enrolled, summary = read(register_bytes(rows), customer_id_pattern=suggested)
    assert len(enrolled) == len(values) and not summary.problems


def test_customer_numbers_of_mixed_shapes_get_no_suggestion():
    rows = [["ref", "customer_id"], ["A", "AB-1"], ["B", "12.x.99"], ["C", "ÅÄ12"]]
    with pytest.raises(RegisterError) as err:
        read(register_bytes(rows))
    assert "different shapes" in str(err.value)
    assert "customer_id_pattern =" not in str(err.value)


# -- absurd input --------------------------------------------------------------------------

def timed_read(data: bytes, **kw):
    start = time.perf_counter()
    try:
        return read(data, **kw), None, time.perf_counter() - start
    except RegisterError as exc:
        return None, str(exc), time.perf_counter() - start


def test_a_register_of_100000_columns_is_refused_quickly():
    header = ",".join(["ref", "hetu"] + [f"c{i}" for i in range(100_000)])
    _, error, took = timed_read(header.encode() + b"\nA,131052-308T\n")
    assert error and "row 1: 100002 columns; a register may have at most 1000" in error
    assert took < 1.0


def test_wide_data_rows_huge_lines_and_huge_fields_are_row_problems():
    rows = (b"ref,hetu\n"
            + b"A," + b",".join([b"x"] * 200_000) + b"\n"
            + b"B,131052-308T" + b"y" * 30_000_000 + b"\n"
            + b"C,\"" + b"z" * 200_000 + b"\"\n"
            + b"D,010101A123N\n")
    result, error, took = timed_read(rows)
    assert error is None and took < 1.0
    enrolled, summary = result
    assert [e.ref for e in enrolled] == ["D"]
    text = [str(p) for p in summary.problems]
    assert text == [
        "row 2, column *: 200001 fields where the header has 2",
        "row 3, column *: a line longer than 1048576 characters",
        "row 4, column *: a field longer than 131072 characters",
    ]


def test_a_huge_header_line_and_quote_heavy_text_are_refused_quickly():
    _, error, took = timed_read(b"ref,hetu" + b"x" * 10_000_000 + b"\nA,1\n")
    assert error and "row 1 (the header): a line longer than" in error and took < 1.0
    _, error, took = timed_read(b'"a"b,' * 200_000)
    assert error and took < 1.0


def test_nul_bytes_are_a_row_problem_or_a_binary_file():
    rows = b"".join(b"R%d,010101A123N\n" % i for i in range(2000))
    enrolled, summary = read(b"ref,hetu\nA\x00,131052-308T\n" + rows)
    assert "A\x00" not in [e.ref for e in enrolled] and len(enrolled) == 2000
    assert [str(p) for p in summary.problems] == ["row 2, column *: holds a NUL byte"]
    with pytest.raises(RegisterError, match="not a text file"):
        read(b"ref,hetu\nA,131052-308T\x00\x00\x00\n")


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-16", "cp1252", "utf-8-sig"])
def test_encodings_with_and_without_bom(encoding):
    rows = [["ref", "Sähköposti", "henkilötunnus"], ["Ä1", "aija@example.fi", "131052-308T"]]
    enrolled, summary = read(register_bytes(rows, encoding=encoding))
    assert [e.ref for e in enrolled] == ["Ä1"] and not summary.problems
    assert enrolled[0].digests == read(register_bytes(rows))[0][0].digests


def test_header_names_are_named_without_control_characters():
    data = register_bytes([["ref", "hetu", "x\x1b[2Jy"], ["A1", "131052-308T", "1"]])
    _, summary = read(data)
    assert summary.unknown_columns == ["x\\x1b[2Jy"]
