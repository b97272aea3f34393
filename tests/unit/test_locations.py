"""matchers.locations: identifiers in URLs and scan locations become keyed tokens."""

from __future__ import annotations

import hashlib
import hmac
import re
import time

import pytest

from vahti.matchers import locations
from vahti.matchers.keys import Key, derive_subkey
from vahti.matchers.locations import LocationRedactor, is_redacted, worth_a_look

KEY = Key(bytes(range(32)))
OTHER_KEY = Key(bytes(range(1, 33)))

HETU = "131052-308T"
EMAIL = "matti.meikalainen@example.fi"
PNR_SHORT, PNR_LONG, PNR = "880320-0016", "19880320-0016", "198803200016"
FNR = "15108695088"
CPR_DASHED, CPR = "211062-5629", "2110625629"


@pytest.fixture
def r() -> LocationRedactor:
    return LocationRedactor(KEY)


def expected_token(key: Key, id_type: str, canonical: str) -> str:
    mac = hmac.new(derive_subkey(key, "location"), f"{id_type}\x00{canonical}".encode(),
                   hashlib.sha256).hexdigest()
    return f"[{id_type}:{mac[:16]}]"


def test_token_is_a_keyed_mac_of_type_and_canonical_value(r):
    token = r.token("hetu", HETU)
    assert token == expected_token(KEY, "hetu", HETU)
    assert re.fullmatch(r"\[hetu:[0-9a-f]{16}\]", token)
    assert locations.TOKEN_RE.fullmatch(token) and is_redacted(f"https://x/{token}")
    assert not is_redacted("https://x/[hetu:nothex]") and not is_redacted("https://x/a")
    assert "Key" not in repr(r) and KEY.secret.hex() not in repr(r)


@pytest.mark.parametrize("clean", [
    "https://paste.example/raw/Xk3jd8Kd",
    "https://forum.example.onion/thread/42?page=3&sort=new",
    "https://x.example/a%20b/c+d?q=a+b&r=%2F%3F",
    "http://127.0.0.1:8080/files/db/asiakkaat.zip!export/asiakkaat.csv",
    "file:///tmp/dump/more/rows.csv",
    "https://x.example/p/1234567890",  # ten digits, but no valid date: no CPR
    "https://x.example/raw/121212",
    "https://x.example/väkevä/Ｘ/%E2%80%90",
    "",
])
def test_a_location_without_identifiers_is_returned_unchanged(r, clean):
    out = r.redact(clean)
    assert out == clean and out is clean


def test_each_type_is_redacted_where_it_stands(r):
    t = r.token
    cases = {
        f"https://x/search?q={HETU}": f"https://x/search?q={t('hetu', HETU)}",
        f"https://x/dump/potilas_{HETU}.txt": f"https://x/dump/potilas_{t('hetu', HETU)}.txt",
        f"https://x/se/{PNR_SHORT}": f"https://x/se/{t('personnummer', PNR)}",
        f"https://x/no/{FNR}.csv": f"https://x/no/{t('fodselsnummer', FNR)}.csv",
        f"https://x/dk/{CPR_DASHED}.txt": f"https://x/dk/{t('cpr', CPR)}.txt",
        f"https://x/u/{EMAIL}/profile": f"https://x/u/{t('email', EMAIL)}/profile",
    }
    for location, stored in cases.items():
        assert r.redact(location) == stored, location


def test_percent_encoded_and_plus_forms(r):
    hetu, mail = r.token("hetu", HETU), r.token("email", EMAIL)
    assert r.redact("https://x/?u=matti.meikalainen%40example.fi&x=1") == f"https://x/?u={mail}&x=1"
    assert r.redact("https://x/?u=matti.meikalainen%2540example.fi") == f"https://x/?u={mail}"
    assert r.redact("https://x/?q=131052%2D308T") == f"https://x/?q={hetu}"
    assert r.redact("https://x/%31%33%31%30%35%32-308T") == f"https://x/{hetu}"
    # '+' is a space in a query: a spaced HETU, an e-mail spelled out
    assert r.redact("https://x/s?q=131052+-+308T&p=2") == f"https://x/s?q={hetu}&p=2"
    assert r.redact("https://x/?u=matti.meikalainen+%5Bat%5D+example.fi") == f"https://x/?u={mail}"
    # everything but the identifier stays as written
    assert r.redact(f"https://x/a%20b/{HETU}?c=d+e") == f"https://x/a%20b/{hetu}?c=d+e"


def test_spellings_of_one_identifier_give_one_token(r):
    hetu = r.token("hetu", HETU)
    spellings = [HETU, "131052-308t", "131052%E2%80%90308T", "131052%E2%88%92308t",
                 "%EF%BC%91%EF%BC%93%EF%BC%91%EF%BC%90%EF%BC%95%EF%BC%92-308T"]
    assert {r.redact(f"https://x/{s}.txt") for s in spellings} == {f"https://x/{hetu}.txt"}
    pnr = r.token("personnummer", PNR)
    assert {r.redact(f"https://x/{s}") for s in (PNR_SHORT, PNR_LONG, PNR)} == {
        f"https://x/{pnr}"}
    cpr = r.token("cpr", CPR)
    assert {r.redact(f"https://x/{s}") for s in (CPR_DASHED, CPR)} == {f"https://x/{cpr}"}
    mail = r.token("email", EMAIL)
    assert {r.redact(f"https://x/?u={s}") for s in (
        EMAIL, EMAIL.upper(), "matti.meikalainen[at]example.fi", "matti.meikalainen%40Example.FI",
    )} == {f"https://x/?u={mail}"}


def test_identifiers_glued_to_words_and_numbers_are_found(r):
    hetu = r.token("hetu", HETU)
    assert r.redact(f"https://x/hetu{HETU}.txt") == f"https://x/hetu{hetu}.txt"
    assert r.redact(f"https://x/2024-{HETU}.txt") == f"https://x/2024-{hetu}.txt"
    assert r.redact(f"https://x/{HETU}-2.txt") == f"https://x/{hetu}-2.txt"
    assert r.redact(f"https://x/INV-{HETU}") == f"https://x/INV-{hetu}"


def test_different_identifiers_and_keys_give_different_tokens(r):
    second = "010594Y9032"  # another valid HETU (the 2023 century sign)
    a = r.redact(f"https://x/search?q={HETU}")
    b = r.redact(f"https://x/search?q={second}")
    assert a == f"https://x/search?q={r.token('hetu', HETU)}"
    assert b == f"https://x/search?q={r.token('hetu', second)}"
    assert a != b  # two URLs differing only in the identifier stay two URLs
    other = LocationRedactor(OTHER_KEY)
    assert other.redact(f"https://x/search?q={HETU}") == (
        f"https://x/search?q={expected_token(OTHER_KEY, 'hetu', HETU)}") != a
    # the type is part of the message: the same digits as two types, two tokens
    assert r.token("cpr", CPR) != r.token("personnummer", CPR)


def test_deterministic_and_idempotent(r):
    location = f"https://x/dump/potilas_{HETU}.txt?u={EMAIL}"
    first = r.redact(location)
    assert first == LocationRedactor(KEY).redact(location)  # a new process, the same key
    assert HETU not in first and EMAIL not in first
    assert r.redact(first) == first  # a stored location redacted again stays as it is


def test_archive_members_are_redacted_part_by_part(r):
    hetu, pnr = r.token("hetu", HETU), r.token("personnummer", PNR)
    page = "https://x/leak/dump.zip"
    member = f"{page}!potilaat/{HETU}.txt"
    assert r.redact(member) == f"{page}!potilaat/{hetu}.txt"
    nested = f"file:///d/{HETU}.zip!inner.zip!{PNR_SHORT}.csv"
    assert r.redact(nested) == f"file:///d/{hetu}.zip!inner.zip!{pnr}.csv"
    # a member's stored location extends its page's stored URL (sightings.of_page's prefix)
    encoded = "https://x/a%20b/dump.zip"
    stored = r.redact(f"{encoded}!{HETU}.txt")
    assert stored == r.redact(encoded) + f"!{hetu}.txt" and stored.startswith(encoded + "!")
    in_dir = f"https://x/{HETU}/d.zip"
    assert r.redact(f"{in_dir}!a.txt") == r.redact(in_dir) + "!a.txt"


def test_phones_are_left_alone_without_the_watchlist(r):
    # numeric paste and post ids look like phone numbers: without the watchlist (the
    # baseline redactor) no number is taken for a phone; with it, only enrolled ones
    for location in ("https://x/?tel=%2B358401234567", "https://x/?tel=040+123+4567",
                     "https://x/call/+358-40-123-4567", "https://x/p/35840123456"):
        assert r.redact(location) is location
    # a ten-digit run that is a valid DDMMYY date is a CPR number, whatever it was meant as
    assert r.redact("https://x/p/0401234567") == f"https://x/p/{r.token('cpr', '0401234567')}"


def test_a_long_clean_location_never_reaches_the_detectors(r, monkeypatch):
    def boom(*_args):
        raise AssertionError("a detector ran on a clean location")

    monkeypatch.setattr(r, "_finders", [(t, boom) for t, _ in r._finders])
    long_url = "https://example.org/" + "abc/def-ghi_12345/" * 500 + "?x=1&y=%20&z=a+b"
    assert not worth_a_look(long_url)
    started = time.perf_counter()
    for _ in range(100):
        assert r._redact(long_url) is long_url  # uncached: the probe itself
    per_call = (time.perf_counter() - started) / 100
    assert per_call < 0.002, per_call  # ~9 kB; measured ~0.1 ms
    with pytest.raises(AssertionError, match="detector ran"):
        r._redact(f"https://example.org/{HETU}")


def test_probe_sees_through_encodings():
    assert worth_a_look("https://x/?u=a%40b.fi")
    assert worth_a_look("https://x/?u=a%2540b.fi")
    assert worth_a_look("https://x/%31%33%31%30%35%32-308T")
    assert worth_a_look("https://x/１３１０５２-308T")
    assert worth_a_look("https://x/?u=matti+[at]+example.fi")
    assert not worth_a_look("https://x/raw/12345/abc")


# -- enrolled phones and names (matchers.locations_enrolled) ---------------------------

from vahti.matchers.detectors import name as name_detector  # noqa: E402
from vahti.matchers.digest import digest  # noqa: E402
from vahti.matchers.index import IndexBuilder  # noqa: E402

PHONE = "+358401234567"
NAME = "Matti Meikäläinen"
NAME2 = "Anna Maria Meikäläinen-Virtanen"


def enrolled_index(names=(NAME, NAME2), phones=(PHONE,), forms=name_detector.enrollment_forms):
    b = IndexBuilder(KEY)
    b.add("A", {"hetu": [digest(KEY, "hetu", HETU)],
                "phone": [digest(KEY, "phone", p) for p in phones]},
          {"name": [digest(KEY, "name", f) for n in names for f in forms(n)]})
    b.add("B", {"hetu": [digest(KEY, "hetu", "010594Y9032")]})  # no phone, no name
    return b.build()


@pytest.fixture
def e() -> LocationRedactor:
    return LocationRedactor(KEY, enrolled_index())


def test_an_enrolled_phone_in_every_spelling_gives_one_token(e):
    tel = e.token("phone", PHONE)
    assert tel == expected_token(KEY, "phone", PHONE) and is_redacted(f"https://x/{tel}")
    cases = {
        "https://x/p/0401234567": f"https://x/p/{tel}",  # also a CPR number: the phone wins
        "https://x/?tel=%2B358401234567&a=1": f"https://x/?tel={tel}&a=1",
        "https://x/?tel=040+123+4567": f"https://x/?tel={tel}",
        # a query's "+" is a space: the number is read without it, the "+" stays
        "https://x/?tel=+358401234567": f"https://x/?tel=+{tel}",
        "https://x/call/+358-40-123-4567": f"https://x/call/{tel}",
        "https://x/+358%2040%201234567.txt": f"https://x/{tel}.txt",
        "https://x/00358401234567": f"https://x/{tel}",
        "https://wa.me/358401234567": f"https://wa.me/{tel}",
        "file:///d/040_123_4567.txt": f"file:///d/{tel}.txt",
        "file:///d/040.123.4567.txt": f"file:///d/{tel}.txt",
        "file:///d/puhelin0401234567.txt": f"file:///d/puhelin{tel}.txt",
        "file:///d/2024_0401234567.txt": f"file:///d/2024_{tel}.txt",
        "file:///d/c.zip!kontaktit/+358 (0)40 123 4567.vcf": f"file:///d/c.zip!kontaktit/{tel}.vcf",
        "file:///d/%EF%BC%90401234567.txt": f"file:///d/{tel}.txt",  # a full-width digit
    }
    for location, stored in cases.items():
        assert e.redact(location) == stored, location
        assert e.redact(stored) == stored  # idempotent


def test_numbers_that_are_no_enrolled_phone_stay_fetchable(e):
    for location in (
        "https://paste.example/view/9876543210",  # a numeric paste id
        "https://x/p/35840999999", "https://x/?tel=%2B358409999999", "https://x/p/040-999 9999",
        "https://x/p/04012345678",  # the enrolled number with one digit more
        "https://x/p/12345678904012345670",  # the enrolled digits inside a longer number
        "https://x/p/4012345670/2024/05/17", "https://x/a/0401234/567",  # "/" ends a number
        "https://x/p/1234567", "https://x/",
    ):
        assert e.redact(location) is location, location


def test_enrolled_full_names_in_file_names_and_urls(e):
    tok = e.token("name", "matti meikalainen")
    for location in (
        "file:///d/Matti_Meikäläinen.txt", "file:///d/meikalainen-matti.pdf",
        "file:///d/Matti.Meikalainen.docx", "file:///d/MEIKÄLÄINEN MATTI.txt",
        "file:///d/Meikäläinen, Matti.txt", "file:///d/matti+meikalainen.txt",
        "https://x/Matti%20Meik%C3%A4l%C3%A4inen.txt", "https://x/Matti_Meika%CC%88la%CC%88inen.txt",
    ):
        stored = e.redact(location)
        assert stored.count(tok) == 1 and is_redacted(stored), location
        assert not re.search("(?i)matti|meik", stored), (location, stored)
        assert e.redact(stored) == stored
    assert e.redact("file:///d/MATTI MEIKÄLÄINEN/notes.txt") == f"file:///d/{tok}/notes.txt"
    assert e.redact("https://x/s?q=Matti+Meikalainen&p=2") == f"https://x/s?q={tok}&p=2"
    assert e.redact("https://x/d.zip!potilaat/Matti_Meikalainen/0401234567.txt") == (
        f"https://x/d.zip!potilaat/{tok}/{e.token('phone', PHONE)}.txt")
    # middle names, hyphenated surnames: the whole name, or first and last
    full = e.token("name", "anna maria meikalainen virtanen")
    assert e.redact("file:///d/Anna_Maria_Meikäläinen-Virtanen.txt") == f"file:///d/{full}.txt"
    short = e.token("name", "anna meikalainen virtanen")
    assert e.redact("file:///d/meikalainen-virtanen_anna.txt") == f"file:///d/{short}.txt"


def test_words_that_are_no_enrolled_name_are_left_alone(e):
    for location in (
        "file:///d/MattiMeikalainen.txt",  # glued: no word boundary
        "file:///d/xmatti_meikalainen.txt", "file:///d/matti_meikalaineny.txt",
        "file:///d/matti_virtanen.txt", "file:///d/matti.txt", "file:///d/meikalainen/matti.txt",
        "https://paste.example.onion/view/Xy7abQ1z", "https://x/matti/2024/meikalainen",
    ):
        assert e.redact(location) is location, location


def test_the_stored_string_is_a_function_of_the_location_and_the_watchlist(e):
    location = "file:///d/dump.zip!Matti_Meikäläinen/+358 40 123 4567.txt"
    first = e.redact(location)
    # a new process, the same watchlist: the same string (reruns and lookups match)
    again = LocationRedactor(KEY, enrolled_index(names=(NAME2, NAME)))
    assert again.redact(location) == first
    # one token per person and type, whatever the spelling, and never the plaintext
    assert first == (f"file:///d/dump.zip!{e.token('name', 'matti meikalainen')}/"
                     f"{e.token('phone', PHONE)}.txt")
    # without the index (the baseline) phones and names stay as written
    assert LocationRedactor(KEY).redact(location) is location
    # another key: other tokens
    other = LocationRedactor(OTHER_KEY, enrolled_index())
    assert other.redact(location) == location  # the index was keyed with KEY: no match


def test_a_watchlist_enrolled_before_folded_forms_still_matches_the_exact_spelling():
    def unfolded(n):
        return [f for f in name_detector.enrollment_forms(n) if f.isascii() is False]
    old = LocationRedactor(KEY, enrolled_index(names=(NAME,), forms=unfolded))
    tok = old.token("name", "matti meikalainen")
    assert old.redact("file:///d/Matti_Meikäläinen.txt") == f"file:///d/{tok}.txt"
    assert old.redact("file:///d/Matti_Meikalainen.txt") == "file:///d/Matti_Meikalainen.txt"


def test_clean_urls_with_a_watchlist_cost_little(e):
    urls = [f"https://paste.example.onion/view/Xy{i}abQ{i}z" for i in range(2000)]
    for url in urls[:10]:
        assert e._redact(url) is url
    started = time.perf_counter()
    for url in urls:
        assert e._redact(url) is url  # uncached: the probe itself
    per_call = (time.perf_counter() - started) / len(urls)
    assert per_call < 100e-6, per_call  # measured ~5 µs (benchmarks/location_redaction.py)
