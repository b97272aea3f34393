"""vahti.display: what a terminal would interpret is shown escaped, rich markup is
literal, identifiers given where they do not belong are recognised."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import click
import pytest
from rich.table import Table

from vahti.demo.synthetic import make_people
from vahti.display import (
    clean,
    error_text,
    json_visible,
    looks_like_identifier,
    show_error,
    shown_location,
    styled,
)
from vahti.matchers.keys import Key
from vahti.matchers.locations import LocationRedactor
from vahti.safe_console import SafeConsole

PERSON = make_people(1, seed=4)[0]
REPO = Path(__file__).resolve().parents[2]

HOSTILE = [
    ("\x1b[2J", r"\x1b[2J"),  # clear screen
    ("\x1b]0;title\x07", r"\x1b]0;title\x07"),  # window title, bell
    ("over\rwrite", r"over\rwrite"),
    ("back\bspace\x7f", r"back\x08space\x7f"),
    ("\x9b31m", r"\x9b31m"),  # C1 CSI
    ("abc\u202edef", r"abc\u202edef"),  # right-to-left override
    ("\u2066iso\u2069", r"\u2066iso\u2069"),
    ("zero\u200bwidth\u200d\ufeff", r"zero\u200bwidth\u200d\ufeff"),
    ("soft\u00adhyphen", r"soft\xadhyphen"),
    ("line\u2028sep", r"line\u2028sep"),
    ("hangul\u3164filler", r"hangul\u3164filler"),
    ("tag\U000e0041", r"tag\U000e0041"),  # invisible tag characters
    ("byte\udcff", r"byte\udcff"),  # an undecodable file name byte (surrogateescape)
]


@pytest.mark.parametrize(("raw", "shown"), HOSTILE)
def test_clean_shows_what_a_terminal_would_interpret(raw, shown):
    assert clean(raw) == shown


def test_clean_keeps_ordinary_text_and_is_idempotent():
    for text in ("plain ascii [red]x[/]", "Hämeenlinna — ÅÄÖ ✓ 日本", r"C:\path\x1b"):
        assert clean(text) == text
    once = clean("".join(raw for raw, _ in HOSTILE))
    assert clean(once) == once
    assert clean("a\nb\tc") == r"a\nb\tc"
    assert clean("a\nb\tc", one_line=False) == "a\nb\tc"


def test_console_prints_markup_and_controls_literally():
    out = io.StringIO()
    console = SafeConsole(file=out, width=200, soft_wrap=True)
    table = Table("location [/]", title="[bold]t")
    table.add_row("[/]evil[red]\x1b[2J:smile:", styled("[/]x\u202e", "red"))
    console.print(table)
    console.print("[link=http://x]y[/link] [hetu:0123456789abcdef]\x1b[2J")
    text = out.getvalue()
    assert r"[/]evil[red]\x1b[2J:smile:" in text and r"[/]x\u202e" in text
    assert "location [/]" in text and "[bold]t" in text
    assert r"[link=http://x]y[/link] [hetu:0123456789abcdef]\x1b[2J" in text
    assert "\x1b" not in text and "\u202e" not in text


def test_json_visible_is_the_same_json_value():
    value = {"url": "http://x/\x1b[2J\u202e\x7f\x85\U000e0041\udcffä", "n": 1}
    dumped = json.dumps(value, ensure_ascii=False)
    visible = json_visible(dumped)
    assert json.loads(visible) == value
    assert visible.isascii() is False  # "ä" stays readable
    assert clean(visible) == visible  # nothing left for a terminal to interpret


def test_locations_are_shown_as_stored():
    redactor = LocationRedactor(Key(bytes(range(32))))
    raw = f"dump/potilaat/{PERSON.hetu}.txt\x1b[2J"
    shown = shown_location(raw, redactor)
    assert PERSON.hetu not in shown
    assert shown == f"dump/potilaat/{redactor.token('hetu', PERSON.hetu)}.txt\\x1b[2J"


def test_errors_keep_keyed_tokens_whole():
    """Tokens in a path, with keys whose hex holds a digit run of an identifier's shape
    (9 of these 300 were cut by the keyless redactor alone)."""
    people = make_people(300, seed=9)
    for i, p in enumerate(people):
        redactor = LocationRedactor(Key(bytes([i % 256, i // 256]) * 16))
        shown = shown_location(f"dump/potilaat/{p.hetu}.txt", redactor)
        assert error_text(f"no such file or directory: {shown}").endswith(shown)
        assert p.hetu not in error_text(f"dump/{p.hetu}/{shown}")


def test_errors_redact_identifiers_without_a_key():
    assert PERSON.hetu not in error_text(f"no such ref {PERSON.hetu}\x1b[2J")
    assert "\x1b" not in error_text("x\x1b[2J")
    buffer = io.StringIO()
    exc = click.UsageError(f"Got unexpected extra argument ({PERSON.hetu})")
    with contextlib.redirect_stderr(buffer):
        show_error(exc)
    assert "unexpected extra argument" in buffer.getvalue()
    assert PERSON.hetu not in buffer.getvalue()


def test_identifiers_given_as_refs_are_recognised():
    assert looks_like_identifier(PERSON.hetu)
    assert looks_like_identifier(f" {PERSON.hetu.lower()} ")
    assert looks_like_identifier(PERSON.email)
    for ref in ("P0000001", "1234567897", "patient-42", "ASI-123456", ""):
        assert not looks_like_identifier(ref), ref


# Printing that would bypass `clean`: click's echo, a Console of its own, print(),
# raw writes to the standard streams, rich markup helpers. vahti/demo is left out: it
# prints its own synthetic story through a Console of its own (escaping what it shows).
BYPASS = re.compile(r"\bclick\.(?:echo|secho)\(|\bConsole\(|(?<![\w.])print\(|"
                    r"sys\.std(?:out|err)\.write\(|\brich\.markup\b|\btraceback\.print_")
PRINTING_PARTS = ("vahti", "scheduler", "reports", "spiders", "storage", "matchers")


def test_nothing_prints_around_the_display_module():
    offenders = []
    for part in PRINTING_PARTS:
        for path in sorted((REPO / part).rglob("*.py")):
            if path == REPO / "vahti" / "display.py" or "demo" in path.parts:
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if BYPASS.search(line.split("#", 1)[0]):
                    offenders.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert not offenders, "print through vahti.display instead:\n" + "\n".join(offenders)


def test_key_ids_are_kept_whole_even_when_all_digits():
    """A key id is 16 hex digits, all decimal about once in 2,000 keys: such an id was
    shown as [redacted] in the key-mismatch error, which then named no key."""
    text = error_text("written with key id 3643869455462698, the key in use has id "
                      "6dcdc743c64411c8; 131052-308T")
    assert "key id 3643869455462698" in text and "has id 6dcdc743c64411c8" in text
    assert "131052-308T" not in text
