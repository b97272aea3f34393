"""Text from outside is shown, never interpreted, and never shows an identifier.

File and archive member names, URLs, source names, refs and configuration values
reach the terminal through every command that prints. A crafted name must not
move the cursor, clear the screen, reorder the line (bidi overrides) or hide
text (zero-width characters), and rich markup in it (`[/]`, `[red]`) must not be
read as markup: each is shown visibly escaped. An identifier in a location is
shown as the keyed token that is stored; one given where it does not belong
(`search --ref CODE`, `scan CODE`, a stray argument) is not echoed at all.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest

from tests.privacy import assert_no_plaintext, everything_written
from vahti.demo.synthetic import make_people, register_csv
from vahti.matchers.keys import load_key_file
from vahti.matchers.locations import LocationRedactor

pytestmark = pytest.mark.integration

PEOPLE = make_people(6, seed=1212)
A, B, C, D, E, STRANGER = PEOPLE  # STRANGER is never enrolled

# a file (in a folder "\x1b[2J[") and an archive member named to clear the screen,
# set the window title, break rich markup and reverse the rest of the line
EVIL = "\x1b[2J[/]evil[red]\u202e.txt"
EVIL_SHOWN = r"\x1b[2J[/]evil[red]\u202e.txt"
MEMBER = "\x1b]0;pwned\x07[link=http://x.example]m[/link]\u2066\u200b\r.txt"
MEMBER_SHOWN = r"\x1b]0;pwned\x07[link=http://x.example]m[/link]\u2066\u200b\r.txt"
URL = "http://example.com/\x1b[2J[/]x[red]\u202e"
URL_SHOWN = r"http://example.com/\x1b[2J[/]x[red]\u202e"

# Raw bytes that a terminal interprets: C0 controls but newline and tab, DEL, C1
# controls, bidi controls and invisible formatting characters.
INTERPRETED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e"
                         "\u2060-\u2069\ufeff]")


def run(vahti, *args: str, **kw):
    # wide enough that no table folds a long location across lines
    return vahti.run(*args, extra_env={"COLUMNS": "1000"}, **kw)


def assert_inert(where: str, text: str) -> None:
    m = INTERPRETED.search(text)
    assert m is None, f"{where}: raw U+{ord(m.group()):04X} at {m.start()}: {text[:2000]!r}"
    for sign in ("internal error", "MarkupError", "Traceback"):
        assert sign not in text, f"{where}: {sign}: {text[-2000:]}"


def enroll(vahti, tmp_path: Path, people=PEOPLE[:5]) -> LocationRedactor:
    assert vahti.run("init").returncode == 0
    register = tmp_path / "register.csv"
    register.write_text(register_csv(list(people)), encoding="utf-8")
    result = vahti.run("enroll", str(register))
    register.unlink()
    assert result.returncode == 0, result.stderr
    return LocationRedactor(load_key_file(vahti.home / "key"))


def write_dump(root: Path) -> None:
    (root / "potilaat").mkdir(parents=True)
    (root / EVIL).parent.mkdir()  # "\x1b[2J[" holding "]evil[red]\u202e.txt"
    (root / EVIL).write_text(f"hetu {A.hetu}\n", encoding="utf-8")
    (root / "potilaat" / f"{B.hetu}.txt").write_text(f"{B.hetu}\n", encoding="utf-8")
    with zipfile.ZipFile(root / "arkisto.zip", "w") as zf:
        zf.writestr(MEMBER, f"{C.hetu}\n")
        zf.writestr(f"{D.hetu}.txt", f"{D.hetu}\n")
    # not an archive that opens: skipped, and the skipped line names it
    (root / f"{E.hetu}.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    (root / f"vieras_{STRANGER.hetu}.txt").write_text("nobody here\n", encoding="utf-8")


def plaintext() -> list[str]:
    return [v for p in PEOPLE for v in (p.hetu, p.email)]


def test_hostile_names_in_scan_hunt_search_alerts_and_reports(vahti, tmp_path):
    redactor = enroll(vahti, tmp_path)
    dump = tmp_path / "dump"
    write_dump(dump)
    printed: list[tuple[str, str]] = []

    def check(name: str, result, codes=(0, 1)):
        printed.extend([(f"{name} stdout", result.stdout), (f"{name} stderr", result.stderr)])
        assert result.returncode in codes, f"{name}: {result.returncode} {result.stderr[-2000:]}"
        assert_inert(f"{name} stdout", result.stdout)
        assert_inert(f"{name} stderr", result.stderr)
        return result

    token_b = redactor.token("hetu", B.hetu)
    token_d = redactor.token("hetu", D.hetu)
    token_e = redactor.token("hetu", E.hetu)

    scan = check("scan", run(vahti, "scan", str(dump)), codes=(1,))
    assert EVIL_SHOWN in scan.stdout and MEMBER_SHOWN in scan.stdout
    assert f"potilaat/{token_b}.txt" in scan.stdout and f"arkisto.zip!{token_d}.txt" in scan.stdout
    assert f"{token_e}.zip" in scan.stderr and "skipped" in scan.stderr

    scan_json = check("scan --json", run(vahti, "scan", str(dump), "--json", "--no-store"))
    lines = [json.loads(line) for line in scan_json.stdout.splitlines()]
    locations = {d["location"] for d in lines if "location" in d}
    # the corrupt zip is not read: the last line summarises it, by its token form
    assert lines[-1]["summary"]["skipped"]["inputs"][0]["location"].endswith(f"{token_e}.zip")
    assert str(dump / f"potilaat/{token_b}.txt") in locations  # the stored token form
    assert str(dump / EVIL) in locations  # JSON keeps the name, escaped by json itself

    hunt = check("hunt", run(vahti, "hunt", str(dump)), codes=(1,))
    assert EVIL_SHOWN in hunt.stdout and f"potilaat/{token_b}.txt" in hunt.stdout
    hunted = json.loads(check("hunt --json", run(vahti, "hunt", str(dump), "--json")).stdout)
    shown = {pl["location"] for person in hunted["found"] for pl in person["locations"]}
    assert str(dump / f"potilaat/{token_b}.txt") in shown

    query = "".join(f"{p.hetu}\n" for p in (A, B, C, D))
    search = check("search", run(vahti, "search", input=query), codes=(1,))
    assert EVIL_SHOWN in search.stdout and MEMBER_SHOWN in search.stdout
    assert f"potilaat/{token_b}.txt" in search.stdout  # the token is shown, not eaten as markup
    check("search --json", run(vahti, "search", "--json", input=query), codes=(1,))
    check("search --ref", run(vahti, "search", "--ref", A.ref), codes=(1,))

    check("alerts raise", run(vahti, "alerts", "raise"))
    alerts = check("alerts list", run(vahti, "alerts", "list"))
    assert EVIL_SHOWN in alerts.stdout and token_b in alerts.stdout
    check("alerts list --json", run(vahti, "alerts", "list", "--json"))

    for fmt in ("md", "html", "json"):
        report = check(f"report {fmt}", run(vahti, "report", "weekly", "--format", fmt))
        assert "evil" in report.stdout
        out = tmp_path / f"report.{fmt}"
        check(f"report {fmt} --out", run(vahti, "report", "weekly", "--format", fmt,
                                         "--out", str(out)))
        assert_inert(f"report.{fmt}", out.read_text(encoding="utf-8"))

    forget = check("forget", run(vahti, "forget", "--ref", A.ref, "--yes"))
    assert A.ref in forget.stdout

    written = everything_written(vahti, tmp_path / "db-dump", extra=printed)
    assert_no_plaintext(written, plaintext())


def test_sources_with_hostile_urls_and_names(vahti, tmp_path):
    assert vahti.run("init").returncode == 0
    added = run(vahti, "sources", "add", "crafted", "--kind", "url", "--url", URL)
    assert added.returncode == 0, added.stderr
    listed = run(vahti, "sources", "list")
    assert listed.returncode == 0, listed.stderr
    assert_inert("sources list", listed.stdout + listed.stderr)
    assert URL_SHOWN in listed.stdout

    # a hand-edited sources.toml: a table named to clear the screen and break markup
    path = vahti.home / "sources.toml"
    path.write_text(path.read_text(encoding="utf-8")
                    + '\n[sources."\\u001b[2J[/]bad[red]\\u202e"]\nkind = "url"\n'
                      'urls = ["http://example.org/[/]"]\n', encoding="utf-8")
    for args, codes in ((("sources", "check"), (1,)), (("sources", "check", "--json"), (1,)),
                        (("jobs", "list"), (0,)), (("jobs", "list", "--json"), (0,)),
                        (("sources", "list"), (2,)), (("status",), (0,)),
                        (("jobs", "run", "\x1b[2J[/]x"), (2,))):
        result = run(vahti, *args)
        assert result.returncode in codes, f"{args}: {result.returncode} {result.stderr}"
        assert_inert(" ".join(args), result.stdout + result.stderr)
    checked = run(vahti, "sources", "check")
    assert r"\x1b[2J[/]bad[red]\u202e" in checked.stdout and "crafted" in checked.stdout


def test_status_and_config_show_with_markup_in_home_and_settings(vahti, tmp_path):
    home = tmp_path / "h\x1b[2J[/]ome[red]"
    env_home = ("--home", str(home))
    assert vahti.run(*env_home, "init").returncode == 0
    config = home / "config.toml"
    text = config.read_text(encoding="utf-8")
    assert '# customer_id_pattern = "ASI-[0-9]{6}"' in text
    config.write_text(text.replace('# customer_id_pattern = "ASI-[0-9]{6}"',
                                   'customer_id_pattern = "[a-z]{2}[0-9]{6}"'), encoding="utf-8")
    # a channel whose file is named to clear the screen and colour the rest
    siem = tmp_path / "\x1b[2J[red]siem.jsonl"
    with config.open("a", encoding="utf-8") as fh:
        fh.write('\n[channels.siem]\ntype = "stdout"\npath = "'
                 + str(siem).replace("\x1b", "\\u001b") + '"\n')
    for args in (("status",), ("config", "show"), ("init",)):
        result = run(vahti, *env_home, *args)
        assert result.returncode == 0, f"{args}: {result.stderr}"
        assert_inert(" ".join(args), result.stdout + result.stderr)
        assert r"h\x1b[2J[/]ome[red]" in result.stdout
    shown = run(vahti, *env_home, "config", "show").stdout
    assert "[a-z]{2}[0-9]{6}" in shown
    channels = run(vahti, *env_home, "alerts", "channels")
    assert channels.returncode == 0, channels.stderr
    assert_inert("alerts channels", channels.stdout + channels.stderr)
    assert r"\x1b[2J[red]siem.jsonl" in channels.stdout
    sent = run(vahti, *env_home, "alerts", "test", "siem")
    assert sent.returncode == 0, sent.stderr
    assert_inert("alerts test", sent.stdout + sent.stderr)
    assert_inert("siem.jsonl", siem.read_text(encoding="utf-8"))


def test_identifiers_given_in_the_wrong_place_are_not_echoed(vahti, tmp_path):
    redactor = enroll(vahti, tmp_path)
    printed: list[tuple[str, str]] = []

    def refused(*args: str, code: int = 2, stdin: str | None = None) -> str:
        result = run(vahti, *args, input=stdin)
        printed.extend([(f"{args} stdout", result.stdout), (f"{args} stderr", result.stderr)])
        assert result.returncode == code, f"{args}: {result.returncode} {result.stderr}"
        assert_inert(f"{args}", result.stdout + result.stderr)
        return result.stderr

    for args in (("search", "--ref", A.hetu), ("search", "--ref", B.email),
                 ("forget", "--ref", A.hetu, "--yes")):
        err = refused(*args)
        assert "looks like an identifier" in err and "vahti search" in err
    assert redactor.token("hetu", A.hetu) in refused("scan", A.hetu)
    assert redactor.token("hetu", A.hetu) in refused("hunt", A.hetu)
    assert "extra argument" in refused("forget", "--ref", A.ref, A.hetu)
    assert "No such command" in refused(A.hetu)
    assert "No such option" in refused("scan", f"--{A.hetu}")
    assert "--state" in refused("alerts", "list", "--state", A.hetu)
    refused("search", "--ref", B.ref, C.hetu)
    # not an identifier: named, but escaped
    err = refused("search", "--ref", "\x1b[2J[/]x")
    assert r"\x1b[2J[/]x" in err
    err = refused("forget", "--ref", "\x1b[2J[/]x", "--yes")
    assert r"\x1b[2J[/]x" in err

    written = everything_written(vahti, tmp_path / "db-dump", extra=printed)
    assert_no_plaintext(written, plaintext())
