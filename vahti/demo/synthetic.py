"""Deterministic synthetic people and leak-like text for tests, benchmarks and `vahti demo`.

Nothing here is real: names are drawn from common Finnish first and last
names, identity codes are generated with valid check characters (including
the century signs introduced in 2023), e-mail domains are reserved example
domains and phone numbers are in Finnish mobile and landline formats.

Every generator takes a `random.Random` or a seed, so a run is reproducible.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from dataclasses import dataclass, field

from vahti.demo.notegen import NoteGen

HETU_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"
CENTURY_SIGNS = {1800: "+", 1900: "-YXWVU", 2000: "ABCDEF"}

FIRST_NAMES = (
    "Matti Timo Juha Mikko Jari Antti Kari Pekka Mika Markku Ville Heikki Jukka Tuomas Lauri "
    "Aino Maria Helena Anna Johanna Kaarina Marjatta Liisa Sari Päivi Tiina Elina Riikka Sanna "
    "Eeva Kirsi Minna Hanna Laura Jäänis Åsa Sofia Emilia Väinö Ilkka Sirkka Ritva Tuula Ismo"
).split()
LAST_NAMES = (
    "Korhonen Virtanen Mäkinen Nieminen Mäkelä Hämäläinen Laine Heikkinen Koskinen Järvinen "
    "Lehtonen Lehtinen Saarinen Salminen Heinonen Niemi Heikkilä Kinnunen Salonen Turunen "
    "Salo Laitinen Tuominen Rantanen Karjalainen Jokinen Mattila Savolainen Lahtinen Ahonen "
    "Öhman Åberg Söderström Meikäläinen Väisänen Pöllänen"
).split()
DOMAINS = ("example.com", "example.org", "example.net", "example.fi", "mail.example.fi")
PROSE_WORDS = (
    "the of and to in is was for on that with as it by at from this be are or have not "
    "leak dump database password user login account admin server backup release download "
    "ja on ei se että hän oli mutta kun niin myös tämä joka kuin sekä vain jo nyt sitten "
    "tietokanta vuoto salasana käyttäjä tunnus potilas terapia ajanvaraus lasku maksu"
).split()


def hetu_check_char(ddmmyy: str, individual: str) -> str:
    return HETU_CHECK[int(ddmmyy + individual) % 31]


def make_hetu(birth: dt.date, individual: int, sign: str | None = None) -> str:
    """A valid HETU for `birth`; `sign` defaults to the classic one of the century."""
    century = birth.year // 100 * 100
    signs = CENTURY_SIGNS[century]
    if sign is None:
        sign = signs[0]
    if sign not in signs:
        raise ValueError("century sign does not fit the birth year")
    ddmmyy = birth.strftime("%d%m") + f"{birth.year % 100:02d}"
    ind = f"{individual:03d}"
    return f"{ddmmyy}{sign}{ind}{hetu_check_char(ddmmyy, ind)}"


def random_hetu(rng: random.Random, birth: dt.date | None = None) -> str:
    if birth is None:
        birth = random_birth_date(rng)
    signs = CENTURY_SIGNS[birth.year // 100 * 100]
    # About a third use the new (2023) signs, so every test sees them.
    sign = signs[0] if len(signs) == 1 or rng.random() < 0.67 else rng.choice(signs[1:])
    return make_hetu(birth, rng.randint(2, 899), sign)


def random_birth_date(rng: random.Random, start: int = 1925, end: int = 2022) -> dt.date:
    first = dt.date(start, 1, 1).toordinal()
    last = dt.date(end, 12, 31).toordinal()
    return dt.date.fromordinal(rng.randint(first, last))


def random_fi_mobile(rng: random.Random) -> str:
    """A Finnish mobile number in national form, e.g. '040 123 4567'."""
    prefix = rng.choice(("040", "041", "044", "045", "046", "050"))
    return f"{prefix} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"


def fi_phone_forms(national: str) -> list[str]:
    """Ways a Finnish number is written: national, spaced, dashed, international."""
    digits = national.replace(" ", "").replace("-", "")
    rest = digits[1:]
    return [
        digits,
        national,
        f"{digits[:3]}-{digits[3:]}",
        f"+358{rest}",
        f"+358 {rest[:2]} {rest[2:5]} {rest[5:]}",
        f"+358 (0){rest[:2]} {rest[2:]}",
    ]


def e164_fi(national: str) -> str:
    digits = national.replace(" ", "").replace("-", "")
    return "+358" + digits[1:]


def _ascii_fold(s: str) -> str:
    return s.translate(str.maketrans("äöåÄÖÅ", "aoaAOA")).lower()


@dataclass
class Person:
    ref: str
    first_name: str
    last_name: str
    birth_date: dt.date
    hetu: str
    email: str
    phone: str  # national form, spaced
    notes: list[str] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


def make_person(rng: random.Random, index: int, notes: int = 1) -> Person:
    birth = random_birth_date(rng)
    first = rng.choice(FIRST_NAMES)
    last = rng.choice(LAST_NAMES)
    local = f"{_ascii_fold(first)}.{_ascii_fold(last)}{rng.randint(1, 999)}"
    return Person(
        ref=f"P{index:07d}",
        first_name=first,
        last_name=last,
        birth_date=birth,
        hetu=random_hetu(rng, birth),
        email=f"{local}@{rng.choice(DOMAINS)}",
        phone=random_fi_mobile(rng),
        notes=[make_note(rng) for _ in range(notes)],
    )


def make_people(n: int, seed: int = 1, notes: int = 1) -> list[Person]:
    rng = random.Random(seed)
    return [make_person(rng, i, notes) for i in range(n)]


def make_note(rng: random.Random, words: int = 120) -> str:
    """A session-note-like paragraph with varied wording (so notes differ between
    people like real ones do), long enough for fragment matching."""
    return NoteGen(0, rng=rng).note(words)


def prose(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(PROSE_WORDS) for _ in range(words))


def noise_line(rng: random.Random) -> str:
    """One line of paste-like filler: prose, CSV rows, emails, phones, dates, numbers."""
    kind = rng.randrange(7)
    if kind == 0:
        return prose(rng, rng.randint(5, 20)).capitalize() + "."
    if kind == 1:
        d = random_birth_date(rng, 2015, 2024)
        return (
            f"{rng.randint(1, 99999)};{d.isoformat()};"
            f"{rng.randint(0, 10**6)}.{rng.randint(0, 99):02d};"
            f"INV-{rng.randint(10**9, 10**10 - 1)};{rng.choice(PROSE_WORDS)}"
        )
    if kind == 2:
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        email = f"{_ascii_fold(name).replace(' ', '.')}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}"
        return f"{name} <{email}>, puh. {random_fi_mobile(rng)}"
    if kind == 3:
        d = random_birth_date(rng, 1990, 2024)
        clock = f"{rng.randint(0, 23)}:{rng.randint(0, 59):02d}"
        return f"Päivämäärä {d.day}.{d.month}.{d.year} klo {clock}"
    if kind == 4:
        count = rng.randint(3, 12)
        return " ".join(str(rng.randint(0, 10 ** rng.randint(1, 12))) for _ in range(count))
    if kind == 5:
        return f"user{rng.randint(1, 10**6)}:{rng.getrandbits(64):016x}:{rng.randint(1000, 9999)}"
    return f"https://example.com/p/{rng.getrandbits(40):x}?ref={rng.randint(1, 999)}"


REGISTER_COLUMNS = ["ref", "hetu", "email", "phone", "name", "birth_date", "notes"]


def register_csv(people: list[Person], delimiter: str = ",",
                 extra_column: tuple[str, str] | None = None,
                 extra_rows: list[list[str]] | tuple = ()) -> str:
    """A register of `people` as CSV text, optionally with one more column
    (name, value for every person) and raw extra rows."""
    out = io.StringIO()
    w = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    w.writerow(REGISTER_COLUMNS + ([extra_column[0]] if extra_column else []))
    for p in people:
        w.writerow([p.ref, p.hetu, p.email, p.phone, p.full_name, p.birth_date.isoformat(),
                    p.notes[0]] + ([extra_column[1]] if extra_column else []))
    w.writerows(extra_rows)
    return out.getvalue()
