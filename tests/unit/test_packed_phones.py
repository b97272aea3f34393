"""A phone number glued to the letters before it: a packed row. InnoDB and SQL Server keep
a row's text columns side by side, so a database file's strings run the name into the
number and the number into the e-mail address ("Elina Åberg0401234567elina.aberg@...");
a fixed-width export whose name field is full does the same. Such a number is read, and
reported when its person is confirmed beside it (their name, birth date or another
identifier); the address glued to its end is read as well.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import astuple
from pathlib import Path

import numpy as np
import pytest

from tests.support.index import synthetic_index
from vahti.demo import synthetic
from vahti.matchers import native, scanfiles
from vahti.matchers.detectors import phone
from vahti.matchers.detectors._common import DigitRuns, code_points
from vahti.matchers.engine import Finding, Scanner, ScanOptions
from vahti.matchers.keys import Key

KEY = Key(bytes(range(32)))
PEOPLE = synthetic.make_people(30, seed=46)
INDEX = synthetic_index(KEY, PEOPLE)


def digits(p: synthetic.Person) -> str:
    return p.phone.replace(" ", "")


def spans(scanner: Scanner, text: str) -> list[tuple[str, str]]:
    cols = scanner.scan_range_columns(text, 0, len(text), "x", "text")
    return [(r, text[s:e]) for r, s, e in zip(cols.refs, cols.starts.tolist(),
                                                cols.ends.tolist(), strict=True)]


@pytest.mark.parametrize("number", [digits, lambda p: "358" + digits(p)[1:]])
def test_a_packed_rows_number_and_address_are_found(number) -> None:  # noqa: ANN001
    text = "".join(f"{p.full_name}{number(p)}{p.email}\n" for p in PEOPLE)
    found = spans(Scanner(INDEX, KEY, ScanOptions()), text)
    assert sorted(found) == sorted([(p.ref, number(p)) for p in PEOPLE]
                                   + [(p.ref, p.email) for p in PEOPLE])


def test_a_fixed_width_exports_full_number_field_is_read() -> None:
    """A name padded to its field, then a number that fills its own: the number is glued
    only to the address after it ("Mika Mattila  0403344091mika.mattila@...")."""
    text = "".join(f"{p.full_name[:18]:<18}{digits(p)}{p.email}\n" for p in PEOPLE)
    found = spans(Scanner(INDEX, KEY, ScanOptions()), text)
    assert sorted(found) == sorted([(p.ref, digits(p)) for p in PEOPLE]
                                   + [(p.ref, p.email) for p in PEOPLE])


@pytest.mark.parametrize("types", [{"phone"}, {"email"}])
def test_one_type_scans_read_a_packed_row_alike(types: set[str]) -> None:
    text = "".join(f"{p.full_name}{digits(p)}{p.email}\n" for p in PEOPLE)
    found = spans(Scanner(INDEX, KEY, ScanOptions(types=frozenset(types))), text)
    want = digits if types == {"phone"} else (lambda p: p.email)
    assert sorted(found) == sorted((p.ref, want(p)) for p in PEOPLE)


def test_a_number_glued_to_letters_alone_is_not_reported_nor_retained() -> None:
    """"SKU0401234567": without its person beside it, part of a product code."""
    scanner = Scanner(INDEX, KEY, ScanOptions(retain=True))
    text = "".join(f"tuote SKU{digits(p)} {i}\n" for i, p in enumerate(PEOPLE))
    assert spans(scanner, text) == []
    assert "phone" not in scanner.retained.take()


def test_a_number_after_a_code_is_found_once() -> None:
    text = "".join(f"{p.full_name} {p.hetu}{digits(p)}\n" for p in PEOPLE)
    phones = [t for _, t in spans(Scanner(INDEX, KEY, ScanOptions()), text) if t.isdigit()]
    assert sorted(phones) == sorted(digits(p) for p in PEOPLE)


@pytest.mark.parametrize("form", ["{name}040 {rest}", "{name}x2{d}", "{name}{d}5", "{name}{d}.5",
                                  "{name}{d}-1", "{name}1{d}", "{name} INV-{d}x", "{name} 12 {d}x",
                                  "{name} 1.{d}x", "{name} +{d}x"])
def test_what_is_not_a_packed_number(form: str) -> None:
    """A chain of digit groups, a longer run of digits, a decimal: not read after letters."""
    p = PEOPLE[0]
    text = form.format(name=p.full_name.replace(" ", ""), d=digits(p), rest=digits(p)[3:])
    assert [t for _, t in spans(Scanner(INDEX, KEY, ScanOptions(types=frozenset({"phone"}))),
                                text)] == [], form


def test_a_database_files_strings_are_read_as_packed_rows(tmp_path: Path) -> None:
    """A data file vahti has no reader for (an InnoDB tablespace's shape: a record header
    of binary bytes before each row, the row's text columns side by side)."""
    rng = random.Random(46)
    page = bytearray(secrets.token_bytes(64))
    for i, p in enumerate(PEOPLE):
        page += bytes([len(p.email), len(digits(p)), len(p.full_name), 0, 0, 0x10, 0, i, 0x80])
        page += f"{p.full_name}{digits(p)}{p.email}".encode()
        page += bytes(rng.randrange(9) for _ in range(rng.randint(1, 8)))  # next header
    path = tmp_path / "potilaat.ibd"
    path.write_bytes(bytes(page) + bytes(16384 - len(page) % 16384))
    events = list(scanfiles.scan_files([str(path)], INDEX, KEY, ScanOptions()))
    found = sorted((e.ref, e.id_type) for e in events if isinstance(e, Finding))
    assert found == sorted([(p.ref, "email") for p in PEOPLE] + [(p.ref, "phone") for p in PEOPLE])


@pytest.mark.parametrize("kind", ["glued_to_letters", "without_trunk"])
def test_the_c_and_the_numpy_readings_agree(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both kinds of `phone_fields` reading, in C (with and without AVX-512) and numpy,
    over runs of the shapes either reads between glue of every kind."""
    if native.lib is None:
        pytest.fail("the C extension is not built (make setup)")
    rng = random.Random(46)
    glue = ["", " ", ";", "\t", "\n", "x", "Åberg", "é", "Ä", "-", "+", "(", ")", ".", ",", "7",
            " 1", "-2", ".5", ".0", ".00", ".0x", "+358 ", "\u20ac", "_", "/", "×", "Z", "laura@"]
    parts = []
    for _ in range(4000):
        d = rng.choice(["0", "04", "050", "358", "35", "4", "40", "49", "5", "50", "09", "1",
                        "9"]) + "".join(rng.choice("0123456789") for _ in range(rng.randint(3, 12)))
        parts.append(rng.choice(glue) + d + rng.choice(glue))
    text = "".join(parts)
    read = getattr(phone, kind)
    runs = DigitRuns(code_points(text))
    with_c = read(runs)
    simd, scalar = (native.lib.phone_fields(  # with AVX-512 (where the CPU has it), without
        runs.cp, *phone._c_tables("FI", kind == "glued_to_letters"), b"358", phone._GLUED_BYTES,
        phone._SEP_BYTES, phone._AFTER_BAD_BYTES, kind == "glued_to_letters", wide)
        for wide in (True, False))
    monkeypatch.setattr(native, "lib", None)
    without = read(DigitRuns(code_points(text)))
    for a, b in zip(astuple(with_c), astuple(without), strict=True):
        assert np.array_equal(a, b)
    assert simd == scalar
    assert 100 < len(with_c.starts) < 3000
    heads = (b"+3584", b"+35850") if kind == "without_trunk" else (b"+358",)
    assert all(bytes(v).startswith(heads) for v in with_c.values)


def test_short_runs_glued_to_letters_are_not_read() -> None:
    """An identity code's date part before its letter sign ("020512D512X") and other runs
    shorter than a person's number: not read as packed numbers (a realistic corpus had one
    such reading per identity code of the 2000s)."""
    text = "".join(f"hetu: {p.hetu}\n" for p in PEOPLE) + "v0123456b x0401234y\n"
    assert len(phone.glued_to_letters(DigitRuns(code_points(text))).starts) == 0
