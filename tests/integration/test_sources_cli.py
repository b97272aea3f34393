"""`vahti sources add|list|remove|enable|disable|check` end to end, and what they leave behind."""

from __future__ import annotations

import json
import os
import stat
import tomllib

import pytest

from tests.privacy import assert_no_plaintext, everything_written

pytestmark = pytest.mark.integration

SECRET = "Tr0ub4dor-and-3-more-words"
FORUM_USER = "watcher-account-77"


def add_forum(vahti, *extra: str, env: dict[str, str] | None = None):
    return vahti.run("sources", "add", "board", "--kind", "forum",
                     "--url", "http://forumxyz.onion/", "--schedule", "every 2h",
                     "--option", "login_url=http://forumxyz.onion/login",
                     "--option", "username_env=BOARD_USER",
                     "--option", "password_env=BOARD_PASS", *extra, extra_env=env)


def test_add_list_enable_disable_remove(vahti):
    added = vahti.run("sources", "add", "pastes", "--kind", "paste_listing",
                      "--url", "http://pastes.onion/lists", "--schedule", "every 30m",
                      "--option", "listing_pages=3", "--concurrency", "2", "--delay", "0.5")
    assert added.returncode == 0, added.stderr
    assert "added source pastes" in added.stdout and "via Tor" in added.stdout
    path = vahti.home / "sources.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = tomllib.loads(path.read_text())
    assert data["sources"]["pastes"]["options"] == {"listing_pages": 3}
    assert data["sources"]["pastes"]["concurrency"] == 2

    again = vahti.run("sources", "add", "pastes", "--kind", "url", "--url", "https://a.example/")
    assert again.returncode == 2 and "already exists" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    site = vahti.run("sources", "add", "files", "--kind", "site", "--url", "https://s.example/",
                     "--direct", "--option", "file_extensions=.zip,.csv",
                     "--option", "follow_files=false", "--isolation", "shared")
    assert site.returncode == 0, site.stderr
    assert "direct (no Tor)" in site.stdout

    listed = json.loads(vahti.run("sources", "list", "--json").stdout)
    assert [s["name"] for s in listed] == ["files", "pastes"]
    files, pastes = listed
    assert files["direct"] is True and files["isolation_group"] == "shared"
    assert files["options"] == {"file_extensions": [".zip", ".csv"], "follow_files": False}
    assert pastes["schedule"] == "every 30m" and pastes["isolation_group"] == "pastes"
    assert pastes["delay_s"] == 0.5 and pastes["max_page_bytes"] is None
    table = vahti.run("sources", "list")
    assert table.returncode == 0 and "pastes" in table.stdout and "direct" in table.stdout

    assert vahti.run("sources", "disable", "pastes").stdout.strip() == "source pastes disabled"
    assert "already disabled" in vahti.run("sources", "disable", "pastes").stdout
    listed = json.loads(vahti.run("sources", "list", "--json").stdout)
    assert [s["enabled"] for s in listed] == [True, False]
    assert vahti.run("sources", "enable", "pastes").returncode == 0
    assert json.loads(vahti.run("sources", "list", "--json").stdout)[1]["enabled"] is True

    replaced = vahti.run("sources", "add", "pastes", "--kind", "url",
                         "--url", "https://a.example/x", "--replace")
    assert replaced.returncode == 0 and "replaced source pastes" in replaced.stdout
    assert json.loads(vahti.run("sources", "list", "--json").stdout)[1]["kind"] == "url"

    assert vahti.run("sources", "remove", "pastes").returncode == 0
    absent = vahti.run("sources", "remove", "pastes")
    assert absent.returncode == 2 and "no source pastes" in absent.stderr
    for verb in ("enable", "disable"):
        assert vahti.run("sources", verb, "pastes").returncode == 2
    assert [s["name"] for s in json.loads(vahti.run("sources", "list", "--json").stdout)] == [
        "files"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_bad_definitions_are_refused_in_one_line(vahti):
    cases = [
        (("Bad", "--kind", "url", "--url", "https://a.example/"), "name"),
        (("x", "--kind", "irc", "--url", "https://a.example/"), "not one of"),
        (("x", "--url", "https://a.example/"), "--kind is needed"),
        (("x", "--kind", "url", "--url", "ftp://a.example/"), "urls[0]: scheme 'ftp' refused"),
        (("x", "--kind", "url"), "at least one start URL"),
        (("x", "--kind", "url", "--url", "https://a.example/", "--schedule", "every 5 min"),
         "schedule"),
        (("x", "--kind", "url", "--url", "https://a.example/", "--schedule", "0 3 * * 1"),
         "names"),
        (("x", "--kind", "site", "--url", "https://a.example/", "--option", "depth=deep"),
         "--option depth: expected a whole number"),
        (("x", "--kind", "url", "--url", "https://a.example/", "--option", "depth=1"),
         "unknown option for kind url"),
        (("x", "--kind", "url", "--url", "http://abc.onion/", "--direct"), "through Tor"),
    ]
    for args, words in cases:
        result = vahti.run("sources", "add", *args)
        assert result.returncode == 2, args
        assert words in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (vahti.home / "sources.toml").exists()


def test_check_reports_each_source_and_exits_1_on_a_problem(vahti, tmp_path):
    empty = vahti.run("sources", "check")
    assert empty.returncode == 0 and "no sources" in empty.stdout
    assert vahti.run("sources", "add", "one", "--kind", "url",
                     "--url", "https://a.example/").returncode == 0
    assert vahti.run("sources", "check").returncode == 0

    added = add_forum(vahti)
    assert added.returncode == 0, added.stderr
    assert "BOARD_USER is not set" in added.stderr  # a warning, not a refusal
    check = vahti.run("sources", "check", "--json")
    assert check.returncode == 1
    report = json.loads(check.stdout)
    rows = {row["name"]: row for row in report["sources"]}
    assert rows["one"]["ok"] is True and rows["board"]["ok"] is False
    assert "environment variable BOARD_USER is not set" in rows["board"]["problems"][0]

    env = {"BOARD_USER": FORUM_USER}
    human = vahti.run("sources", "check", extra_env=env)
    assert human.returncode == 1
    assert "BOARD_PASS" in human.stdout and "ok" in human.stdout
    ok = vahti.run("sources", "check", "--json", extra_env={**env, "BOARD_PASS": SECRET})
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True

    # a secret file that others can read is a problem; mode 0600 is fine
    secret_file = tmp_path / "board.pw"
    secret_file.write_text(SECRET + "\n")
    os.chmod(secret_file, 0o644)
    replaced = vahti.run("sources", "add", "board", "--kind", "forum", "--replace",
                         "--url", "http://forumxyz.onion/",
                         "--option", "login_url=http://forumxyz.onion/login",
                         "--option", "username_env=BOARD_USER",
                         "--option", f"password_file={secret_file}", extra_env=env)
    assert replaced.returncode == 0, replaced.stderr
    readable = vahti.run("sources", "check", "--json", extra_env=env)
    assert readable.returncode == 1
    problem = {r["name"]: r for r in json.loads(readable.stdout)["sources"]}["board"]["problems"]
    assert "mode 0644" in problem[0] and str(secret_file) in problem[0]
    os.chmod(secret_file, 0o600)
    assert vahti.run("sources", "check", extra_env=env).returncode == 0

    # a hand-edited file with a bad source: check names it, the others are still checked
    path = vahti.home / "sources.toml"
    path.write_text(path.read_text() + '\n[sources.typo]\nkind = "url"\nurl = "https://b/"\n')
    broken = vahti.run("sources", "check", "--json", extra_env=env)
    assert broken.returncode == 1
    rows = {row["name"]: row for row in json.loads(broken.stdout)["sources"]}
    assert rows["one"]["ok"] and rows["board"]["ok"]
    assert "source typo: url: unknown field" in rows["typo"]["problems"][0]
    listed = vahti.run("sources", "list")
    assert listed.returncode == 2 and f"{path}: source typo: url" in listed.stderr


def test_credentials_never_reach_output_or_files(vahti, tmp_path):
    assert vahti.run("init").returncode == 0
    env = {"BOARD_USER": FORUM_USER, "BOARD_PASS": SECRET}
    outputs = []

    refused = vahti.run("sources", "add", "leaky", "--kind", "forum", "--url",
                        "https://f.example/", "--option", f"password={SECRET}")
    assert refused.returncode == 2 and "credentials never go in sources.toml" in refused.stderr
    in_url = vahti.run("sources", "add", "leaky", "--kind", "url",
                       "--url", f"https://{FORUM_USER}:{SECRET}@f.example/")
    assert in_url.returncode == 2 and "user:password@" in in_url.stderr
    outputs += [refused, in_url]

    outputs.append(add_forum(vahti, env=env))
    assert outputs[-1].returncode == 0
    for args in (("list",), ("list", "--json"), ("check",), ("check", "--json"),
                 ("disable", "board"), ("enable", "board")):
        result = vahti.run("sources", *args, extra_env=env)
        assert result.returncode == 0, (args, result.stderr)
        outputs.append(result)
    missing = vahti.run("sources", "check", extra_env={"BOARD_USER": FORUM_USER})
    assert missing.returncode == 1
    outputs.append(missing)

    # a credential written into the file by hand is refused, and not repeated
    path = vahti.home / "sources.toml"
    text = path.read_text()
    path.write_text(text.replace("[sources.board.options]",
                                 f'[sources.board.options]\npassword = "{SECRET}"'))
    for args in (("list",), ("check", "--json"), ("remove", "board")):
        result = vahti.run("sources", *args, extra_env=env)
        assert result.returncode in (1, 2)
        assert "credentials never go" in result.stdout + result.stderr
        outputs.append(result)
    path.write_text(text)

    written = everything_written(vahti, tmp_path / "dump", extra=[
        (f"output #{i}", r.stdout + r.stderr) for i, r in enumerate(outputs)])
    assert_no_plaintext(written, [SECRET, FORUM_USER])
