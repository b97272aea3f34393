"""An address with a sub-address tag ("matti+vuoto@example.fi") is delivered to the
mailbox without it (Gmail, Outlook, iCloud, Proton, Fastmail and most mail servers):
a leaked user table holds the address as the user typed it at sign-up, tag and all.
The scan reads it both ways.
"""

from __future__ import annotations

from tests.support.index import synthetic_index
from vahti.demo import synthetic
from vahti.matchers.engine import Scanner, ScanOptions
from vahti.matchers.keys import Key

KEY = Key(bytes(range(32)))
PEOPLE = synthetic.make_people(20, seed=46)
INDEX = synthetic_index(KEY, PEOPLE)
SCANNER = Scanner(INDEX, KEY, ScanOptions(types=frozenset({"email"})))


def refs_in(text: str) -> list[tuple[str, str]]:
    cols = SCANNER.scan_range_columns(text, 0, len(text), "users.csv", "text")
    return [(r, text[s:e]) for r, s, e in zip(cols.refs, cols.starts.tolist(),
                                                cols.ends.tolist(), strict=True)]


def tagged(p: synthetic.Person, tag: str) -> str:
    local, domain = p.email.split("@")
    return f"{local}+{tag}@{domain}"


def test_a_tagged_address_is_found_as_the_mailbox_it_reaches() -> None:
    rows = [f"{i};{tagged(p, 'kauppa' if i % 2 else 'News.Letter')};2024-01-0{i % 9 + 1}"
            for i, p in enumerate(PEOPLE)]
    text = "id;email;created\n" + "\n".join(rows) + "\n"
    found = refs_in(text)
    assert sorted(r for r, _ in found) == sorted(p.ref for p in PEOPLE)
    by_ref = {p.ref: p for p in PEOPLE}
    for ref, span in found:  # the whole written address is the finding's span
        assert span.lower().startswith(by_ref[ref].email.split("@")[0] + "+")
        assert span.endswith("@" + by_ref[ref].email.split("@")[1])


def test_tags_in_every_writing_of_an_address() -> None:
    p = PEOPLE[3]
    local, domain = p.email.split("@")
    host, tld = domain.rsplit(".", 1)
    for text in (f"<{local}+x@{domain}>", f"{local.upper()}+Y@{domain.upper()}",
                 f"{local}+a+b@{domain}", f"{local}+x [at] {host} [dot] {tld}",
                 f"mailto:{local}+x%40{domain}"):
        assert [r for r, _ in refs_in(text)] == [p.ref], text


def test_no_tag_no_other_reading() -> None:
    p = PEOPLE[4]
    local, domain = p.email.split("@")
    for text in (f"+{local}@{domain}", f"x{local}@{domain}", f"{local}-x@{domain}",
                 f"{local}x+@{domain}", f"+@{domain}"):
        assert refs_in(text) == [], text
