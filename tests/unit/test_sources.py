"""Source definitions: validation, the sources.toml round trip, credentials, option typing."""

from __future__ import annotations

import os
import stat

import pytest

from vahti.config import load_config
from vahti.spiders.sources import (
    DEFAULT_CONTENT_TYPES,
    KIND_OPTIONS,
    Source,
    SourcesError,
    check_source,
    edit_sources,
    load_sources,
    parse_duration,
    parse_option,
    read_sources,
    resolve_credentials,
    save_sources,
    sources_path,
    validate_schedule,
)

SECRET = "correct-horse-battery-staple-42"


def forum(**options) -> Source:
    opts = {"login_url": "https://forum.example/login", "username_env": "F_USER",
            "password_env": "F_PASS", **options}
    if "password_file" in options:
        opts.pop("password_env")
    return Source("forum1", "forum", ("https://forum.example/",), options=opts)


def write(path, text: str) -> None:
    path.write_text(text)


def test_defaults():
    s = Source("pastes", "paste_listing", ("http://abc.onion/list",))
    assert (s.schedule, s.enabled, s.direct) == ("every 1h", True, False)
    assert (s.concurrency, s.delay_s, s.max_page_bytes) == (None, None, None)
    assert s.isolation_group == "pastes"
    assert s.content_types == DEFAULT_CONTENT_TYPES
    assert s.time_limit_s == 3600.0 and s.expect_new_within == ""
    assert dict(s.options) == {}
    assert len({s, Source("pastes", "paste_listing", ["http://abc.onion/list"])}) == 1
    assert s.option("listing_pages") == 1
    assert s.option("raw_url") == "{origin}/raw/{id}"
    with pytest.raises(KeyError):
        s.option("depth")
    site = Source("s", "site", ["https://s.example/"], isolation="shared")
    assert site.urls == ("https://s.example/",)  # lists become tuples
    assert site.isolation_group == "shared"
    assert site.option("file_extensions") == KIND_OPTIONS["site"]["file_extensions"]
    assert site.option("follow_files") is True


def test_effective_fills_unset_limits_from_config(tmp_path):
    cfg = load_config(environ={"VAHTI_HOME": str(tmp_path), "VAHTI_CRAWL_CONCURRENCY": "3"})
    s = Source("u", "url", ("https://a.example/x",), delay_s=2)
    eff = s.effective(cfg)
    assert eff.concurrency == 3 and eff.delay_s == 2.0
    assert eff.max_page_bytes == cfg.get("crawl.max_page_bytes")
    assert eff.isolation == "u"


def test_content_types_patterns():
    s = Source("u", "url", ("https://a.example/x",))
    assert s.accepts_content_type("text/html; charset=utf-8")
    assert s.accepts_content_type("application/x-7z-compressed")
    assert not s.accepts_content_type("image/png")
    only = Source("u", "url", ("https://a.example/x",), content_types=["Image/*"])
    assert only.content_types == ("image/*",) and only.accepts_content_type("image/png")


# What servers call the formats vahti reads (matchers.archives, matchers.documents).
READ_FORMATS = [
    "application/pdf", "application/msword", "application/vnd.ms-powerpoint",
    "application/vnd.ms-excel", "application/vnd.ms-outlook", "application/vnd.ms-tnef",
    "application/ms-tnef", "application/rtf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation", "message/rfc822", "application/mbox",
    "application/vnd.sqlite3", "application/x-sqlite3", "application/vnd.rar",
    "application/x-rar-compressed", "application/x-rar", "application/zstd",
    "application/x-zstd", "application/x-gtar", "application/x-bzip", "application/x-lz4",
    "application/x-lzip", "application/x-compress", "application/dicom",
]


def test_the_default_content_types_take_every_format_vahti_reads():
    """A leak site's .rar or .pdf (application/vnd.rar, application/pdf) was not fetched
    by default: "skipped:content-type", one line in a crawl record."""
    s = Source("u", "url", ("https://a.example/x",))
    assert [t for t in READ_FORMATS if not s.accepts_content_type(t)] == []


def test_round_trip(tmp_path):
    path = sources_path(tmp_path / "home")
    sources = {
        "pastes": Source("pastes", "paste_listing", ("http://abc.onion/list",),
                         schedule="every 30m", options={"listing_pages": 3}),
        "forum1": forum(board_link=r"/forums/\d+", max_board_pages=2),
        "files": Source("files", "site", ("https://s.example/", "https://s.example/b"),
                        schedule="15 3 * * mon-fri", enabled=False, direct=True, concurrency=2,
                        delay_s=1.5, isolation="grp", max_page_bytes=1000,
                        content_types=("text/*",), time_limit_s=60, expect_new_within="1d",
                        options={"depth": 1, "follow_files": False,
                                 "file_extensions": [".zip", ".csv"]}),
        "one": Source("one", "url", ("https://a.example/x?y=1",)),
    }
    save_sources(path, sources)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert text.startswith("# vahti sources")
    assert "[sources.pastes.options]" in text
    assert "concurrency" not in text.split("[sources.one]")[1]  # defaults are not written
    loaded = load_sources(path)
    assert loaded == sources
    assert list(loaded) == sorted(sources)
    assert loaded["files"].option("file_extensions") == (".zip", ".csv")
    save_sources(path, loaded)
    assert path.read_text() == text
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_missing_file_is_empty(tmp_path):
    assert load_sources(tmp_path / "sources.toml") == {}


def test_edit_sources_saves_under_a_lock(tmp_path):
    path = tmp_path / "h" / "sources.toml"
    with edit_sources(path) as sources:
        sources["one"] = Source("one", "url", ("https://a.example/",))
    assert list(load_sources(path)) == ["one"]
    with pytest.raises(RuntimeError), edit_sources(path) as sources:
        del sources["one"]
        raise RuntimeError("not saved")
    assert list(load_sources(path)) == ["one"]


@pytest.mark.parametrize("kwargs, field, words", [
    ({"name": "Bad Name"}, "name", "a-z"),
    ({"name": "-x"}, "name", "a-z"),
    ({"name": "x" * 64}, "name", "1-63"),
    ({"kind": "irc"}, "kind", "not one of"),
    ({"urls": ("ftp://a.example/",)}, "urls[0]", "http or https"),
    ({"urls": ("file:///etc/passwd",)}, "urls[0]", "http or https"),
    ({"urls": ("https://",)}, "urls[0]", "no host"),
    ({"urls": ()}, "urls", "at least one"),
    ({"urls": "https://a.example/"}, "urls", "list"),
    ({"kind": "url", "urls": ("https://a.example/", "https://b.example/")}, "urls", "exactly one"),
    ({"urls": ("https://a.example/", "https://a.example/")}, "urls", "twice"),
    ({"schedule": "hourly"}, "schedule", "every 30m"),
    ({"schedule": "every 5x"}, "schedule", "unit"),
    ({"schedule": "every 0m"}, "schedule", "longer than zero"),
    ({"schedule": "61 * * * *"}, "schedule", "cron"),
    ({"schedule": "0 3 * * 1"}, "schedule", "names"),
    ({"direct": "yes"}, "direct", "true or false"),
    ({"direct": True, "urls": ("http://abc.onion/",)}, "direct", "through Tor"),
    ({"concurrency": 0}, "concurrency", "at least 1"),
    ({"concurrency": True}, "concurrency", "whole number"),
    ({"delay_s": -1}, "delay_s", "at least 0"),
    ({"max_page_bytes": 1.5}, "max_page_bytes", "whole number"),
    ({"time_limit_s": 0}, "time_limit_s", "more than 0"),
    ({"isolation": "a b"}, "isolation", "characters"),
    ({"content_types": ("html",)}, "content_types", "media type"),
    ({"content_types": ()}, "content_types", "non-empty"),
    ({"expect_new_within": "soon"}, "expect_new_within", "unit"),
    ({"options": {"depth": 1}}, "options.depth", "unknown option for kind paste_listing"),
    ({"options": {"listing_pages": 0}}, "options.listing_pages", "at least 1"),
    ({"options": {"listing_pages": "2"}}, "options.listing_pages", "whole number"),
    ({"options": {"paste_link": "/p/("}}, "options.paste_link", "regular expression"),
    ({"options": {"paste_link": "/p/[a-z]+"}}, "options.paste_link", "group"),
    ({"options": {"raw_url": "{origin}/raw"}}, "options.raw_url", "{id}"),
    ({"options": {"raw_url": "ftp://x/{id}"}}, "options.raw_url", "http or https"),
])
def test_validation_errors_name_source_and_field(kwargs, field, words):
    args = {"name": "src", "kind": "paste_listing", "urls": ("https://a.example/",), **kwargs}
    with pytest.raises(SourcesError) as err:
        Source(**args)
    message = str(err.value)
    assert f": {field}: " in message
    assert words in message
    if args["name"] == "src":
        assert message.startswith("source src: ")


ONION = "a" * 56 + ".onion"


@pytest.mark.parametrize("host", [
    f"{ONION}.", ONION.upper(), ONION.replace(".onion", "\u3002onion"),
    ONION.replace(".onion", "\uff0eonion"), ONION.replace(".onion", "\uff61onion"),
    ONION.replace(".onion", ".\uff4f\uff4e\uff49\uff4f\uff4e"),
    ONION.replace(".onion", "%2Eonion"), ONION.replace(".onion", ".xn--onion-"),
])
def test_direct_refuses_every_spelling_of_an_onion(host):
    with pytest.raises(SourcesError, match="direct: .onion addresses can only be fetched "
                                           "through Tor"):
        Source("x", "url", (f"http://{host}/",), direct=True)
    Source("x", "url", (f"http://{host}/",))  # through Tor: fine


@pytest.mark.parametrize("kind, options", [
    ("forum", {"login_url": f"http://{ONION}./login", "username_env": "U",
               "password_env": "P"}),
    ("paste_listing", {"raw_url": f"http://{ONION.upper()}/raw/{{id}}"}),
])
def test_direct_refuses_an_onion_in_an_url_option(kind, options):
    with pytest.raises(SourcesError, match="can only be fetched through Tor"):
        Source("x", kind, ("http://intranet.example/",), direct=True, options=options)


@pytest.mark.parametrize("host", ["relay.exit", "site.i2p", "SITE.I2P."])
def test_direct_refuses_other_special_use_names(host):
    with pytest.raises(SourcesError, match="never resolved locally"):
        Source("x", "url", (f"http://{host}/",), direct=True)


def test_url_with_credentials_is_refused_without_echo():
    with pytest.raises(SourcesError, match="credentials never go") as err:
        Source("u", "url", (f"https://bob:{SECRET}@a.example/",))
    assert SECRET not in str(err.value)


@pytest.mark.parametrize("options, field, words", [
    ({"login_url": "", "username_env": "U"}, "options.username_env", "login_url is empty"),
    ({"username_env": ""}, "options.username_env", "needs the environment variable"),
    ({"password_env": ""}, "options.password_env", "exactly one"),
    ({"password_file": "/x/pw"}, "options.password_env", "exactly one"),
    ({"username_env": "NOT-A-VAR"}, "options.username_env", "environment variable name"),
    ({"login_url": "gopher://x/"}, "options.login_url", "http or https"),
    ({"thread_link": "("}, "options.thread_link", "regular expression"),
    ({"post_id": "post-\\d+"}, "options.post_id", "group"),
])
def test_forum_validation(options, field, words):
    base = {"login_url": "https://f.example/login", "username_env": "U", "password_env": "P"}
    if "password_file" in options:
        base["password_file"] = options["password_file"]
        options = {}
    with pytest.raises(SourcesError) as err:
        Source("f", "forum", ("https://f.example/",), options={**base, **options})
    assert f"source f: {field}: " in str(err.value) and words in str(err.value)


def test_password_file_must_be_absolute():
    with pytest.raises(SourcesError, match="absolute"):
        Source("f", "forum", ("https://f.example/",),
               options={"login_url": "https://f.example/l", "username_env": "U",
                        "password_file": "pw.txt"})


def test_site_options():
    s = Source("s", "site", ("https://s.example/",),
               options={"file_extensions": [".ZIP", ".tar.gz"], "max_file_bytes": 10})
    assert s.option("file_extensions") == (".zip", ".tar.gz")
    with pytest.raises(SourcesError, match="options.file_extensions"):
        Source("s", "site", ("https://s.example/",), options={"file_extensions": ["zip"]})
    with pytest.raises(SourcesError, match="options.follow_files: must be true or false"):
        Source("s", "site", ("https://s.example/",), options={"follow_files": 1})
    with pytest.raises(SourcesError, match="unknown option for kind url"):
        Source("u", "url", ("https://s.example/",), options={"depth": 1})


def test_schedules_and_durations():
    assert parse_duration("45s") == 45 and parse_duration("30m") == 1800
    assert parse_duration("2h") == 7200 and parse_duration("1d") == 86400
    for bad in ("", "5", "m", "1.5h", "-1m", "1w"):
        with pytest.raises(SourcesError):
            parse_duration(bad)
    every = validate_schedule("every 30m")
    assert (every.kind, every.seconds) == ("interval", 1800)
    cron = validate_schedule(" */15  2-4 * * mon-fri ")
    assert (cron.kind, cron.cron) == ("cron", "*/15 2-4 * * mon-fri")
    for bad in ("* * * *", "* * * * * *", "0 25 * * *", "every", "every 1h 2m", "0 0 * * 1-5"):
        with pytest.raises(SourcesError):
            validate_schedule(bad)


def test_file_errors_name_file_source_and_field(tmp_path):
    path = tmp_path / "sources.toml"
    write(path, '[sources.a]\nkind = "url"\nurls = ["https://a.example/"]\n'
                '[sources.b]\nkind = "url"\nurls = ["https://b.example/"]\nschedul = "x"\n')
    with pytest.raises(SourcesError) as err:
        load_sources(path)
    assert str(err.value).startswith(f"{path}: source b: schedul: unknown field")
    read = read_sources(path)
    assert list(read.sources) == ["a"] and list(read.problems) == ["b"]

    write(path, '[sources.a]\nurls = ["https://a.example/"]\n')
    with pytest.raises(SourcesError, match="source a: kind: missing"):
        load_sources(path)
    write(path, '[sources.a]\nkind = "url"\nurls = ["https://a.example/"]\n'
                '[sources.a.options]\nwhatever = 1\n')
    with pytest.raises(SourcesError, match="source a: options.whatever: unknown option"):
        load_sources(path)
    write(path, "[sources.a\n")
    with pytest.raises(SourcesError, match="not valid TOML"):
        load_sources(path)
    write(path, '[other]\nx = 1\n')
    with pytest.raises(SourcesError, match="unknown top-level key"):
        load_sources(path)
    write(path, 'sources = 3\n')
    with pytest.raises(SourcesError, match=r"tables \[sources.NAME\]"):
        load_sources(path)


@pytest.mark.parametrize("where", ["top", "options"])
@pytest.mark.parametrize("key", ["password", "username", "token", "cookie", "api_key",
                                 "session_cookie", "access_token"])
def test_credentials_in_the_file_are_refused_without_echo(tmp_path, where, key):
    path = tmp_path / "sources.toml"
    line = f'{key} = "{SECRET}"\n'
    head = ('[sources.f]\nkind = "forum"\nurls = ["https://f.example/"]\n'
            'schedule = "every 1h"\n')
    write(path, head + (line if where == "top" else "[sources.f.options]\n" + line))
    with pytest.raises(SourcesError) as err:
        load_sources(path)
    message = str(err.value)
    assert "credentials never go in sources.toml" in message
    assert "password_env" in message and "password_file" in message
    assert f"source f: {'options.' if where == 'options' else ''}{key}:" in message
    assert SECRET not in message


def test_resolve_credentials_from_environment():
    f = forum()
    assert resolve_credentials(f, {"F_USER": "bob", "F_PASS": SECRET}) == ("bob", SECRET)
    with pytest.raises(SourcesError) as err:
        resolve_credentials(f, {"F_USER": "bob"})
    assert "environment variable F_PASS is not set" in str(err.value)
    with pytest.raises(SourcesError, match="environment variable F_USER is not set"):
        resolve_credentials(f, {"F_PASS": SECRET})
    assert check_source(f, {"F_USER": "bob"}) == [
        "source forum1: options.password_env: environment variable F_PASS is not set"]
    assert check_source(f, {"F_USER": "bob", "F_PASS": SECRET}) == []
    no_login = Source("f", "forum", ("https://f.example/",))
    assert resolve_credentials(no_login, {}) is None
    assert resolve_credentials(Source("u", "url", ("https://a.example/",)), {}) is None


def test_resolve_credentials_from_secret_file(tmp_path):
    secret_file = tmp_path / "forum.pw"
    fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, (SECRET + "\n").encode())
    os.close(fd)
    os.chmod(secret_file, 0o600)
    f = forum(password_file=str(secret_file))
    assert resolve_credentials(f, {"F_USER": "bob"}) == ("bob", SECRET)

    os.chmod(secret_file, 0o640)
    with pytest.raises(SourcesError) as err:
        resolve_credentials(f, {"F_USER": "bob"})
    assert "mode 0640" in str(err.value) and "group or others" in str(err.value)
    assert str(secret_file) in str(err.value) and SECRET not in str(err.value)
    os.chmod(secret_file, 0o604)
    with pytest.raises(SourcesError, match="group or others"):
        resolve_credentials(f, {"F_USER": "bob"})

    os.chmod(secret_file, 0o600)
    secret_file.write_text("")
    with pytest.raises(SourcesError, match="is empty"):
        resolve_credentials(f, {"F_USER": "bob"})
    missing = forum(password_file=str(tmp_path / "absent"))
    with pytest.raises(SourcesError, match="does not exist"):
        resolve_credentials(missing, {"F_USER": "bob"})


def test_option_typing_from_the_command_line():
    assert parse_option("paste_listing", "listing_pages=4") == ("listing_pages", 4)
    assert parse_option("paste_listing", "raw_url={origin}/r/{id}?a=b") == (
        "raw_url", "{origin}/r/{id}?a=b")  # split at the first "=" only
    assert parse_option("site", "follow_files=no") == ("follow_files", False)
    assert parse_option("site", "follow_files=TRUE") == ("follow_files", True)
    assert parse_option("site", "file_extensions=.zip, .csv,") == (
        "file_extensions", (".zip", ".csv"))
    assert parse_option("forum", "thread_link=/t/\\d+,x") == ("thread_link", "/t/\\d+,x")
    assert parse_option("forum", "password_env=FP") == ("password_env", "FP")
    with pytest.raises(SourcesError, match="whole number"):
        parse_option("paste_listing", "listing_pages=many")
    with pytest.raises(SourcesError, match="true or false"):
        parse_option("site", "follow_files=maybe")
    with pytest.raises(SourcesError, match="KEY=VALUE"):
        parse_option("site", "depth")
    with pytest.raises(SourcesError, match="unknown option for kind url"):
        parse_option("url", "depth=1")
    with pytest.raises(SourcesError) as err:
        parse_option("forum", f"password={SECRET}")
    assert "credentials never go" in str(err.value) and SECRET not in str(err.value)
    with pytest.raises(SourcesError) as err:
        parse_option("site", f"depth={SECRET}")
    assert SECRET not in str(err.value)
