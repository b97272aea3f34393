"""Site content with synthetic people planted in it, and a record of what was
planted where, so a crawl test can assert recall exactly.

    enrolled = make_people(50, seed=1)            # enrolled in vahti's watchlist
    decoys = make_people(30, seed=99)             # never enrolled: must not be reported
    pastes = plant_paste_texts(enrolled[:20], decoys[:10], random.Random(7))
    for p in pastes: site.add_paste(p.text)
    expected = Planted.union(pastes)              # .refs_by_type["hetu"], .fragment_refs

Each planted person gets some of their identifiers (hetu, e-mail, phone; each
in one of a few spellings that vahti must read) and/or a 40-word excerpt of
their note. Decoys are planted the same way but are not recorded: they are
valid identifiers of people vahti does not watch. Refs of `make_people` lists
restart at P0000000 for every seed, so decoy refs would collide with enrolled
ones; hence decoys are never recorded by ref, and a decoy that shares an
identifier value with an enrolled person is left out.

Filler lines come from `vahti.demo.synthetic.noise_line`, minus any line that happens
to contain an enrolled person's e-mail or phone.
"""

from __future__ import annotations

import csv
import io
import random
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from vahti.demo.synthetic import Person, fi_phone_forms, noise_line, prose

ID_TYPES = ("hetu", "email", "phone")
EXCERPT_WORDS = 40


@dataclass
class Planted:
    """One text and who is in it: refs by identifier type, and refs whose
    note excerpt is in it."""

    text: str
    refs_by_type: dict[str, set[str]] = field(
        default_factory=lambda: {t: set() for t in ID_TYPES})
    fragment_refs: set[str] = field(default_factory=set)

    @property
    def refs(self) -> set[str]:
        """Everyone planted here, by any identifier or by note excerpt."""
        return set().union(*self.refs_by_type.values(), self.fragment_refs)

    @classmethod
    def union(cls, items: Iterable[Planted]) -> Planted:
        """What a set of texts holds together (text is left empty)."""
        total = cls("")
        for item in items:
            for id_type, refs in item.refs_by_type.items():
                total.refs_by_type.setdefault(id_type, set()).update(refs)
            total.fragment_refs |= item.fragment_refs
        return total


@dataclass
class PlantedThread:
    title: str
    posts: list[Planted]

    @property
    def texts(self) -> list[str]:
        return [p.text for p in self.posts]


# -- spellings --------------------------------------------------------------------


def hetu_spellings(hetu: str) -> list[str]:
    """As issued, and with a lower-case check character (common in typed lists)."""
    return [hetu, hetu[:-1] + hetu[-1].lower()]


def email_spellings(email: str) -> list[str]:
    return [email, email.upper(), email.capitalize()]


def phone_spellings(national: str) -> list[str]:
    """National spaced/compact/dashed and international forms."""
    return fi_phone_forms(national)


def note_excerpt(person: Person, rng: random.Random, words: int = EXCERPT_WORDS) -> str:
    """`words` consecutive words of the person's first note."""
    tokens = person.notes[0].split()
    start = rng.randint(0, max(0, len(tokens) - words))
    return " ".join(tokens[start:start + words])


# -- the planter ------------------------------------------------------------------


class _Planter:
    """Shared by the paste, forum and CSV generators: renders people into lines
    and keeps filler clean of enrolled identifiers."""

    def __init__(self, people: Sequence[Person], decoys: Sequence[Person],
                 rng: random.Random, fragment_share: float):
        self.rng = rng
        self.people = list(people)
        self.fragment_share = fragment_share
        self._taken = {p.hetu for p in people} | {p.email.lower() for p in people}
        self._phones = {p.phone for p in people}
        self.decoys = [d for d in decoys
                       if d.hetu not in self._taken and d.email.lower() not in self._taken
                       and d.phone not in self._phones]

    def noise(self) -> str:
        while True:
            line = noise_line(self.rng)
            if "@" not in line:
                return line  # only noise_line's contact lines hold e-mails and phones
            low = line.lower()
            if not any(v in low for v in self._taken) and not any(
                    ph in line for ph in self._phones):
                return line

    def filler(self, lines: int) -> list[str]:
        return [self.noise() for _ in range(lines)]

    def choose(self) -> tuple[tuple[str, ...], bool]:
        """Which identifier types, and whether a note excerpt, to plant for one person
        (at least one of the two)."""
        rng = self.rng
        fragment = rng.random() < self.fragment_share
        if fragment and rng.random() < 0.4:
            return (), True
        k = rng.choice((1, 2, 3, 3))
        return tuple(sorted(rng.sample(ID_TYPES, k), key=ID_TYPES.index)), fragment

    def person_lines(self, person: Person, ids: Sequence[str], fragment: bool) -> list[str]:
        rng = self.rng
        spelled = {
            "hetu": rng.choice(hetu_spellings(person.hetu)),
            "email": rng.choice(email_spellings(person.email)),
            "phone": rng.choice(phone_spellings(person.phone)),
        }
        lines = []
        if ids:
            style = rng.randrange(4)
            values = [spelled[t] for t in ids]
            if style == 0:  # labelled, as in a copied record
                labels = {"hetu": "hetu", "email": "email", "phone": "puh"}
                lines.append(f"Nimi: {person.full_name}, "
                             + ", ".join(f"{labels[t]}: {spelled[t]}" for t in ids))
            elif style == 1:  # a CSV row
                lines.append(";".join([person.full_name, *values]))
            elif style == 2:  # tab-separated, no name
                lines.append("\t".join(values))
            else:  # a combo-list line
                lines.append(" | ".join([*values, f"pw={rng.getrandbits(32):08x}"]))
        if fragment:
            lines.append("")
            lines.extend(textwrap.wrap(note_excerpt(person, rng), 76))
            lines.append("")
        return lines

    def plant(self, slots: list[list[tuple[Person, bool]]], filler: tuple[int, int],
              intro: bool = False) -> list[Planted]:
        """Render each slot (a list of (person, enrolled)) into one text."""
        out = []
        for persons in slots:
            record = Planted("")
            blocks: list[list[str]] = [[line] for line in
                                       self.filler(self.rng.randint(*filler))]
            for person, enrolled in persons:
                ids, fragment = self.choose()
                blocks.insert(self.rng.randint(0, len(blocks)),
                              self.person_lines(person, ids, fragment))
                if enrolled:
                    for t in ids:
                        record.refs_by_type[t].add(person.ref)
                    if fragment:
                        record.fragment_refs.add(person.ref)
            lines = [line for block in blocks for line in block]
            if intro:
                lines.insert(0, prose(self.rng, self.rng.randint(4, 12)).capitalize() + ":")
            record.text = "\n".join(lines) + "\n"
            out.append(record)
        return out

    def scatter(self, n_slots: int) -> list[list[tuple[Person, bool]]]:
        """Every enrolled person and every decoy placed in one random slot."""
        slots: list[list[tuple[Person, bool]]] = [[] for _ in range(n_slots)]
        for person in self.people:
            slots[self.rng.randrange(n_slots)].append((person, True))
        for person in self.decoys:
            slots[self.rng.randrange(n_slots)].append((person, False))
        return slots


# -- public generators ------------------------------------------------------------


def plant_paste_texts(people: Sequence[Person], decoys: Sequence[Person], rng: random.Random,
                      *, texts: int | None = None, fragment_share: float = 0.5,
                      filler: tuple[int, int] = (3, 15)) -> list[Planted]:
    """Paste texts holding every person of `people` (recorded) and of `decoys`
    (not recorded), each once, scattered over `texts` pastes (default: one
    per three people; some pastes may hold nobody)."""
    planter = _Planter(people, decoys, rng, fragment_share)
    n = texts or max(1, -(-len(people) // 3))
    return planter.plant(planter.scatter(n), filler)


def plant_forum_threads(people: Sequence[Person], decoys: Sequence[Person],
                        rng: random.Random, *, threads: int = 4,
                        posts: tuple[int, int] = (1, 25),
                        fragment_share: float = 0.5) -> list[PlantedThread]:
    """Forum threads of `posts` posts each (so some span several pages); every
    person of `people` and `decoys` lands in one random post of one thread."""
    planter = _Planter(people, decoys, rng, fragment_share)
    sizes = [rng.randint(*posts) for _ in range(threads)]
    slots = planter.scatter(sum(sizes))
    planted = planter.plant(slots, (0, 3), intro=True)
    out, at = [], 0
    for i, size in enumerate(sizes):
        title = f"[LEAK] {prose(rng, rng.randint(2, 5))} part {i + 1}"
        out.append(PlantedThread(title, planted[at:at + size]))
        at += size
    return out


def dump_csv(people: Sequence[Person], decoys: Sequence[Person] = (),
             rng: random.Random | None = None, *, delimiter: str = ";") -> str:
    """A customer-database export: name;hetu;email;phone;note (a 40-word note
    excerpt), people and decoys in a shuffled order, identifiers as issued."""
    rng = rng or random.Random(0)
    rows = [*people, *decoys]
    rng.shuffle(rows)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(["nimi", "hetu", "email", "puhelin", "muistiinpano"])
    for p in rows:
        writer.writerow([p.full_name, p.hetu, p.email, p.phone, note_excerpt(p, rng)])
    return out.getvalue()


def plant_dump_csv(people: Sequence[Person], decoys: Sequence[Person], rng: random.Random,
                   *, delimiter: str = ";") -> Planted:
    """`dump_csv` with its record: every person of `people` with all three
    identifiers and a note excerpt."""
    clean = _Planter(people, decoys, rng, 0).decoys
    text = dump_csv(people, clean, rng, delimiter=delimiter)
    refs = {p.ref for p in people}
    return Planted(text, {t: set(refs) for t in ID_TYPES}, set(refs))
