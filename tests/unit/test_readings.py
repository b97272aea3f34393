"""One written value, several identifier types: `matchers.readings`."""

from __future__ import annotations

import random

from benchmarks.ambiguous_readings import GENERATORS
from vahti.matchers.detectors import get_detector
from vahti.matchers.readings import (
    _phone_start,
    line_readings,
    other_readings,
    readers,
    written_forms,
)

FI = readers("FI", r"\d{10}")


def test_a_line_reads_as_every_type_it_is_valid_as():
    # a Finnish mobile number without spaces is a valid CPR number (04.01.(20)23)
    assert line_readings("0401234567", FI) == {
        "phone": "+358401234567", "cpr": "0401234567", "customer_id": "0401234567"}
    # with spaces: still both (the CPR detector drops spaces, as a scan's does not)
    assert set(line_readings("040 123 4567", FI)) == {"phone", "cpr"}
    # DDMMYY-NNNN: a CPR number, a Swedish personnummer and a phone number at once
    assert set(line_readings("010203-1234", FI)) == {"cpr", "personnummer", "phone"}
    # a Finnish identity code with a digit as check character is a CPR number too
    assert set(line_readings("131052-3081", FI)) == {"cpr"}
    # phonenumbers reads letters as keypad digits: an identity code is no phone number
    assert line_readings("131052-308T", FI) == {"hetu": "131052-308T"}
    assert line_readings("not an id", FI) == {}


def test_other_readings_of_enrolled_values():
    assert other_readings("phone", "+358401234567", FI, "FI") == {
        "cpr": {"0401234567"}, "customer_id": {"0401234567"}}
    assert other_readings("hetu", "131052-3081", FI, "FI") == {"cpr": {"1310523081"}}
    assert other_readings("hetu", "131052-308T", FI, "FI") == {}
    assert other_readings("cpr", "0102031234", FI, "FI") == {
        "personnummer": {"200102031234"}, "phone": {"+358102031234"},
        "customer_id": {"0102031234"}}
    assert other_readings("email", "matti@example.fi", FI, "FI") == {}
    assert written_forms("phone", "+46701234567", "FI") == [
        "+46701234567", "46701234567", "0046701234567", "0701234567"]


def test_the_shortcuts_never_drop_a_reading():
    """`other_readings` leaves out forms that cannot be valid before asking stdnum:
    on random valid values of every type it finds what every detector finds."""
    rng = random.Random(5)
    for id_type, make in GENERATORS.items():
        own = get_detector(id_type, region="FI", customer_id_pattern=r"\d{10}")
        done = 0
        while done < 300:
            try:
                canonical = own.canonical(make(rng))
            except Exception:  # noqa: BLE001 - an invalid draw
                continue
            done += 1
            slow: dict[str, set[str]] = {}
            for form in written_forms(id_type, canonical, "FI"):
                others = [d for d in FI if d.id_type != id_type
                          and (d.id_type != "phone" or _phone_start(form, "FI"))]
                for t, value in line_readings(form, others).items():
                    slow.setdefault(t, set()).add(value)
            assert other_readings(id_type, canonical, FI, "FI") == slow, id_type
