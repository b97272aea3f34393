"""An identity code glued to the text around it, as a fixed-width export or a packed row
writes it: a full name field runs into the code field ("Lehtonen110378-566W"), the code
into the e-mail address after it ("110378-566Wlaura@..."). A code's own characters (a
run of exactly six digits, its sign, three digits and its check character) set it apart;
letters and punctuation around it do not hide it. Only digits do: inside a longer run of
digits, where a code begins is not known.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from tests.support.index import synthetic_index
from vahti.demo import synthetic
from vahti.matchers import native
from vahti.matchers.detectors import hetu
from vahti.matchers.engine import Scanner, ScanOptions
from vahti.matchers.keys import Key
from vahti.matchers.normalize import normalize

KEY = Key(bytes(range(32)))
PEOPLE = synthetic.make_people(30, seed=44)
INDEX = synthetic_index(KEY, PEOPLE)
CODE = "131052-308T"


def found(text: str) -> list[str]:
    return [c for _, _, c in hetu.find(normalize(text).text)]


@pytest.mark.parametrize("text", [
    "Lehtonen131052-308T", "X131052-308T", "131052-308TX", "131052-308tmatti",
    "INV-131052-308T", "2023-131052-308T", "131052-308T-7", "potilas_131052-308T.txt",
    "nimi:Matti131052-308Tmatti@example.fi", "131052-308T1990",  # a letter check, a year
    "Lehtonen131052 - 308T", "Lehtonen131052-\n308Tx",  # the loose form, glued
])
def test_a_code_glued_to_letters_or_punctuation_is_found(text: str) -> None:
    assert found(text) == [CODE], text


@pytest.mark.parametrize("text", [
    "123456789131052-308T9876543210", "9131052-308T", "12131052-308T",
    "010101-1020", "010101-10201",  # a digit check character followed by a digit (run-on)
])
def test_a_code_inside_a_longer_run_of_digits_is_not_found(text: str) -> None:
    if text == "010101-1020":  # the control: alone, it is a code
        assert found(text) == [text]
        return
    assert found(text) == [], text


def test_codes_glued_to_each_other_are_each_found() -> None:
    codes = [p.hetu for p in PEOPLE if not p.hetu[-1].isdigit()][:4]
    assert found("".join(codes)) == codes


def test_glued_codes_are_read_alike_with_and_without_the_c_scanner(
        monkeypatch: pytest.MonkeyPatch) -> None:
    if native.lib is None:
        pytest.fail("the C extension is not built (make setup)")
    rng = random.Random(44)
    glue = ["", "x", "Ä", "-", "_", "/", "+", "7", "ab", "\u20ac", " "]
    texts = []
    for _ in range(2000):
        h = synthetic.random_hetu(rng)
        h = h.lower() if rng.random() < 0.2 else h
        texts.append(rng.choice(glue) + h + rng.choice(glue) + rng.choice(glue))
    text = "".join(texts)
    with_c = hetu.find_with_run_on(None, text)
    monkeypatch.setattr(native, "lib", None)
    without = hetu.find_with_run_on(None, text)
    for a, b in zip(with_c, without, strict=True):
        assert np.array_equal(a, b)
    assert len(with_c[0]) > 1000 and 20 < with_c[3].sum() < 200  # some run on into a 7


def _fixed_width(people: list[synthetic.Person]) -> str:
    """A register exported in fixed-width fields, the name field full: no space left."""
    return "".join(f"{p.full_name[:14]:<14}{p.hetu}{p.email}\n" for p in people)


def scanned(text: str, id_type: str) -> list[tuple[str, str]]:
    """(ref, the text of the finding) of each finding of `id_type` in `text`."""
    return _spans(Scanner(INDEX, KEY, ScanOptions(types=frozenset({id_type}))), text)


def test_a_fixed_width_export_finds_every_person_at_the_code_itself() -> None:
    text = _fixed_width(PEOPLE)
    assert [p for p in PEOPLE if len(p.full_name) >= 14], "names that fill their field"
    assert sorted(scanned(text, "hetu")) == sorted((p.ref, p.hetu) for p in PEOPLE)


def test_the_address_after_a_glued_code_is_found_as_well() -> None:
    text = _fixed_width(PEOPLE)
    assert sorted(scanned(text, "email")) == sorted((p.ref, p.email) for p in PEOPLE)


def test_only_a_code_sets_an_address_apart() -> None:
    """A name or a number before an address may be part of it: "2laura@..." is
    someone else's address, not laura's."""
    p = PEOPLE[0]
    local, domain = p.email.split("@")
    for text in (f"x2{p.email}", f"Lehtonen{p.email}", f"131052-308{p.email}",
                 f"{p.hetu}@{domain}", f"{p.hetu}.{p.email}"):
        assert scanned(text, "email") == [], text
    text = f"{p.hetu}{local.upper()}@{domain}"  # the case of the text is kept
    assert scanned(text, "email") == [(p.ref, f"{local.upper()}@{domain}")]


def test_the_phone_number_after_a_glued_code_is_found_as_well() -> None:
    coded = [p for p in PEOPLE if not p.hetu[-1].isdigit()]  # a digit check runs on
    writings = [lambda p: p.phone, lambda p: p.phone.replace(" ", ""),
                lambda p: synthetic.e164_fi(p.phone), lambda p: synthetic.e164_fi(p.phone)[1:]]
    for write in writings:
        text = "".join(f"{p.full_name[:14]:<14}{p.hetu}{write(p)};x\n" for p in coded)
        assert sorted(scanned(text, "phone")) == sorted((p.ref, write(p)) for p in coded)


def test_only_a_code_sets_a_phone_number_apart() -> None:
    p = PEOPLE[0]
    number = p.phone.replace(" ", "")
    for text in (f"abc{number}", f"INV-{number}", f"131052-308{number}",
                 f"{p.hetu}{number}7", f"{p.hetu[:-1]}{number}"):
        assert scanned(text, "phone") == [], text


# -- the Nordic numbers: glued to letters where check digits set them apart --------------

def _nordic(mod, text: str) -> list[str]:  # noqa: ANN001
    return [c for _, _, c in mod.find(normalize(text).text)]


def test_nordic_numbers_with_check_digits_are_found_glued() -> None:
    from vahti.matchers.detectors import fodselsnummer, personnummer
    for text in ("Andersson880320-0016", "INV-880320-0016", "880320-0016x", "pnr:19880320-0016kr"):
        assert _nordic(personnummer, text) == ["198803200016"], text
    for text in ("Hansen15108695088", "15108695088kr", "fnr_151086 95088"):
        assert _nordic(fodselsnummer, text) == ["15108695088"], text


def test_nordic_numbers_without_enough_check_stay_tokens_of_their_own() -> None:
    """A personnummer written without its "-" is 10 or 12 digits with one Luhn digit,
    and a CPR number has no check digit at all: glued to letters, such a run is a
    product, order or invoice number ("INV-010199-1234") as often as anything."""
    from vahti.matchers.detectors import cpr, personnummer
    for text in ("Andersson8803200016", "SKU198803200016", "x8803200016"):
        assert _nordic(personnummer, text) == [], text
    for text in ("Jensen211062-5629", "INV-211062-5629", "211062-5629x", "x2110625629"):
        assert _nordic(cpr, text) == [], text
    # inside a longer run of digits, none of them
    assert _nordic(personnummer, "9880320-0016") == []
    assert _nordic(cpr, "9211062-5629") == []


# -- run-on codes: a digit check character followed by a digit ----------------------------

def _run_on_rows(people: list[synthetic.Person], named: bool) -> str:
    """A fixed-width register whose phone field follows the always-full code field."""
    return "".join((f"{p.full_name:<24}" if named else f"{i:<24}")
                   + f"{p.hetu}{p.phone.replace(' ', '')}  Kotikatu {i}\n"
                   for i, p in enumerate(people))


def test_a_run_on_code_is_found_where_its_person_is_named_beside_it() -> None:
    run_on = [p for p in PEOPLE if p.hetu[-1].isdigit()]
    assert len(run_on) >= 5
    text = _run_on_rows(PEOPLE, named=True)
    cols = Scanner(INDEX, KEY, ScanOptions(types=frozenset({"hetu"}))).scan_range_columns(
        text, 0, len(text), "vienti.txt", "text")
    found = {(r, text[s:e]) for r, s, e in zip(cols.refs, cols.starts.tolist(),
                                               cols.ends.tolist(), strict=True)}
    assert found == {(p.ref, p.hetu) for p in PEOPLE}
    assert min(cols.scores) > ScanOptions().base_score  # each one corroborated


def test_a_run_on_code_alone_is_not_reported() -> None:
    """Without a name or a birth date beside it, a run-on code may be a date-prefixed
    serial number ("261204-00112345"): not reported, nor retained for a retro-hunt."""
    text = _run_on_rows(PEOPLE, named=False)
    scanner = Scanner(INDEX, KEY, ScanOptions(types=frozenset({"hetu"}), retain=True))
    assert sorted(r for r, _ in _spans(scanner, text)) == sorted(
        p.ref for p in PEOPLE if not p.hetu[-1].isdigit())
    serials = "".join(f"tilaus {p.hetu}{i:04d}\n" for i, p in enumerate(PEOPLE)
                      if p.hetu[-1].isdigit())
    scanner.retained.take()
    assert _spans(scanner, serials) == []
    assert "hetu" not in scanner.retained.take()


def _spans(scanner: Scanner, text: str) -> list[tuple[str, str]]:
    cols = scanner.scan_range_columns(text, 0, len(text), "x", "text")
    return [(r, text[s:e]) for r, s, e in zip(cols.refs, cols.starts.tolist(),
                                                cols.ends.tolist(), strict=True)]


def test_a_run_on_code_is_found_beside_another_of_its_persons_identifiers() -> None:
    """A name cut short by its field does not corroborate; the person's e-mail address
    or phone number on the same row does (the number glued to the code is read too)."""
    scanner = Scanner(INDEX, KEY, ScanOptions())
    for row in (lambda i, p: f"{i:<6}{p.hetu}{i:05d}  {p.email}\n",
                lambda i, p: f"{i:<6}{p.hetu}{p.phone.replace(' ', '')}  Kotikatu 5\n"):
        text = "".join(row(i, p) for i, p in enumerate(PEOPLE))
        found = _spans(scanner, text)
        assert sorted(r for r, t in found if t == _hetu_of(r)) == sorted(p.ref for p in PEOPLE)
    assert sorted(t for r, t in found if t != _hetu_of(r)) == sorted(
        p.phone.replace(" ", "") for p in PEOPLE)
    # a numeric field that is no phone number, the addresses further than the window
    alone = "".join(f"{i:<6}{p.hetu}{i:05d}\n" for i, p in enumerate(PEOPLE))
    alone += "x" * 300 + "\n" + "".join(f"{p.email}\n" for p in PEOPLE)
    assert sorted(r for r, t in _spans(scanner, alone) if t == _hetu_of(r)) == sorted(
        p.ref for p in PEOPLE if not p.hetu[-1].isdigit())


def _hetu_of(ref: str) -> str:
    return next(p.hetu for p in PEOPLE if p.ref == ref)
