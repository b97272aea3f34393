"""Which register column holds what: header names in the register's own language.

A register exported from a Finnish, Swedish, Norwegian or Danish system names its
columns in that language ("Henkilötunnus", "Sähköposti", "Personnummer",
"Fødselsnummer", "CPR-nr."). Header cells are folded (case, diacritics, ø/æ,
spaces, underscores, hyphens and dots) and looked up in SYNONYMS; `--map
COLUMN=TYPE` names any other header explicitly, or drops one (`TYPE` "ignore").
Header names are not personal data, so errors and summaries name them; a first
row that holds an identifier is data, not a header, and is never printed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from vahti.matchers.detectors import CORROBORATING_TYPES, IDENTIFIER_TYPES

REF = "ref"
NOTES = "notes"
FIRST_NAME = "first_name"
LAST_NAME = "last_name"
IGNORE = "ignore"
MAPPABLE = (REF, *IDENTIFIER_TYPES, *CORROBORATING_TYPES, NOTES, FIRST_NAME, LAST_NAME, IGNORE)
# a header cell longer than this is text, not a column name
MAX_HEADER_NAME = 100

# Folded header names (see `fold`) per column type: the type's own name and its
# names in Finnish, Swedish, Norwegian, Danish and English.
SYNONYMS: dict[str, tuple[str, ...]] = {
    REF: ("ref", "reference", "viite", "referens", "referanse"),
    "hetu": ("hetu", "henkilotunnus", "sotu", "sosiaaliturvatunnus", "identitycode"),
    "personnummer": ("personnummer", "personnr", "samordningsnummer"),
    "fodselsnummer": ("fodselsnummer", "fodselsnr", "dnummer"),
    "cpr": ("cpr", "cprnummer", "cprnr"),
    "email": ("email", "emailaddress", "mail", "sahkoposti", "sahkopostiosoite", "epost",
              "epostadress", "epostadresse", "emailadresse"),
    "phone": ("phone", "phonenumber", "telephone", "mobile", "puhelin", "puhelinnumero",
              "matkapuhelin", "telefon", "telefonnummer", "mobil", "mobiltelefon", "tlf"),
    "customer_id": ("customerid", "customernumber", "asiakasnumero", "asiakasnro",
                    "kundnummer", "kundnr", "kundenummer"),
    "name": ("name", "fullname", "nimi", "kokonimi", "namn", "navn"),
    "birth_date": ("birthdate", "dateofbirth", "syntymaaika", "fodelsedatum", "fodselsdato"),
    NOTES: ("notes", "muistiinpanot", "merkinnat", "huomiot", "anteckningar", "notater",
            "noter"),
    FIRST_NAME: ("firstname", "etunimi", "etunimet", "fornamn", "fornavn"),
    LAST_NAME: ("lastname", "surname", "sukunimi", "efternamn", "etternavn", "efternavn"),
}
_TYPE_OF = {name: t for t, names in SYNONYMS.items() for name in names}
# letters NFKD does not split into a base letter and a mark
_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "đ": "d", "ł": "l",
                          "þ": "th", "ð": "d"})


class RegisterError(Exception):
    """The file cannot be read as a register at all (no header, no ref column...)."""


def fold(header: str) -> str:
    """"Sähköposti" -> "sahkoposti", "CPR-nr." -> "cprnr", "birth_date" -> "birthdate"."""
    text = unicodedata.normalize("NFKD", header.casefold().translate(_LETTERS))
    return "".join(ch for ch in text if ch.isalnum() and ch.isascii())


def _printable(name: str) -> str:
    """A header name fit for a terminal line: control characters shown as escapes."""
    if name.isprintable():
        return name
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in name)


@dataclass(frozen=True)
class Field:
    """A value read from a row: one column, or first and last name joined."""

    id_type: str
    indexes: tuple[int, ...]
    header: str  # as the register writes it, for "row N, column C" messages


@dataclass
class ColumnPlan:
    ref: int
    ref_header: str
    width: int  # columns in the header
    fields: list[Field]
    unknown: list[str] = field(default_factory=list)  # header names, as written
    ignored: list[str] = field(default_factory=list)  # dropped with --map COLUMN=ignore

    def of_type(self, id_type: str) -> list[Field]:
        return [f for f in self.fields if f.id_type == id_type]


def plan_columns(header: list[str], column_map: Mapping[str, str] | None = None) -> ColumnPlan:
    """What each column holds; RegisterError when the header cannot make a register."""
    shown = [_printable(h.strip().lstrip("\ufeff").strip()) or f"(column {i + 1})"
             for i, h in enumerate(header)]
    folded = [fold(h) for h in shown]
    types = [_TYPE_OF.get(f) for f in folded]
    for column, id_type in (column_map or {}).items():
        if id_type not in MAPPABLE:
            raise RegisterError(f"--map {column}={id_type}: unknown type {id_type!r} "
                                f"(one of {', '.join(MAPPABLE)})")
        hits = [i for i, f in enumerate(folded) if f == fold(column)]
        if not hits:
            raise RegisterError(f"--map: no column {column!r} in the header")
        for i in hits:
            types[i] = id_type
    by_type: dict[str, list[int]] = {}
    for i, t in enumerate(types):
        by_type.setdefault(t or "", []).append(i)

    refs = by_type.get(REF, [])
    if not refs:
        raise RegisterError("no 'ref' column in the header (or name one: --map COLUMN=ref)")
    if len(refs) > 1:
        raise RegisterError(f"more than one ref column: {', '.join(shown[i] for i in refs)} "
                            "(drop the others: --map COLUMN=ignore)")
    plan = ColumnPlan(ref=refs[0], ref_header=shown[refs[0]], width=len(header), fields=[],
                      unknown=[shown[i] for i in by_type.get("", [])],
                      ignored=[shown[i] for i in by_type.get(IGNORE, [])])
    for i, t in enumerate(types):
        if t and t not in (REF, IGNORE, FIRST_NAME, LAST_NAME):
            plan.fields.append(Field(t, (i,), shown[i]))
    firsts, lasts = by_type.get(FIRST_NAME, []), by_type.get(LAST_NAME, [])
    if len(firsts) == 1 and len(lasts) == 1:
        (a,), (b,) = firsts, lasts
        plan.fields.append(Field("name", (a, b), f"{shown[a]}+{shown[b]}"))
    else:  # one half of a name, or several: no name can be made of them
        plan.unknown += [shown[i] for i in sorted(firsts + lasts)]
    if not any(f.id_type in (*IDENTIFIER_TYPES, NOTES) for f in plan.fields):
        raise RegisterError(
            f"no identifier or notes column: columns found: {', '.join(shown)}; a register "
            f"needs one of {', '.join((*IDENTIFIER_TYPES, NOTES))} (Finnish, Swedish, "
            "Norwegian, Danish and English names are recognised), or name one with "
            "--map COLUMN=TYPE")
    return plan

