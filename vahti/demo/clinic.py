"""The story of `vahti demo`: a fictional clinic, its register, and a leak of part of it.

Everything is synthetic and meant to look it. The clinic, "Acme Terapia Oy", does
not exist; every identity code has an individual number of 900-999 (the range of
temporary codes, never a permanent one), every e-mail is at a reserved example
domain, and the session notes come from a word generator. Refs are `AT-00001`...
(the controller's own pseudonymous references, which vahti may store and show).

The leak is a part of the register, republished the way the Vastaamo data was:

- `archive`: a CSV export of some patients (all identifiers and a note excerpt),
  in a zip on an onion leak site, from the start;
- `pieces`: paste texts, each with some more patients in the spellings leaks use
  (labelled, CSV, tab-separated, combo lists, note excerpts), published on an
  onion paste site one after another while the daemon watches;
- `quiet`: pastes with nobody of the register in them;
- decoys: people of no register (other clinics, say) mixed into every text, whom
  vahti must never report.

`Planted` records who went where, so the demo can say how many of the exposed
people vahti found.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from vahti.demo.sites.content import Planted, plant_dump_csv, plant_paste_texts
from vahti.demo.synthetic import (
    Person,
    make_hetu,
    make_people,
    random_fi_mobile,
    register_csv,
)

CLINIC = "Acme Terapia Oy"  # the victim of the leak site's standard layout
TEMPORARY_INDIVIDUALS = (900, 999)  # temporary identity codes: never a permanent person's


@dataclass
class Scenario:
    register: list[Person]  # enrolled
    decoys: list[Person]  # never enrolled
    archive: Planted  # the CSV in the leak site's zip
    pieces: list[Planted]  # pastes published one by one
    quiet: list[Planted]  # pastes with nobody of the register

    @property
    def exposed(self) -> Planted:
        """Everyone of the register in the archive or in any piece."""
        return Planted.union([self.archive, *self.pieces])

    def never_leaked(self) -> list[Person]:
        exposed = self.exposed.refs
        return [p for p in self.register if p.ref not in exposed]

    def archive_decoys(self) -> list[Person]:
        """Decoys in the archive's CSV (with every identifier): people of no register."""
        return [d for d in self.decoys if d.hetu in self.archive.text]

    def by_ref(self, ref: str) -> Person:
        for person in self.register:
            if person.ref == ref:
                return person
        raise KeyError(ref)

    def register_csv(self) -> str:
        return register_csv(self.register)

    def plaintext(self) -> list[str]:
        """Values that must never turn up in anything vahti wrote."""
        values = []
        for p in self.register + self.decoys:
            values += [p.hetu, p.email, p.phone, p.full_name, " ".join(p.notes[0].split()[:12])]
        return values


def fictional(person: Person, rng: random.Random, ref: str) -> Person:
    """The person with a temporary-range identity code and the given ref."""
    person.ref = ref
    sign = person.hetu[6]
    person.hetu = make_hetu(person.birth_date, rng.randint(*TEMPORARY_INDIVIDUALS), sign)
    return person


def make_scenario(people: int, seed: int = 2020, pieces: int = 4) -> Scenario:
    """A register of `people` patients, of whom about 6 % leak: a third of those in
    the archive, the rest spread over `pieces` pastes."""
    if people < 50:
        raise ValueError("the demo needs at least 50 people")
    rng = random.Random(seed)
    n_decoys = max(10, people // 100)
    everyone = make_people(people + n_decoys, seed=seed)
    register = [fictional(p, rng, f"AT-{i + 1:05d}") for i, p in enumerate(everyone[:people])]
    decoys = [fictional(p, rng, f"DECOY-{i + 1:03d}")
              for i, p in enumerate(everyone[people:])]
    _unique_codes(register + decoys, rng)

    leaked = rng.sample(register, max(24, people * 6 // 100))
    in_archive, in_pastes = leaked[:len(leaked) // 3], leaked[len(leaked) // 3:]
    archive = plant_dump_csv(in_archive, decoys[:n_decoys // 2], rng)
    size = -(-len(in_pastes) // pieces)
    texts = []
    for i in range(pieces):
        part = in_pastes[i * size:(i + 1) * size]
        others = rng.sample(decoys, min(len(decoys), 3))
        texts += plant_paste_texts(part, others, rng, texts=1, filler=(8, 25))
    quiet = plant_paste_texts([], rng.sample(decoys, min(len(decoys), 4)), rng, texts=2)
    return Scenario(register, decoys, archive, texts, quiet)


def _unique_codes(people: list[Person], rng: random.Random) -> None:
    """Redraw the rare identity code, e-mail or phone number two people got: each
    identifier belongs to one person, so a sighting names exactly who was exposed."""
    codes: set[str] = set()
    emails: set[str] = set()
    phones: set[str] = set()
    for person in people:
        while person.hetu in codes:
            person.hetu = make_hetu(person.birth_date, rng.randint(*TEMPORARY_INDIVIDUALS),
                                    person.hetu[6])
        while person.email.lower() in emails:
            local, _, domain = person.email.partition("@")
            person.email = f"{local}{rng.randint(0, 9)}@{domain}"
        while person.phone in phones:
            person.phone = random_fi_mobile(rng)
        codes.add(person.hetu)
        emails.add(person.email.lower())
        phones.add(person.phone)
