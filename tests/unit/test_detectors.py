import datetime as dt
import random

import pytest

from vahti.demo import synthetic
from vahti.matchers.detectors import (
    birth_date,
    cpr,
    customer_id,
    email,
    fodselsnummer,
    get_detector,
    hetu,
    name,
    personnummer,
    phone,
)
from vahti.matchers.normalize import normalize


def found(mod, text, *args):
    return [c for _, _, c in mod.find(normalize(text).text, *args)]


# -- HETU ------------------------------------------------------------------------------

def test_hetu_every_century_sign():
    rng = random.Random(5)
    for year, signs in ((1885, "+"), (1960, "-YXWVU"), (2010, "ABCDEF")):
        for sign in signs:
            code = synthetic.make_hetu(dt.date(year, 3, 14), rng.randint(2, 899), sign)
            assert hetu.is_valid(code)
            assert hetu.validate(code.lower()) == code
            assert found(hetu, f"hetu: {code}.") == [code]


def test_hetu_invalid_check_char_and_date():
    assert not hetu.is_valid("131052-308U")
    assert not hetu.is_valid("310252-308Y")  # 31 February
    assert found(hetu, "131052-308U") == []
    assert found(hetu, "300252-3080") == []


def test_hetu_obfuscations():
    code = "131052-308T"
    for text in ("131052&#45;308T", "131052&minus;308t", "131052\u2013308T", "131052 - 308T",
                 "131052-\n308T", "131052\n-308T", "１３１０５２－３０８Ｔ", "1310\u200b52-308T",
                 "131052\\u002d308T"):
        assert found(hetu, text) == [code], text


def test_hetu_inside_a_longer_number_is_not_found():
    # glued to letters or punctuation it is found: test_glued_codes.py
    for text in ("123456789131052-308T9876543210", "9131052-308T"):
        assert found(hetu, text) == [], text


def test_hetu_dates_and_invoice_numbers_are_not_identities():
    assert found(hetu, "2023-01-05 05.01.2023 lasku 1310523081 viite 13105230812") == []


def test_hetu_temporary_accepted():
    code = synthetic.make_hetu(dt.date(1980, 1, 1), 950)
    assert hetu.is_valid(code)


# -- Nordic numbers --------------------------------------------------------------------

def test_personnummer():
    assert personnummer.validate("880320-0016") == "198803200016"
    assert personnummer.validate("19880320-0016") == "198803200016"
    assert not personnummer.is_valid("880320-0017")
    assert found(personnummer, "pnr 880320-0016, 8803200016") == ["198803200016"] * 2
    # without its "-", glued or in a longer number: none (test_glued_codes.py)
    assert found(personnummer, "INV8803200016 98803200016") == []


def test_fodselsnummer():
    assert fodselsnummer.validate("151086 95088") == "15108695088"
    assert not fodselsnummer.is_valid("15108695089")
    assert found(fodselsnummer, "fnr 15108695088 og 151086 95088") == ["15108695088"] * 2
    assert found(fodselsnummer, "915108695088") == []


def test_cpr():
    assert cpr.validate("211062-5629") == "2110625629"
    assert not cpr.is_valid("321062-5629")
    assert found(cpr, "cpr 211062-5629 / 2110625629 / 2023-01-05 / 21106256291") == [
        "2110625629", "2110625629"]


# -- e-mail ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text",
    [
        "Matti.Meikalainen@Example.FI",
        " matti.meikalainen@example.fi ",
        "matti.meikalainen [at] example [dot] fi",
        "matti.meikalainen(at)example(dot)fi",
        "matti.meikalainen at example dot fi",
        "matti.meikalainen AT example.fi",
        "matti.meikalainen&#64;example.fi",
        "<matti.meikalainen@example.fi>",
        # defanged, as security teams and forums write addresses that must not link
        "matti.meikalainen[@]example[.]fi",
        "matti.meikalainen(@)example(.)fi",
        "matti.meikalainen@example[.]fi",
        "matti.meikalainen [@] example [.] fi",
        "matti.meikalainen[at]example[.]fi",
        # the spelled-out anchors in any case, and with spaces inside the brackets
        "matti.meikalainen [At] example [Dot] fi",
        "matti.meikalainen At example Dot fi",
        "matti.meikalainen [ at ] example [ dot ] fi",
        "matti.meikalainen ( AT ) example ( DOT ) fi",
        # braces, and Finnish: "ät" is how "@" is said, "piste" is "dot"
        "matti.meikalainen{at}example{dot}fi",
        "matti.meikalainen{@}example{.}fi",
        "matti.meikalainen(ät)example(piste)fi",
        "matti.meikalainen [ÄT] example [PISTE] fi",
        "matti.meikalainen ät example piste fi",
        # percent-encoded, as in a URL's query string or an access log of them
        "matti.meikalainen%40example.fi",
        "https://x.example/reset?email=matti.meikalainen%40example.fi&t=1",
        "/tilaa?e=Matti.Meikalainen%40Example.FI",
        # digits glued after the top-level domain (a database page's next row, a
        # row number): they end the address, as no top-level domain holds a digit
        "matti.meikalainen@example.fi0", "matti.meikalainen@example.fi2023",
    ],
)
def test_email_forms(text):
    assert found(email, f"yhteys: {text}, kiitos") == ["matti.meikalainen@example.fi"]


def test_email_canonical_and_invalid():
    assert email.canonical("  Matti@Example.FI ") == "matti@example.fi"
    assert email.canonical("matti [at] example [dot] fi") == "matti@example.fi"
    assert not email.is_valid("matti@localhost")
    assert not email.is_valid("not an address")
    assert found(email, "a@b, @example.com, x@y.z9") == []
    # digits after a top-level domain that go on into a word or an address
    assert found(email, "x@host.fi0abc, y%40sanna.heikkila955@example.fi") == [
        "y%40sanna.heikkila955@example.fi"]


# -- phone -----------------------------------------------------------------------------

def test_phone_forms():
    for form in synthetic.fi_phone_forms("040 123 4567"):
        assert phone.canonical(form) == "+358401234567", form
        assert found(phone, f"puh. {form}.") == ["+358401234567"], form


def test_phone_region_and_invalid():
    assert phone.canonical("(09) 123 4567") == "+35891234567"
    assert phone.canonical("020 7946 0018", "GB") == "+442079460018"
    assert not phone.is_valid("123")
    assert found(phone, "2023-01-05 05.01.2023 0401234567890123 INV-0401234567") == []


def test_a_number_with_its_country_code_but_no_plus():
    """As a spreadsheet, an SMS gateway's log or a chat export keeps it: "358401234567"
    was no number (not national, no "+"), neither in a scan nor in an enrolment."""
    assert phone.canonical("358401234567") == "+358401234567"
    assert phone.canonical("358 40 123 4567") == "+358401234567"
    assert phone.canonical("46701234567", "SE") == "+46701234567"
    for form in ("358401234567", "358 40 123 4567", "358-40-1234567", "(358) 40 123 4567"):
        assert found(phone, f"puh;{form};x") == ["+358401234567"], form
    assert found(phone, "+358401234567 00358401234567") == ["+358401234567"] * 2
    # glued to a longer token, or inside a longer run of digits: no number
    assert found(phone, "INV-358401234567 1358401234567 x358401234567") == []


def test_two_phones_in_a_row():
    assert found(phone, "040 123 4567 050 765 4321") == ["+358401234567", "+358507654321"]


# -- customer id, name, birth date -----------------------------------------------------

def test_customer_id():
    pat = r"ASIAKAS-\d{6}"
    assert customer_id.canonical(" asiakas-123456 ", pat) == "ASIAKAS-123456"
    assert not customer_id.is_valid("ASIAKAS-12345", pat)
    assert found(customer_id, "ASIAKAS-123456, asiakas-654321, XASIAKAS-111111", pat) == [
        "ASIAKAS-123456", "ASIAKAS-654321"]


def test_name_canonical_and_forms():
    assert name.canonical("  MÄKINEN   Ｍatti ") == "mäkinen matti"
    assert name.canonical("Mäkinen") != name.canonical("Makinen")
    assert "matti mäkinen" in name.enrollment_forms("Mäkinen, Matti")
    assert "mäkinen matti" in name.enrollment_forms("Matti Mäkinen")
    # ... and, as file names and URLs spell them, folded (matchers.locations_enrolled)
    assert {"matti makinen", "makinen matti"} <= set(name.enrollment_forms("Mäkinen, Matti"))
    assert name.enrollment_forms("Matti Makinen") == ["makinen matti", "matti makinen"]
    assert "matti mäkinen" in found(name, "Potilas: Matti Mäkinen, s. 1.2.1980")


def test_birth_date():
    assert birth_date.canonical("1.2.1980") == "1980-02-01"
    assert birth_date.canonical(dt.date(1980, 2, 1)) == "1980-02-01"
    assert found(birth_date, "s. 01.02.1980 / 1980-02-01 / 31.2.1980 / 1.2.19801") == [
        "1980-02-01", "1980-02-01"]


def test_get_detector_binds_configuration():
    d = get_detector("phone", region="FI")
    assert d.canonical("040 123 4567") == "+358401234567"
    with pytest.raises(ValueError):
        get_detector("customer_id")
    assert get_detector("name").corroborating


def test_errors_never_hold_the_value():
    code = "131052-308U"
    for mod, value in ((hetu, code), (email, "nope"), (phone, "12"), (cpr, "999999-9999")):
        try:
            mod.validate(value)
        except Exception as exc:  # noqa: BLE001
            assert value not in str(exc) and value not in repr(exc.args)
        else:
            raise AssertionError("expected a validation error")


def test_synthetic_people_are_valid():
    for p in synthetic.make_people(300, seed=11):
        assert hetu.is_valid(p.hetu)
        assert email.is_valid(p.email)
        assert phone.canonical(p.phone) == synthetic.e164_fi(p.phone)
    signs = {p.hetu[6] for p in synthetic.make_people(2000, seed=3)}
    assert signs & set("YXWVU") and signs & set("BCDEF")


def test_a_long_local_part_is_found_without_the_c_extension(monkeypatch):
    """The numpy path (no C extension) dropped an address whose local part filled its
    26-character window ("kirjaamo.terveyskeskus.helsinki@..."): the reference and the C
    path found it."""
    from vahti.matchers import native
    from vahti.matchers.detectors._common import code_points

    monkeypatch.setattr(native, "lib", None)
    for n in (20, 25, 26, 27, 40, 64):
        local = ("kirjaamo.terveyskeskus." * 3)[:n].strip(".")
        for text in (f"{local}@example.fi", f"yhteys {local}@example.fi, kiitos",
                     f"{local}@example.com+'x",
                     f"{local}@example.net\x1c\u2003\t(dot)dot"):  # Unicode spaces, a dot
            s, e, v, k = email.find_arrays(code_points(text), text)
            got = [(int(a), int(b), r[:m].tobytes().decode())
                   for a, b, r, m in zip(s, e, v, k, strict=True)]
            assert got == list(email.find(text)) and got, text


def test_email_find_arrays_agrees_with_find():
    from vahti.matchers.detectors._common import code_points

    rng = random.Random(11)
    pieces = ["a", "bc", "fi", "x", "@", ".", "-", "_", " ", "[at]", "(dot)", " dot ", "..",
              "'", "1", "ä", "€", "\n", "example", "com", " at ", "AT", "Ω"]
    texts = ["\n".join(synthetic.noise_line(rng) for _ in range(40)) for _ in range(20)]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 25))) for _ in range(3000)]
    for t in texts:
        s, e, v, n = email.find_arrays(code_points(t), t)
        rows = zip(s, e, v, n, strict=True)
        got = [(int(a), int(b), r[:k].tobytes().decode()) for a, b, r, k in rows]
        assert got == list(email.find(t))


def test_name_candidate_values_equal_find():
    from vahti.matchers.detectors import name

    rng = random.Random(12)
    pieces = ["Matti", "virtanen", "ÄKÄS", "o'Neil", "Anna-Liisa", " ", ", ", "\t", "\n", "-",
              "'", "’", "3", "_", ".", "ﬁ", "Straße", "İ", "Ω", "x", "  ,", ";"]
    texts = ["\n".join(synthetic.noise_line(rng) for _ in range(10)) for _ in range(20)]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 20))) for _ in range(3000)]
    for t in texts:
        for k in (2, 3, 4):
            assert name.candidate_values(t, k) == {c for _, _, c in name.find(t, k)}


# -- phone boundaries: every delimiter a dump or chat puts around a number -------------

# What stands right before and right after a phone number in dumps, chats and markup.
PHONE_DELIMITERS = [",", ";", ":", ".", "(", ")", "[", "]", "{", "}", '"', "'", "`", "<", ">",
                    "|", "/", "\\", "=", "\t", "\n", "*", "#", "&", " - ", ""]
PHONE_LEADS = ["tel:", "tel:+", "phone:", "p.", "puh.", "Puh:", "TEL:", "nro:"]
PHONE_FORMS = ["0401234567", "040 123 4567", "040-1234567", "+358401234567",
               "+358 40 123 4567", "+358 (0)40 123 4567"]
# (text, the phone as written in it): real shapes of exported data
PHONE_IN_FORMATS = [
    ('{"name":"Matti","phone":"0401234567"}', "0401234567"),
    ('{"phone": "+358401234567", "x": 1}', "+358401234567"),
    ("name,0401234567,email\n", "0401234567"),
    ("17,0401234567,matti@example.fi\n", "0401234567"),
    ("17;040 123 4567;x\n", "040 123 4567"),
    ("INSERT INTO t VALUES('0401234567');", "0401234567"),
    ("INSERT INTO t VALUES (1,'Matti','+358401234567');", "+358401234567"),
    ("| Matti | 040 123 4567 |", "040 123 4567"),
    ("**0401234567**", "0401234567"),
    ("[0401234567](tel:0401234567)", "0401234567"),
    ("<td>0401234567</td>", "0401234567"),
    ('<a href="tel:+358401234567">soita</a>', "+358401234567"),
    ("soita (0401234567) illalla", "0401234567"),
    ("Puh.0401234567, kiitos.", "0401234567"),
    ("p.0401234567", "0401234567"),
    ("phone=0401234567&x=1", "0401234567"),
    ("matti\t0401234567\tx", "0401234567"),
    ("[+358 40 123 4567]", "+358 40 123 4567"),
    ("<0401234567>", "0401234567"),
    ("'0401234567'", "0401234567"),
    ("`0401234567`", "0401234567"),
]
# Not phones: glued to a longer token or inside a longer number (the hetu detector's
# rule: no letter or digit right before, no "-", "/", "_", "+" joined to one, no
# "." right after a digit, i.e. a decimal or a date).
PHONE_NOT_FOUND = [
    "abc0401234567", "0401234567abc", "INV-0401234567", "x/0401234567", "ab_0401234567",
    "0401234567_x", "1.0401234567", "2024-0401234567", "12345678904012345670",
    "00401234567012345678901", "3.14,0401234567x",
]


@pytest.mark.parametrize("before", PHONE_DELIMITERS + PHONE_LEADS)
@pytest.mark.parametrize("after", PHONE_DELIMITERS)
def test_phone_between_delimiters(before, after):
    for form in PHONE_FORMS:
        if before.endswith("+") and not form.startswith("+"):
            continue
        written = form[1:] if before.endswith("+") else form
        for text in (f"{before}{written}{after}", f"soita {before}{written}{after} kiitos"):
            hits = list(phone.find(normalize(text).text))
            assert [c for _, _, c in hits] == ["+358401234567"], (text, hits)


@pytest.mark.parametrize(("text", "written"), PHONE_IN_FORMATS)
def test_phone_in_data_formats(text, written):
    hits = list(phone.find(text))
    assert hits and {(text[s:e], c) for s, e, c in hits} == {(written, "+358401234567")}


@pytest.mark.parametrize("text", PHONE_NOT_FOUND)
def test_phone_glued_or_inside_a_longer_number_is_not_found(text):
    assert found(phone, text) == [] and found(phone, f"x {text} y") == []


def test_location_form_folds_accents_case_and_joiners():
    assert name.location_form("Meikäläinen-Virtanen, Anna") == "meikalainen virtanen anna"
    assert name.location_form("SØREN O'Brien Æsir Straße") == "soren o brien aesir strasse"
    assert name.location_form("Meika\u0308la\u0308inen") == "meikalainen"  # decomposed
    assert name.fold_word("Ärrä") == "arra" and name.fold_word("MATTI") == "matti"


def test_rows_at_reads_rows_as_the_index_arrays_did():
    """`rows_at` gives each start's `width` values, the last value repeated past the end
    (rows near the end, and a text shorter than a row, included)."""
    import numpy as np

    from vahti.matchers.detectors._common import rows_at

    rng = np.random.default_rng(5)
    for _ in range(2000):
        n = int(rng.integers(0, 30))
        width = int(rng.integers(1, 12))
        flat = rng.integers(0, 255, n).astype(np.uint8)
        starts = rng.integers(0, max(n, 1) + 3, int(rng.integers(0, 8)))
        before = flat.copy()
        got = rows_at(flat, starts, width)
        if n:
            expected = flat[np.minimum(starts[:, None] + np.arange(width), n - 1)]
        else:
            expected = np.zeros((len(starts), width), np.uint8)
        assert got.shape == expected.shape and (got == expected).all()
        got[...] = 0  # a copy: flat is left as it was
        assert (flat == before).all()
