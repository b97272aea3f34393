"""A seeded generator of leak-like text: what vahti reads in the field.

One file per kind of leak, in the proportions of `MIX` (or only `kinds`):

- ``dump.csv``: a customer table, one person a row, several identifiers a row
  (identity code, e-mail, phone) next to name and street address;
- ``dump.sql``: ``INSERT INTO ... VALUES (...),(...);`` statements of the same;
- ``forum.html``: forum posts with tags and entities, some identifiers written
  with entities (``&#45;``, ``&#64;``) or split by inline tags;
- ``export.json``: a JSON export (``\\uXXXX`` escapes for every non-ASCII
  letter, and some escaped dashes and at-signs);
- ``chat.log``: chat logs, people pasting a code or a number;
- ``prose.txt``: Finnish and Swedish prose with ä/ö/å, en dashes, euro signs;
- ``paste.txt``: paste-site dumps (combo lists, codes with lower-case check
  characters, zero-width characters).

Identifiers come from two populations: the enrolled people (the register,
`synthetic.make_people`) and decoys, people of the same shape with valid check
characters who are not enrolled (`decoy_share` of the identifier-bearing
records); a decoy never shares an identity code, e-mail or phone with an
enrolled person. `density` is identifiers (identity codes, e-mails, phones)
per 1,000 bytes of each file; filler of the file's own kind (order rows,
forum chatter, prose) makes up the rest. Without it, every kind has its
natural density (`NATURAL_DENSITY`: dumps carry an identifier on every row).
Filler never holds a digit run long enough to read as a phone number.

Everything is deterministic for a seed. Also written: ``register.csv`` (the
enrolled people, for ``vahti enroll``) and ``codes.txt`` (their identity codes
in plaintext, one a line, for ``grep -F -f``).

    python benchmarks/leak_corpus.py OUT_DIR [--size-mb 20] [--people 40000]
        [--density PER_KB] [--kinds csv,sql] [--decoy-share 0.5] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from vahti.demo import synthetic  # noqa: E402

# Share of the corpus bytes per kind (the default mix).
MIX = {"csv": 0.25, "sql": 0.20, "html": 0.15, "json": 0.15, "chat": 0.08, "prose": 0.07,
       "paste": 0.10}
FILE_NAMES = {"csv": "dump.csv", "sql": "dump.sql", "html": "forum.html",
              "json": "export.json", "chat": "chat.log", "prose": "prose.txt",
              "paste": "paste.txt"}
# Identifiers per kB when no density is asked for (None: no filler at all).
NATURAL_DENSITY: dict[str, float | None] = {
    "csv": None, "sql": None, "html": 2.0, "json": None, "chat": 1.5, "prose": 1.0,
    "paste": 4.0,
}
DENSE_KINDS = ("csv", "sql")
ID_TYPES = ("hetu", "email", "phone")

STREETS = ("Mannerheimintie Hämeentie Aleksanterinkatu Itäinen Puistotie Länsiväylä "
           "Pohjoisesplanadi Töölönkatu Kauppakatu Rantatie Koulukatu Myllytie Kirkkokatu "
           "Storgatan Strandvägen Skolgatan Kyrkogatan Åsgatan Östra Långgatan").split()
CITIES = (("00100", "Helsinki"), ("02100", "Espoo"), ("01300", "Vantaa"), ("33100", "Tampere"),
          ("20100", "Turku"), ("90100", "Oulu"), ("40100", "Jyväskylä"), ("65100", "Vaasa"),
          ("22100", "Mariehamn"), ("68600", "Jakobstad"), ("15110", "Lahti"))
FI_WORDS = ("ja on ei se että hän oli mutta kun niin myös tämä joka kuin sekä vain jo nyt "
            "sitten tietokanta vuoto salasana käyttäjä tunnus potilas terapia ajanvaraus lasku "
            "maksu päivä yö työ hyvä köyhä sää järjestelmä lähetys asiakas tiedosto kävijä "
            "myöhään ehkä täällä löytyi näyttää vähän jälkeen edellä").split()
SV_WORDS = ("och att det är för på med som en till av om så har inte jag du vi kund "
            "personbeteckning adress läkare sjukhus brev nästa år även här där också "
            "försäljning användare lösenord öppna stängd").split()
PRODUCTS = ("Kahvi 500 g", "Hammasharja", "Lahjakortti", "Käyttöoikeus 12 kk", "Toimitus",
            "Vuosimaksu", "Kirja: Sää ja ilmasto", "Ajanvaraus", "Etäkäynti", "Resepti")
NICKS = ("darkfox", "n00b", "mökkihöperö", "anon", "k4rhu", "sysop", "älykkö", "tr4der")
PASSWORDS = ("hunter2", "salasana1", "Kesä2023!", "qwerty", "letmein", "Hölmö99", "admin")


@dataclass(frozen=True)
class Spot:
    """One planted enrolled identifier: where it is and whose it is."""

    file: str
    id_type: str
    ref: str
    start: int  # character offsets in the file, as vahti reports findings
    end: int


@dataclass
class Corpus:
    out_dir: Path
    files: list[Path]
    register: Path
    codes: Path
    people: list[synthetic.Person]
    decoys: list[synthetic.Person]
    planted: Counter = field(default_factory=Counter)  # enrolled identifiers, by type
    decoyed: Counter = field(default_factory=Counter)  # decoy identifiers, by type
    bytes_by_file: dict[str, int] = field(default_factory=dict)
    ids_by_file: dict[str, int] = field(default_factory=dict)
    spots: list[Spot] = field(default_factory=list)  # filled when track=True

    @property
    def size(self) -> int:
        return sum(self.bytes_by_file.values())

    @property
    def identifiers(self) -> int:
        return sum(self.planted.values()) + sum(self.decoyed.values())

    def density(self, file: str | None = None) -> float:
        """Identifiers per 1,000 bytes, of one file or of them all."""
        if file is None:
            return self.identifiers * 1000 / max(1, self.size)
        return self.ids_by_file[file] * 1000 / max(1, self.bytes_by_file[file])

    def summary(self) -> dict:
        return {"bytes": self.size, "files": {f: {"bytes": b, "identifiers": self.ids_by_file[f]}
                                              for f, b in self.bytes_by_file.items()},
                "planted": dict(self.planted), "decoys": dict(self.decoyed),
                "people": len(self.people), "density_per_kb": round(self.density(), 3)}


@dataclass
class _Who:
    """One person as the corpus writes them."""

    ref: str | None  # None for a decoy
    first: str
    last: str
    hetu: str
    email: str
    phone: str
    address: str
    postcode: str
    city: str


class _Writer:
    """Collects one file's text, counting characters, bytes and identifiers."""

    def __init__(self, name: str, track: bool) -> None:
        self.name = name
        self.parts: list[str] = []
        self.chars = 0
        self.bytes = 0
        self.ids = 0
        self.track = track
        self.spots: list[Spot] = []
        self.planted: Counter = Counter()
        self.decoyed: Counter = Counter()

    def text(self, s: str) -> None:
        self.parts.append(s)
        self.chars += len(s)
        self.bytes += len(s.encode("utf-8")) if not s.isascii() else len(s)

    def ident(self, who: _Who, id_type: str, written: str) -> None:
        """An identifier as written (possibly obfuscated)."""
        if who.ref is None:
            self.decoyed[id_type] += 1
        else:
            self.planted[id_type] += 1
            if self.track:
                self.spots.append(Spot(self.name, id_type, who.ref, self.chars,
                                       self.chars + len(written)))
        self.ids += 1
        self.text(written)

    def line(self, who: _Who, *parts: str | tuple[str, str]) -> None:
        """Text pieces and (type, written) identifiers of `who`, in order."""
        for part in parts:
            if isinstance(part, tuple):
                self.ident(who, *part)
            else:
                self.text(part)


class LeakText:
    """The record and filler writers of every kind, over one random stream."""

    def __init__(self, rng: random.Random, enrolled: list[_Who], decoys: list[_Who],
                 decoy_share: float) -> None:
        self.rng = rng
        self.enrolled = enrolled
        self.decoys = decoys
        self.decoy_share = decoy_share
        self.rowid = 0
        self.rows_per_insert = 12  # fewer when sparse, so a statement does not overshoot

    # -- people and their identifiers as written ------------------------------------

    def who(self) -> _Who:
        rng = self.rng
        pool = self.decoys if rng.random() < self.decoy_share or not self.enrolled \
            else self.enrolled
        return pool[rng.randrange(len(pool))]

    def phone(self, who: _Who) -> str:
        return self.rng.choice(synthetic.fi_phone_forms(who.phone))

    def words(self, n: int, lang: tuple[str, ...] = FI_WORDS) -> str:
        return " ".join(self.rng.choice(lang) for _ in range(n))

    def sentence(self) -> str:
        lang = SV_WORDS if self.rng.random() < 0.3 else FI_WORDS
        return self.words(self.rng.randint(4, 14), lang).capitalize() + "."

    def small_number(self) -> str:
        return str(self.rng.randint(0, 99999))

    def date(self) -> str:
        return synthetic.random_birth_date(self.rng, 2015, 2025).isoformat()

    # -- csv --------------------------------------------------------------------------

    def csv_header(self, w: _Writer) -> None:
        w.text("id;etunimi;sukunimi;hetu;sahkoposti;puhelin;lahiosoite;postinumero;"
               "postitoimipaikka;luotu\n")

    def csv_record(self, w: _Writer) -> None:
        p = self.who()
        self.rowid += 1
        email = p.email if self.rng.random() < 0.9 else p.email.upper()
        w.line(p, f"{self.rowid};{p.first};{p.last};", ("hetu", p.hetu), ";", ("email", email),
               ";", ("phone", self.phone(p)), f";{p.address};{p.postcode};{p.city};{self.date()}\n")

    def csv_filler(self, w: _Writer) -> None:
        """A row whose identifier columns are empty (a lead without details)."""
        rng = self.rng
        self.rowid += 1
        w.text(f"{self.rowid};{rng.choice(synthetic.FIRST_NAMES)};"
               f"{rng.choice(synthetic.LAST_NAMES)};;;;{rng.choice(STREETS)} "
               f"{rng.randint(1, 99)};{rng.choice(CITIES)[0]};{rng.choice(CITIES)[1]};"
               f"{self.date()}\n")

    # -- sql --------------------------------------------------------------------------

    def sql_header(self, w: _Writer) -> None:
        w.text("-- dump of asiakasrekisteri\nSET NAMES utf8mb4;\n")

    def sql_record(self, w: _Writer) -> None:
        rows = self.rng.randint(min(3, self.rows_per_insert), self.rows_per_insert)
        w.text("INSERT INTO `asiakkaat` (`id`,`nimi`,`hetu`,`email`,`puhelin`,`osoite`) "
               "VALUES ")
        for i in range(rows):
            p = self.who()
            self.rowid += 1
            note = "" if self.rng.random() < 0.9 else " (asiakkaan ''oma'' osoite)"
            w.line(p, f"{',' if i else ''}({self.rowid},'{p.last} {p.first}','",
                   ("hetu", p.hetu), "','", ("email", p.email), "','", ("phone", self.phone(p)),
                   f"','{p.address}, {p.postcode} {p.city}{note}')")
        w.text(";\n")

    def sql_filler(self, w: _Writer) -> None:
        rng = self.rng
        w.text(f"INSERT INTO `tilaukset` VALUES ({rng.randint(1, 99999)},"
               f"{rng.randint(1, 99999)},'{self.date()}',"
               f"{rng.randint(1, 999)}.{rng.randint(0, 99):02d},"
               f"'{rng.choice(PRODUCTS)}','{rng.choice(('avoin', 'maksettu', 'peruttu'))}');\n")

    # -- html -------------------------------------------------------------------------

    def html_header(self, w: _Writer) -> None:
        w.text("<!DOCTYPE html>\n<html lang=\"fi\"><head><meta charset=\"utf-8\">"
               "<title>Keskustelu &ndash; vuodot</title></head><body>\n")

    def _html_entity(self, s: str) -> str:
        """The dash or at-sign of an identifier as an entity, now and then."""
        r = self.rng.random()
        if r < 0.15:
            return s.replace("-", "&#45;").replace("@", "&#64;")
        if r < 0.25:
            return s.replace("-", "&#x2d;").replace("@", "&commat;")
        return s

    def _post_open(self, w: _Writer) -> None:
        self.rowid += 1
        w.text(f"<div class=\"post\" id=\"p{self.rowid}\"><span class=\"nick\">"
               f"{self.rng.choice(NICKS)}</span> <time>{self.date()}</time><p>")

    def html_record(self, w: _Writer) -> None:
        p = self.who()
        rng = self.rng
        self._post_open(w)
        bold = rng.random() < 0.1
        w.line(p, f"L&ouml;ytyi: {p.first} {p.last}, hetu " + ("<b>" if bold else ""),
               ("hetu", self._html_entity(p.hetu)),
               ("</b>" if bold else "") + ", s&auml;hk&ouml;posti <a href=\"#\">",
               ("email", self._html_entity(p.email)), "</a>, puh. ", ("phone", self.phone(p)),
               f"<br>{p.address} &amp; {p.city}</p></div>\n")

    def html_filler(self, w: _Writer) -> None:
        self._post_open(w)
        text = self.sentence().replace("ä", "&auml;") if self.rng.random() < 0.5 \
            else self.sentence()
        w.text(f"{text} <i>{self.words(3)}</i> &quot;{self.words(2)}&quot;</p></div>\n")

    # -- json -------------------------------------------------------------------------

    def json_header(self, w: _Writer) -> None:
        w.text('{"export":"asiakkaat","rows":[\n')

    def _json_escape(self, s: str) -> str:
        r = self.rng.random()
        if r < 0.15:
            return s.replace("-", "\\u002d").replace("@", "\\u0040")
        return s

    def json_record(self, w: _Writer) -> None:
        p = self.who()
        self.rowid += 1
        name = json.dumps(f"{p.first} {p.last}")  # ensure_ascii: \u00e4 for ä
        w.line(p, f'{{"id":{self.rowid},"nimi":{name},"hetu":"',
               ("hetu", self._json_escape(p.hetu)), '","email":"',
               ("email", self._json_escape(p.email)), '","puhelin":"', ("phone", self.phone(p)),
               f'","osoite":{json.dumps(p.address + ", " + p.city)}}},\n')

    def json_filler(self, w: _Writer) -> None:
        rng = self.rng
        w.text(f'{{"tilaus":{rng.randint(1, 99999)},"tuote":{json.dumps(rng.choice(PRODUCTS))},'
               f'"summa":{rng.randint(1, 999)}.{rng.randint(0, 99):02d},"pvm":"{self.date()}"}},\n')

    def json_footer(self, w: _Writer) -> None:
        w.text("{}]}\n")

    # -- chat -------------------------------------------------------------------------

    def _chat_open(self, w: _Writer) -> None:
        rng = self.rng
        w.text(f"[{self.date()} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}] "
               f"<{rng.choice(NICKS)}> ")

    def chat_record(self, w: _Writer) -> None:
        p = self.who()
        self._chat_open(w)
        if self.rng.random() < 0.5:
            w.line(p, f"{p.first.lower()} {p.last.lower()} hetu: ", ("hetu", p.hetu), "\n")
        else:
            w.line(p, "soita ", ("phone", self.phone(p)), " tai mailaa ", ("email", p.email),
                   " :D\n")

    def chat_filler(self, w: _Writer) -> None:
        self._chat_open(w)
        w.text(self.words(self.rng.randint(2, 12)) + "\n")

    # -- prose ------------------------------------------------------------------------

    def prose_record(self, w: _Writer) -> None:
        p = self.who()
        rng = self.rng
        hetu = p.hetu.replace("-", "\u2013") if rng.random() < 0.2 else p.hetu  # en dash
        if rng.random() < 0.5:
            w.line(p, f"Asiakas {p.first} {p.last} (henkilötunnus ", ("hetu", hetu),
                   f") on ilmoittanut uudeksi osoitteekseen {p.address}, {p.postcode} "
                   f"{p.city} – maksu {rng.randint(5, 500)},00 € myöhässä. ")
        else:
            w.line(p, f"Kunden {p.first} {p.last}, personbeteckning ", ("hetu", hetu),
                   ", nås på ", ("phone", self.phone(p)), f" och bor på {p.address} i {p.city}. ")
        if rng.random() < 0.3:
            w.text("\n\n")

    def prose_filler(self, w: _Writer) -> None:
        w.text(self.sentence() + (" " if self.rng.random() < 0.8 else "\n\n"))

    # -- paste ------------------------------------------------------------------------

    def paste_header(self, w: _Writer) -> None:
        w.text("==== FRESH LEAK 2024 – full db, enjoy ====\n")

    def paste_record(self, w: _Writer) -> None:
        p = self.who()
        rng = self.rng
        r = rng.random()
        if r < 0.4:
            w.line(p, ("email", p.email), f":{rng.choice(PASSWORDS)}\n")
        elif r < 0.8:
            hetu = p.hetu
            if rng.random() < 0.2:
                hetu = hetu[:-1] + hetu[-1].lower()
            elif rng.random() < 0.1:
                hetu = hetu[:3] + "\u200b" + hetu[3:]  # zero-width space
            w.line(p, ("hetu", hetu), f" | {p.first} {p.last} | ", ("phone", self.phone(p)), "\n")
        else:
            w.line(p, f"{p.last.upper()} {p.first.upper()} ", ("hetu", p.hetu), " ",
                   ("email", p.email), "\n")

    def paste_filler(self, w: _Writer) -> None:
        rng = self.rng
        w.text(f"user{rng.randint(1, 99999)}:{rng.getrandbits(64):016x}\n")


def _as_who(p: synthetic.Person, rng: random.Random, ref: str | None) -> _Who:
    postcode, city = rng.choice(CITIES)
    address = f"{rng.choice(STREETS)} {rng.randint(1, 120)}"
    if rng.random() < 0.5:
        address += f" {rng.choice('ABCDE')} {rng.randint(1, 60)}"
    return _Who(ref, p.first_name, p.last_name, p.hetu, p.email, p.phone, address, postcode,
                city)


def decoy_people(people: Sequence[synthetic.Person], n: int, seed: int) -> list[synthetic.Person]:
    """`n` people of the same shape as `people` who share no identifier with them."""
    taken = {v for p in people for v in (p.hetu, p.email.lower(), synthetic.e164_fi(p.phone))}
    out: list[synthetic.Person] = []
    rng = random.Random(seed)
    i = 0
    while len(out) < n:
        d = synthetic.make_person(rng, i, notes=0)
        i += 1
        values = (d.hetu, d.email.lower(), synthetic.e164_fi(d.phone))
        if any(v in taken for v in values):
            continue
        taken.update(values)
        out.append(d)
    return out


def generate(out_dir: Path | str, *, size_mb: float = 20.0,
             people: int | list[synthetic.Person] = 40_000, density: float | None = None,
             kinds: Sequence[str] | None = None, decoy_share: float = 0.5, seed: int = 7,
             track: bool = False) -> Corpus:
    """Write the corpus, the register and the codes file into `out_dir`.

    `size_mb` (10^6 bytes) is shared among `kinds` by `MIX`; each file ends at a
    record boundary just past its share. `people` is a count (made with `seed`)
    or the enrolled people themselves. `track` records every planted enrolled
    identifier's offsets (`Corpus.spots`).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kinds = list(kinds or MIX)
    unknown = [k for k in kinds if k not in MIX]
    if unknown:
        raise ValueError(f"unknown corpus kinds: {', '.join(unknown)}")
    if density is not None and density <= 0:
        raise ValueError("density must be positive")
    enrolled = people if isinstance(people, list) else synthetic.make_people(people, seed=seed)
    decoys = decoy_people(enrolled, max(1000, len(enrolled)), seed + 1)
    rng = random.Random(seed + 2)
    text = LeakText(rng, [_as_who(p, rng, p.ref) for p in enrolled],
                    [_as_who(d, rng, None) for d in decoys], decoy_share)
    corpus = Corpus(out, [], out / "register.csv", out / "codes.txt", enrolled, decoys)
    weight = sum(MIX[k] for k in kinds)
    for kind in kinds:
        target = int(size_mb * 1e6 * MIX[kind] / weight)
        per_kb = density if density is not None else NATURAL_DENSITY[kind]
        text.rows_per_insert = 12 if per_kb is None or per_kb >= 5 else 1
        w = _write_kind(text, kind, target, per_kb, track)
        path = out / FILE_NAMES[kind]
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.writelines(w.parts)
        corpus.files.append(path)
        corpus.bytes_by_file[path.name] = w.bytes
        corpus.ids_by_file[path.name] = w.ids
        corpus.planted.update(w.planted)
        corpus.decoyed.update(w.decoyed)
        corpus.spots += w.spots
    corpus.register.write_text(synthetic.register_csv(enrolled) if enrolled and enrolled[0].notes
                               else _register_without_notes(enrolled), encoding="utf-8")
    corpus.codes.write_text("".join(p.hetu + "\n" for p in enrolled), encoding="ascii")
    return corpus


def _register_without_notes(people: list[synthetic.Person]) -> str:
    rows = ["ref,hetu,email,phone,name,birth_date"]
    rows += [f"{p.ref},{p.hetu},{p.email},{p.phone},{p.full_name},{p.birth_date.isoformat()}"
             for p in people]
    return "\n".join(rows) + "\n"


def _write_kind(text: LeakText, kind: str, target: int, per_kb: float | None,
                track: bool) -> _Writer:
    """One file's text: records, and filler whenever the file is denser than `per_kb`."""
    w = _Writer(FILE_NAMES[kind], track)
    record: Callable[[_Writer], None] = getattr(text, f"{kind}_record")
    filler: Callable[[_Writer], None] = getattr(text, f"{kind}_filler")
    header = getattr(text, f"{kind}_header", None)
    footer = getattr(text, f"{kind}_footer", None)
    if header:
        header(w)
    bytes_per_id = 1000 / per_kb if per_kb else 0.0
    while w.bytes < target:
        if w.ids and w.bytes < w.ids * bytes_per_id:
            filler(w)
        else:
            record(w)
    if footer:
        footer(w)
    return w


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--size-mb", type=float, default=20.0)
    ap.add_argument("--people", type=int, default=40_000)
    ap.add_argument("--density", type=float, default=None,
                    help="identifiers per kB (default: each kind's natural density)")
    ap.add_argument("--kinds", default=",".join(MIX),
                    help="comma-separated kinds: " + ", ".join(MIX))
    ap.add_argument("--decoy-share", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    corpus = generate(args.out_dir, size_mb=args.size_mb, people=args.people,
                      density=args.density, kinds=args.kinds.split(","),
                      decoy_share=args.decoy_share, seed=args.seed)
    print(json.dumps(corpus.summary(), indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
