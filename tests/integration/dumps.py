"""Generated leak dumps in every format vahti must read, with a record of what
was planted where.

Each planted identifier is written in one of the spellings leaks use (mangled
dashes, lower-case check characters, full-width digits, zero-width characters,
HTML entities, JSON escapes, e-mail and phone obfuscations), and each person
lands in one file of one format: paste text, CSV, SQL, JSON, HTML, UTF-16,
cp1252, and inside zip (nested), tar.gz, 7z and gz archives. `Planted` lists
(location, ref, id_type) so a test can compute recall and spot any finding
that was not planted.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import py7zr

from vahti.demo.notegen import NoteGen
from vahti.demo.synthetic import Person

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def hetu_spellings(hetu: str) -> list[str]:
    date, sign, rest = hetu[:6], hetu[6], hetu[7:]
    return [
        hetu,
        hetu[:-1] + hetu[-1].lower(),
        f"{date}{'–' if sign == '-' else sign}{rest}",  # en dash
        f"{date}{'−' if sign == '-' else sign}{rest}",  # minus sign
        f"{date}{sign}\n{rest}",
        f"{date} {sign}{rest}",
        f"{date}{sign}{rest}".translate(FULLWIDTH),
        f"{date[:3]}\u200b{date[3:]}{sign}{rest}",
    ]


def email_spellings(email: str) -> list[str]:
    local, domain = email.split("@")
    return [email, email.upper(), f"{local} [at] {domain.replace('.', ' [dot] ')}",
            f"{local}(at){domain}", f"{local} at {domain}"]


def phone_spellings(national: str) -> list[str]:
    digits = national.replace(" ", "")
    e164 = "+358" + digits[1:]
    return [national, digits, e164, f"+358 {digits[1:3]} {digits[3:]}",
            f"{digits[:3]}-{digits[3:]}", "00358" + digits[1:]]


def _cp1252(text: str) -> bool:
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class Planted:
    expected: set[tuple[str, str, str]] = field(default_factory=set)  # (location, ref, type)
    fragments: set[tuple[str, str]] = field(default_factory=set)  # (location, ref)

    def add(self, location: str, person: Person, types: tuple[str, ...]) -> None:
        for t in types:
            self.expected.add((location, person.ref, t))


FORMATS = ("paste.txt", "rows.csv", "dump.sql", "export.json", "forum.html", "utf16.txt",
           "cp1252.txt", "zip", "tar.gz", "7z", "gz")


def _line(person: Person, n: int, fmt: str) -> tuple[str, tuple[str, ...]]:
    """One record of a person in a format; returns (text, identifier types written)."""
    hetu = hetu_spellings(person.hetu)[n % 8]
    email = email_spellings(person.email)[n % 5]
    phone = phone_spellings(person.phone)[n % 6]
    if fmt == "cp1252.txt":
        # only the spellings cp1252 can hold: no minus sign, full-width or zero-width
        spellings = [h for h in hetu_spellings(person.hetu) if _cp1252(h)]
        hetu = spellings[n % len(spellings)]
    if fmt == "forum.html":
        hetu = person.hetu.replace("-", "&#45;") if n % 2 else person.hetu.replace("-", "&minus;")
        return (f"<div class='post'><p>{person.full_name}, {hetu}<br>"
                f"{email} &middot; {phone}</p></div>"), ("hetu", "email", "phone")
    if fmt == "dump.sql":
        name = person.full_name.replace("'", "''")
        return (f"INSERT INTO patients VALUES ('{name}', '{hetu}', '{email}', '{phone}');",
                ("hetu", "email", "phone"))
    if fmt in ("export.json", "7z"):
        return json.dumps({"name": person.full_name, "ssn": hetu, "mail": email,
                           "tel": phone}), ("hetu", "email", "phone")
    if fmt in ("rows.csv", "zip"):
        return f"{person.full_name};{hetu};{email};{phone}", ("hetu", "email", "phone")
    return f"{person.full_name} {hetu} {email} {phone}", ("hetu", "email", "phone")


def write_dumps(root: Path, enrolled: list[Person], decoys: list[Person],
                excerpts_of: list[Person], seed: int = 3) -> Planted:
    rng = random.Random(seed)
    gen = NoteGen(seed)
    planted = Planted()
    root.mkdir(parents=True, exist_ok=True)
    buckets: dict[str, list[tuple[str, Person | None, tuple[str, ...]]]] = {f: [] for f in FORMATS}
    everyone = [(p, True) for p in enrolled] + [(p, False) for p in decoys]
    rng.shuffle(everyone)
    for n, (person, is_enrolled) in enumerate(everyone):
        fmt = FORMATS[n % len(FORMATS)]
        text, types = _line(person, n, fmt)
        buckets[fmt].append((text, person if is_enrolled else None, types))
    for n, person in enumerate(excerpts_of):
        fmt = ("paste.txt", "forum.html", "export.json", "zip")[n % 4]
        excerpt = gen.excerpt(person.notes[0], 45, edits=2)
        if fmt == "forum.html":
            excerpt = excerpt.replace("\n", "<br>\n")
        if fmt == "export.json":
            excerpt = json.dumps({"post": excerpt})
        buckets[fmt].append((excerpt, person, ("fragment",)))

    def lines_with_filler(fmt: str) -> tuple[str, list[tuple[int, Person | None, tuple]]]:
        out, placed, offset = [], [], 0
        for text, person, types in buckets[fmt]:
            filler = gen.prose(rng.randint(5, 40))
            out.append(filler)
            offset += len(filler) + 1
            placed.append((offset, person, types))  # where the planted text starts
            out.append(text)
            offset += len(text) + 1
        return "\n".join(out) + "\n", placed

    def record(location: str, placed) -> None:
        for _, person, types in placed:
            if person is None:
                continue
            if types == ("fragment",):
                planted.fragments.add((location, person.ref))
            else:
                planted.add(location, person, types)

    for fmt in ("paste.txt", "rows.csv", "dump.sql", "export.json", "forum.html"):
        text, placed = lines_with_filler(fmt)
        if fmt == "forum.html":
            text = f"<!doctype html><html><body>{text}</body></html>"
        (root / fmt).write_text(text, encoding="utf-8")
        record(str(root / fmt), placed)
    text, placed = lines_with_filler("utf16.txt")
    (root / "utf16.txt").write_bytes(text.encode("utf-16"))
    record(str(root / "utf16.txt"), placed)
    text, placed = lines_with_filler("cp1252.txt")
    (root / "cp1252.txt").write_bytes(text.encode("cp1252"))
    record(str(root / "cp1252.txt"), placed)

    # zip: half in a CSV member, half in a text member of a zip nested inside it
    text, placed = lines_with_filler("zip")
    half = len(text) // 2
    cut = text.index("\n", half) + 1
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("part2.txt", text[cut:])
    with zipfile.ZipFile(root / "leak.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("part1.csv", text[:cut])
        z.writestr("inner.zip", inner.getvalue())
    record(f"{root / 'leak.zip'}!part1.csv", [p for p in placed if p[0] < cut])
    record(f"{root / 'leak.zip'}!inner.zip!part2.txt", [p for p in placed if p[0] >= cut])

    text, placed = lines_with_filler("tar.gz")
    data = text.encode()
    with tarfile.open(root / "leak.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("dump/people.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    record(f"{root / 'leak.tar.gz'}!dump/people.txt", placed)

    text, placed = lines_with_filler("7z")
    with py7zr.SevenZipFile(root / "leak.7z", "w") as z:
        z.writestr(text.encode(), "export.jsonl")
    record(f"{root / 'leak.7z'}!export.jsonl", placed)

    text, placed = lines_with_filler("gz")
    (root / "paste.log.gz").write_bytes(gzip.compress(text.encode()))
    record(f"{root / 'paste.log.gz'}!paste.log", placed)
    return planted
