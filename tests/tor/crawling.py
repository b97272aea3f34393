"""Helpers for the crawl tests: a vahti home wired to the private Tor network,
enrolled synthetic people, and what the crawl stored."""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

from vahti.demo.sites.content import Planted
from vahti.demo.synthetic import Person, make_people, register_csv


@dataclass
class Cast:
    """The people of one test: enrolled ones (some planted on the site) and decoys."""

    enrolled: list[Person]
    decoys: list[Person]
    rng: random.Random

    @classmethod
    def make(cls, seed: int, enrolled: int = 30, decoys: int = 15) -> Cast:
        people = make_people(enrolled + decoys, seed=seed)
        for i, p in enumerate(people[enrolled:]):
            p.ref = f"DECOY-{seed}-{i}"  # never enrolled
        return cls(people[:enrolled], people[enrolled:], random.Random(seed))

    def plaintext(self) -> list[str]:
        values = []
        for p in self.enrolled + self.decoys:
            values += [p.hetu, p.email, p.phone, p.full_name, " ".join(p.notes[0].split()[:12])]
        return values


DNS_AUDIT = Path(__file__).resolve().parent.parent / "support" / "dns_audit"
LOOPBACK_NAMES = {"127.0.0.1", "localhost"}


def prepare(vahti, tor_network, cast: Cast, tmp_path: Path) -> None:
    """init + enroll, and this tor as an external one (VAHTI_TOR_SOCKS/CONTROL).

    Every vahti process of the test records the names it resolves (an audit hook,
    `tests/support/dns_audit`); `crawl()` fails on any name but loopback's."""
    vahti.env["VAHTI_TOR_SOCKS"] = f"127.0.0.1:{tor_network.socks_port}"
    vahti.env["VAHTI_TOR_CONTROL"] = f"127.0.0.1:{tor_network.control_port}"
    vahti.env["PYTHONPATH"] = os.pathsep.join([str(DNS_AUDIT), vahti.env["PYTHONPATH"]])
    vahti.env["VAHTI_TEST_DNS_LOG"] = str(tmp_path / "dns.log")
    assert vahti.run("init").returncode == 0
    register = tmp_path / "register.csv"
    register.write_text(register_csv(cast.enrolled))
    enrolled = vahti.run("enroll", str(register))
    assert enrolled.returncode == 0, enrolled.stderr
    register.unlink()


def add_source(vahti, name: str, kind: str, url: str, *extra: str) -> None:
    added = vahti.run("sources", "add", name, "--kind", kind, "--url", url, *extra)
    assert added.returncode == 0, added.stderr


def crawl(vahti, name: str, *, expect: tuple[int, ...] = (0, 1), timeout: float = 240) -> dict:
    result = vahti.run("crawl", name, "--json", timeout=timeout)
    assert result.returncode in expect, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert resolved_names(vahti) <= LOOPBACK_NAMES, resolved_names(vahti)
    return json.loads(result.stdout.strip().splitlines()[-1])


def resolved_names(vahti, command: str = "crawl") -> set[str]:
    """Every host name the `vahti COMMAND` processes of this test asked a resolver
    about (alert channels may resolve their mail server; crawls resolve nothing)."""
    log = Path(vahti.env.get("VAHTI_TEST_DNS_LOG", "/nonexistent"))
    lines = log.read_text().splitlines() if log.exists() else []
    return {parts[1] for parts in (line.split(" ") for line in lines)
            if len(parts) >= 3 and parts[2] == command}


def stored(vahti, collection: str, query: dict | None = None) -> list[dict]:
    return vahti.stored(collection, query)


def found_by_type(vahti) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for s in stored(vahti, "sightings"):
        out.setdefault(s["id_type"], set()).add(s["ref"])
    return out


def assert_found_exactly(vahti, planted: Planted) -> None:
    """Every planted identifier and notes fragment found, nobody else."""
    found = found_by_type(vahti)
    for id_type, refs in planted.refs_by_type.items():
        if refs:
            assert found.get(id_type, set()) == refs, (
                id_type, sorted(refs - found.get(id_type, set()))[:5],
                sorted(found.get(id_type, set()) - refs)[:5])
    fragments = found.get("fragment", set())
    assert fragments <= planted.fragment_refs, sorted(fragments - planted.fragment_refs)[:5]
    assert len(fragments) >= 0.9 * len(planted.fragment_refs), (
        len(fragments), len(planted.fragment_refs))
    everyone = set().union(*found.values()) if found else set()
    assert not any(ref.startswith("DECOY-") for ref in everyone)
    assert everyone <= planted.refs
