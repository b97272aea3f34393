"""Source definitions: what vahti crawls, read from and written to `$VAHTI_HOME/sources.toml`.

A source is one paste listing, forum, site or single URL, with its schedule,
transport (Tor unless explicitly `direct`), limits and kind-specific options.
Every `Source` is validated when it is built, so code holding one can trust it.
Credentials never live here: a forum names the environment variables or the
secret file (mode 0600) it reads them from, and `resolve_credentials` reads
them only when needed. No message of this module ever holds a credential.

Layout of sources.toml, one table per source:

    [sources.pastes]
    kind = "paste_listing"
    urls = ["http://pastesite.onion/lists"]
    schedule = "every 30m"

    [sources.pastes.options]
    listing_pages = 3
"""

from __future__ import annotations

import fcntl
import os
import re
import string
import tempfile
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from fnmatch import fnmatchcase
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import tomli_w

from vahti.matchers.keys import secret_file_problem
from vahti.matchers.private import private_dir
from vahti.spiders.hosts import host_of, never_direct

KINDS = ("paste_listing", "forum", "site", "url")
SOURCES_FILE = "sources.toml"
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
ISOLATION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CONTENT_TYPE_RE = re.compile(r"(\*|[a-z0-9][a-z0-9!#$&^_.+-]*)/(\*|[a-z0-9][a-z0-9!#$&^_.+-]*)")
DURATION_RE = re.compile(r"(\d+)\s*([smhd])")
EVERY_RE = re.compile(r"every\s+(.+)")
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# Every format vahti reads (a leak site serves its dumps as whatever it likes).
DEFAULT_CONTENT_TYPES: tuple[str, ...] = (
    "text/*",
    "application/json",
    "application/xml",
    "application/xhtml+xml",
    "application/rss+xml",
    "application/atom+xml",
    "application/csv",
    "application/sql",
    "application/zip",
    "application/x-zip-compressed",
    "application/x-7z-compressed",
    "application/gzip",
    "application/x-gzip",
    "application/x-tar",
    "application/x-bzip2",
    "application/x-xz",
    "application/x-gtar",
    "application/x-bzip",
    "application/vnd.rar",
    "application/x-rar-compressed",
    "application/x-rar",
    "application/zstd",
    "application/x-zstd",
    "application/x-lz4",
    "application/x-lzip",
    "application/x-compress",
    # documents and mail (matchers.documents, matchers.mail)
    "application/pdf",
    "application/rtf",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.ms-outlook",
    "application/vnd.ms-tnef",
    "application/ms-tnef",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "message/rfc822",
    "application/mbox",
    "application/vnd.sqlite3",
    "application/x-sqlite3",
    "application/dicom",
    "application/octet-stream",
)

# kind -> option -> default. An option's type is its default's type.
KIND_OPTIONS: dict[str, dict[str, Any]] = {
    "paste_listing": {
        # regex on the link URLs of a listing page; group 1 is the paste id
        "paste_link": r"/(?:paste|p)/([A-Za-z0-9_-]+)",
        # where a paste's raw text is; {origin} = scheme://host[:port] of the listing URL
        "raw_url": "{origin}/raw/{id}",
        # listing pages to follow (rel=next, or ?page=N)
        "listing_pages": 1,
    },
    "forum": {
        "login_url": "",  # empty: no login
        "username_env": "",  # environment variable holding the username
        "password_env": "",  # environment variable holding the password ...
        "password_file": "",  # ... or a secret file (mode 0600) holding it
        "username_field": "username",
        "password_field": "password",
        # regex on a page that shows we are logged out
        "logged_out_marker": r'action="[^"]*login',
        "board_link": r"/board/[^/?#]+",
        "thread_link": r"/thread/\d+",
        "post_id": r'id="post-(\d+)"',  # group 1 is the post id
        "max_board_pages": 5,
    },
    "site": {
        "depth": 3,
        "follow_files": True,
        "file_extensions": (
            ".zip", ".7z", ".tar", ".tar.gz", ".tgz", ".gz", ".bz2", ".xz", ".zst",
            ".csv", ".txt", ".sql", ".json", ".xls", ".xlsx",
        ),
        "max_file_bytes": 0,  # 0: the source's max_page_bytes
    },
    "url": {},
}

# options every kind takes: source health (see scheduler/health.py)
COMMON_OPTIONS: dict[str, Any] = {
    # a register ref planted on this source, with the reserved prefix CANARY-
    "canary": "",
    # duration like "1d": no sighting of the canary for longer means the source is unhealthy
    "canary_within": "",
}
CANARY_PREFIX = "CANARY-"
MAX_CANARY_LENGTH = 200  # a register ref's longest

# options that are regular expressions, and how many groups each needs
REGEX_OPTIONS: dict[str, int] = {
    "paste_link": 1, "logged_out_marker": 0, "board_link": 0, "thread_link": 0, "post_id": 1,
}
# options holding a URL (raw_url: a template) that a crawl fetches
URL_OPTIONS = ("login_url", "raw_url")
# options that must be at least 1 / at least 0
POSITIVE_OPTIONS = {"listing_pages", "max_board_pages"}
NON_NEGATIVE_OPTIONS = {"depth", "max_file_bytes"}

# Keys that look like a credential. They are refused wherever they appear in
# sources.toml (or in `--option`), except these which only *name* where a
# credential is, or the name of a login form's field.
CREDENTIAL_KEY_RE = re.compile(
    r"pass(word|wd|phrase)|^pass$|^user$|username|^login$|token|cookie|secret|api_?key"
    r"|credential|^auth|bearer|session_?id",
    re.IGNORECASE,
)
CREDENTIAL_POINTERS = {
    "username_env", "password_env", "password_file", "username_field", "password_field",
}
CREDENTIALS_GO = (
    "credentials never go in sources.toml: name an environment variable "
    "(options.username_env, options.password_env) or a secret file of mode 0600 "
    "(options.password_file)"
)

FILE_HEADER = """\
# vahti sources: what `vahti crawl` and the scheduler fetch. Written by `vahti sources`
# (add, remove, enable, disable), which rewrites this file: comments are not kept.
#
# One table per source, [sources.NAME] (NAME: a-z 0-9 _ -), with
#   kind       "paste_listing" | "forum" | "site" | "url"
#   urls       start URLs, http/https ("url": exactly one)
#   schedule   "every 30m" / "every 2h" / "every 1d" / "every 45s", or a 5-field cron
#              line (minute hour day month day-of-week; use names mon..sun for weekdays)
#   enabled, direct (fetch without Tor: only when set to true here), concurrency,
#   delay_s, isolation (Tor stream-isolation group; default the name), max_page_bytes,
#   content_types, time_limit_s, expect_new_within ("1d": new pages expected that often)
# and kind-specific options under [sources.NAME.options]; every kind also takes
# canary = "CANARY-..." (a register ref planted there) and canary_within = "1d".
# Unset limits come from config.toml [crawl].
#
# Never put a password, username, token or cookie here: a forum's options name the
# environment variables (username_env, password_env) or a secret file of mode 0600
# (password_file) that hold them.
"""


class SourcesError(ValueError):
    """A problem with a source definition; the message names file, source and field."""


def _fail(source: object, where: str, problem: str) -> SourcesError:
    return SourcesError(f"source {source}: {where}: {problem}")


# --- durations and schedules -----------------------------------------------------------


def parse_duration(text: str) -> int:
    """Seconds in a duration like "45s", "30m", "2h", "1d" (a whole positive number)."""
    match = DURATION_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match:
        raise SourcesError(
            f"duration {text!r}: expected a whole number and a unit s, m, h or d, like 30m"
        )
    seconds = int(match.group(1)) * DURATION_UNITS[match.group(2)]
    if seconds <= 0:
        raise SourcesError(f"duration {text!r}: must be longer than zero")
    return seconds


@dataclass(frozen=True)
class Schedule:
    """A validated schedule: an interval in seconds, or a 5-field cron line."""

    kind: str  # "interval" | "cron"
    seconds: int | None = None
    cron: str | None = None


def validate_schedule(text: str) -> Schedule:
    """Check "every 30m" or a 5-field cron expression; return what it means."""
    if not isinstance(text, str) or not text.strip():
        raise SourcesError(f"schedule {text!r}: expected \"every 30m\" or a 5-field cron "
                           "expression")
    text = text.strip()
    every = EVERY_RE.fullmatch(text)
    if every:
        return Schedule("interval", seconds=parse_duration(every.group(1)))
    if len(text.split()) != 5:
        raise SourcesError(
            f"schedule {text!r}: expected \"every 30m\" (s, m, h, d) or a 5-field cron "
            "expression (minute hour day month day-of-week)"
        )
    if re.search(r"\d", text.split()[4]):
        # APScheduler 3 counts 0 as Monday, cron as Sunday: only names are unambiguous
        raise SourcesError(
            f"schedule {text!r}: write the day of week with names (mon-fri, sun), "
            "not numbers: crons disagree on what 0 and 7 mean"
        )
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(text, timezone="UTC")
    except ValueError as exc:
        raise SourcesError(f"schedule {text!r}: not a valid cron expression ({exc})") from None
    return Schedule("cron", cron=" ".join(text.split()))


# --- the source ---------------------------------------------------------------------------


def _check_url(name: str, where: str, url: object) -> str:
    if not isinstance(url, str) or not url.strip():
        raise _fail(name, where, "must be a non-empty string")
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise _fail(name, where, "not a valid URL") from None
    if parts.username is not None or parts.password is not None:
        # never echo it: the user part may hold a password
        raise _fail(name, where, "holds user:password@; " + CREDENTIALS_GO)
    if parts.scheme.lower() not in ("http", "https"):
        raise _fail(name, where, f"scheme {parts.scheme or '(none)'!r} refused: http or https only")
    if not parts.hostname:
        raise _fail(name, where, "has no host")
    return url


def _check_direct(name: str, where: str, url: str) -> None:
    """A direct source's URL must not name an onion (or another name only an overlay
    network resolves), however it is spelled (spiders.hosts)."""
    suffix = never_direct(host_of(url))
    if suffix == "onion":
        raise _fail(name, where, ".onion addresses can only be fetched through Tor")
    if suffix:
        raise _fail(name, where, f".{suffix} names are never resolved locally: "
                                 "not for a direct source")


def _check_number(name: str, where: str, value: object, kind: type, minimum: float,
                  strict: bool = False) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise _fail(name, where, f"must be {'a number' if kind is float else 'a whole number'}")
    if value < minimum or (strict and value == minimum):
        raise _fail(name, where, f"must be {'more than' if strict else 'at least'} {minimum:g}")
    return kind(value)


def _coerce_option(name: str, key: str, value: Any, default: Any) -> Any:
    where = f"options.{key}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise _fail(name, where, "must be true or false")
        return value
    if isinstance(default, int):
        minimum = 1 if key in POSITIVE_OPTIONS else 0
        return _check_number(name, where, value, int, minimum)
    if isinstance(default, float):
        return _check_number(name, where, value, float, 0)
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise _fail(name, where, "must be a list of strings")
        return tuple(value)
    if not isinstance(value, str):
        raise _fail(name, where, "must be a string")
    return value


def refuse_credential_key(name: str, key: str, where: str = "") -> None:
    """Raise if `key` looks like a credential rather than a pointer to one."""
    if key not in CREDENTIAL_POINTERS and CREDENTIAL_KEY_RE.search(key):
        raise _fail(name, f"{where}{key}", CREDENTIALS_GO)


def options_schema(kind: str) -> dict[str, Any]:
    """The options a kind takes (its own and the common ones), with their defaults."""
    return {**COMMON_OPTIONS, **KIND_OPTIONS[kind]}


def _check_canary(name: str, get: Any) -> None:
    canary, within = get("canary"), get("canary_within")
    if canary and (not canary.startswith(CANARY_PREFIX) or len(canary) == len(CANARY_PREFIX)
                   or len(canary) > MAX_CANARY_LENGTH or canary != canary.strip()):
        raise _fail(name, "options.canary", f"a register ref starting with {CANARY_PREFIX}, "
                                            f"like {CANARY_PREFIX}1 (at most "
                                            f"{MAX_CANARY_LENGTH} characters)")
    if canary and not within:
        raise _fail(name, "options.canary_within",
                    "a canary needs the duration within which it must be seen, like \"1d\"")
    if within:
        if not canary:
            raise _fail(name, "options.canary_within", "set, but options.canary is empty")
        try:
            parse_duration(within)
        except SourcesError as exc:
            raise _fail(name, "options.canary_within", str(exc)) from None


def _check_options(name: str, kind: str, options: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(options, Mapping):
        raise _fail(name, "options", "must be a table")
    schema = options_schema(kind)
    out: dict[str, Any] = {}
    for key, value in options.items():
        refuse_credential_key(name, str(key), "options.")
        if key not in schema:
            known = ", ".join(sorted(schema)) or "none"
            raise _fail(name, f"options.{key}", f"unknown option for kind {kind} (known: {known})")
        out[key] = _coerce_option(name, key, value, schema[key])

    def get(key: str) -> Any:
        return out.get(key, schema[key])

    for key, groups in REGEX_OPTIONS.items():
        if key not in schema:
            continue
        try:
            compiled = re.compile(get(key))
        except re.error as exc:
            raise _fail(name, f"options.{key}", f"not a valid regular expression ({exc})") from None
        if compiled.groups < groups:
            raise _fail(name, f"options.{key}", "needs a group ( ... ) for the id")
    if kind == "paste_listing":
        _check_raw_url(name, get("raw_url"))
    if kind == "site":
        for ext in get("file_extensions"):
            if not ext.startswith(".") or len(ext) < 2 or "/" in ext:
                raise _fail(name, "options.file_extensions", f"{ext!r} is not like \".zip\"")
        if "file_extensions" in out:
            out["file_extensions"] = tuple(e.lower() for e in out["file_extensions"])
    if kind == "forum":
        _check_forum_login(name, get)
    _check_canary(name, get)
    return out


def _check_raw_url(name: str, template: str) -> None:
    where = "options.raw_url"
    try:
        keys = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError:
        raise _fail(name, where, "not a valid template (unbalanced { })") from None
    if "id" not in keys or not keys <= {"id", "origin"}:
        raise _fail(name, where, "a template with {id} and optionally {origin}, like "
                                 "\"{origin}/raw/{id}\"")
    _check_url(name, where, template.format(origin="http://listing.example", id="ID"))


def _check_forum_login(name: str, get: Any) -> None:
    login_url = get("login_url")
    pointers = ("username_env", "password_env", "password_file")
    if not login_url:
        given = [p for p in pointers if get(p)]
        if given:
            raise _fail(name, f"options.{given[0]}", "set, but options.login_url is empty")
        return
    _check_url(name, "options.login_url", login_url)
    for key in ("username_env", "password_env"):
        if get(key) and not ENV_NAME_RE.fullmatch(get(key)):
            raise _fail(name, f"options.{key}", "not an environment variable name")
    if not get("username_env"):
        raise _fail(name, "options.username_env",
                    "a forum with a login_url needs the environment variable of its username")
    if bool(get("password_env")) == bool(get("password_file")):
        raise _fail(name, "options.password_env",
                    "a forum with a login_url needs exactly one of options.password_env "
                    "and options.password_file")
    if get("password_file") and not Path(get("password_file")).expanduser().is_absolute():
        raise _fail(name, "options.password_file", "must be an absolute path")
    for key in ("username_field", "password_field"):
        if not get(key):
            raise _fail(name, f"options.{key}", "must not be empty")


@dataclass(frozen=True)
class Source:
    """One thing to crawl. Built validated; `SourcesError` names the field at fault."""

    name: str
    kind: str
    urls: tuple[str, ...]
    schedule: str = "every 1h"
    enabled: bool = True
    direct: bool = False  # fetch without Tor; only when explicitly set
    concurrency: int | None = None  # None: config [crawl] concurrency
    delay_s: float | None = None  # None: config [crawl] delay_s
    isolation: str = ""  # Tor stream-isolation group; "" means the source name
    max_page_bytes: int | None = None  # None: config [crawl] max_page_bytes
    content_types: tuple[str, ...] = DEFAULT_CONTENT_TYPES
    time_limit_s: float = 3600.0
    expect_new_within: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        name = self.name
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise SourcesError(
                f"source {name!r}: name: must be 1-63 characters of a-z, 0-9, _ and -, "
                "starting with a letter or digit"
            )
        if self.kind not in KINDS:
            raise _fail(name, "kind", f"{self.kind!r} is not one of {', '.join(KINDS)}")
        urls = self.urls
        if isinstance(urls, str) or not isinstance(urls, (list, tuple)):
            raise _fail(name, "urls", "must be a list of URLs")
        urls = tuple(_check_url(name, f"urls[{i}]", u) for i, u in enumerate(urls))
        if not urls:
            raise _fail(name, "urls", "at least one start URL is needed")
        if self.kind == "url" and len(urls) != 1:
            raise _fail(name, "urls", "a source of kind url has exactly one URL")
        if len(set(urls)) != len(urls):
            raise _fail(name, "urls", "the same URL is listed twice")
        self._set("urls", urls)
        try:
            validate_schedule(self.schedule)
        except SourcesError as exc:
            raise _fail(name, "schedule", str(exc).removeprefix("schedule ")) from None
        self._set("schedule", self.schedule.strip())
        for flag in ("enabled", "direct"):
            if not isinstance(getattr(self, flag), bool):
                raise _fail(name, flag, "must be true or false")
        if self.direct:
            for url in urls:
                _check_direct(name, "direct", url)
        if self.concurrency is not None:
            _check_number(name, "concurrency", self.concurrency, int, 1)
        if self.delay_s is not None:
            self._set("delay_s", _check_number(name, "delay_s", self.delay_s, float, 0))
        if self.max_page_bytes is not None:
            _check_number(name, "max_page_bytes", self.max_page_bytes, int, 1)
        self._set("time_limit_s",
                  _check_number(name, "time_limit_s", self.time_limit_s, float, 0, strict=True))
        if not isinstance(self.isolation, str) or (
            self.isolation and not ISOLATION_RE.fullmatch(self.isolation)
        ):
            raise _fail(name, "isolation", "1-63 characters of A-Z, a-z, 0-9, _, . and -")
        self._set("content_types", _check_content_types(name, self.content_types))
        if not isinstance(self.expect_new_within, str):
            raise _fail(name, "expect_new_within", "must be a duration like \"1d\"")
        if self.expect_new_within:
            try:
                parse_duration(self.expect_new_within)
            except SourcesError as exc:
                raise _fail(name, "expect_new_within", str(exc)) from None
        options = _check_options(name, self.kind, self.options)
        if self.direct:
            for key in URL_OPTIONS:
                if options.get(key):
                    _check_direct(name, f"options.{key}",
                                  options[key].format(origin="http://listing.example", id="ID"))
        self._set("options", MappingProxyType(options))

    def __hash__(self) -> int:  # options is a mapping: hash what identifies the source
        return hash((self.name, self.kind, self.urls, self.schedule))

    def _set(self, attr: str, value: Any) -> None:
        object.__setattr__(self, attr, value)

    @property
    def isolation_group(self) -> str:
        return self.isolation or self.name

    @property
    def parsed_schedule(self) -> Schedule:
        return validate_schedule(self.schedule)

    def option(self, key: str) -> Any:
        """The option's value, or the kind's default; KeyError for an option of another kind."""
        schema = options_schema(self.kind)
        if key not in schema:
            raise KeyError(f"source {self.name}: kind {self.kind} has no option {key!r}")
        return self.options.get(key, schema[key])

    def accepts_content_type(self, content_type: str) -> bool:
        """Whether a response's Content-Type (parameters ignored) is one to fetch."""
        bare = content_type.split(";", 1)[0].strip().lower()
        return any(fnmatchcase(bare, pattern) for pattern in self.content_types)

    def effective(self, cfg: Any) -> Source:
        """This source with unset limits and the isolation group filled in from a Config."""
        return replace(
            self,
            concurrency=self.concurrency if self.concurrency is not None
            else int(cfg.get("crawl.concurrency")),
            delay_s=self.delay_s if self.delay_s is not None else float(cfg.get("crawl.delay_s")),
            max_page_bytes=self.max_page_bytes if self.max_page_bytes is not None
            else int(cfg.get("crawl.max_page_bytes")),
            isolation=self.isolation_group,
        )

    def to_table(self) -> dict[str, Any]:
        """The TOML table of this source: kind and urls, then what differs from defaults."""
        table: dict[str, Any] = {"kind": self.kind, "urls": list(self.urls),
                                 "schedule": self.schedule, "enabled": self.enabled}
        for f in fields(self):
            if f.name in ("name", "kind", "urls", "schedule", "enabled", "options"):
                continue
            value = getattr(self, f.name)
            default = f.default
            if value is None or value == default:
                continue
            table[f.name] = list(value) if isinstance(value, tuple) else value
        if self.options:
            table["options"] = {
                k: list(v) if isinstance(v, tuple) else v for k, v in self.options.items()
            }
        return table

    def to_dict(self) -> dict[str, Any]:
        """Every field (None for "from config"), for JSON output."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}
            out[f.name] = value
        out["isolation_group"] = self.isolation_group
        return out


def _check_content_types(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise _fail(name, "content_types", "must be a non-empty list like [\"text/*\"]")
    out = []
    for item in value:
        if not isinstance(item, str) or not CONTENT_TYPE_RE.fullmatch(item.strip().lower()):
            raise _fail(name, "content_types", f"{item!r} is not a media type like text/html "
                                               "or text/*")
        out.append(item.strip().lower())
    return tuple(out)


SOURCE_FIELDS = {f.name for f in fields(Source)} - {"name"}


def source_from_table(name: str, table: Any) -> Source:
    """Build a Source from its TOML table; unknown or credential keys are refused."""
    if not isinstance(table, dict):
        raise SourcesError(f"source {name}: must be a table [sources.{name}]")
    for key in table:
        refuse_credential_key(name, key)
        if key not in SOURCE_FIELDS:
            raise _fail(name, key, "unknown field (known: "
                        + ", ".join(sorted(SOURCE_FIELDS)) + ")")
    for key in ("kind", "urls"):
        if key not in table:
            raise _fail(name, key, "missing")
    values = dict(table)
    for key in ("urls", "content_types"):
        if isinstance(values.get(key), list):
            values[key] = tuple(values[key])
    return Source(name=name, **values)


# --- the file ---------------------------------------------------------------------------


def sources_path(home: Path) -> Path:
    return Path(home) / SOURCES_FILE


@dataclass
class SourcesFile:
    """A sources.toml read leniently: good sources, and the problem of each bad one."""

    path: Path
    sources: dict[str, Source] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # name -> "source NAME: ..."

    @property
    def names(self) -> list[str]:
        return sorted(set(self.sources) | set(self.problems))


def read_sources(path: Path) -> SourcesFile:
    """Read every source, keeping each bad one's problem; a file-level problem raises."""
    path = Path(path)
    result = SourcesFile(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return result
    except OSError as exc:
        raise SourcesError(f"{path}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib names line and column, never a value
        raise SourcesError(f"{path}: not valid TOML ({exc})") from None
    for key in data:
        if key != "sources":
            if CREDENTIAL_KEY_RE.search(key):
                raise SourcesError(f"{path}: {key}: {CREDENTIALS_GO}")
            raise SourcesError(f"{path}: unknown top-level key {key!r} (only [sources.NAME])")
    tables = data.get("sources", {})
    if not isinstance(tables, dict):
        raise SourcesError(f"{path}: sources must be tables [sources.NAME]")
    for name, table in tables.items():
        try:
            result.sources[name] = source_from_table(name, table)
        except SourcesError as exc:
            result.problems[name] = str(exc)
    return result


def load_sources(path: Path) -> dict[str, Source]:
    """Every source of the file (missing file: none); the first problem raises."""
    read = read_sources(path)
    for name in read.names:
        if name in read.problems:
            raise SourcesError(f"{read.path}: {read.problems[name]}")
    return {name: read.sources[name] for name in sorted(read.sources)}


def dumps_sources(sources: Mapping[str, Source]) -> str:
    tables = {name: sources[name].to_table() for name in sorted(sources)}
    return FILE_HEADER + "\n" + tomli_w.dumps({"sources": tables})


def save_sources(path: Path, sources: Mapping[str, Source]) -> None:
    """Write atomically (temp file, fsync, rename) with mode 0600."""
    path = Path(path)
    for name, source in sources.items():
        if name != source.name:
            raise SourcesError(f"source {source.name}: saved under the name {name}")
    text = dumps_sources(sources)
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextmanager
def edit_sources(path: Path) -> Iterator[dict[str, Source]]:
    """Read-modify-write under an exclusive lock; saved when the block ends without error.

    The dict yielded is loaded strictly: a file with a bad source must be fixed first.
    """
    path = Path(path)
    private_dir(path.parent)
    lock_fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        sources = load_sources(path)
        before = dict(sources)
        yield sources
        if sources != before:
            save_sources(path, sources)
    finally:
        os.close(lock_fd)  # closing releases the lock


# --- credentials --------------------------------------------------------------------------


def resolve_credentials(source: Source, environ: Mapping[str, str] | None = None
                        ) -> tuple[str, str] | None:
    """(username, password) of a forum that logs in; None when the source needs none.

    Errors name the environment variable or the file, never a value.
    """
    environ = os.environ if environ is None else environ
    if source.kind != "forum" or not source.option("login_url"):
        return None
    user_var = source.option("username_env")
    username = environ.get(user_var, "")
    if not username:
        raise _fail(source.name, "options.username_env",
                    f"environment variable {user_var} is not set")
    pass_var = source.option("password_env")
    if pass_var:
        password = environ.get(pass_var, "")
        if not password:
            raise _fail(source.name, "options.password_env",
                        f"environment variable {pass_var} is not set")
        return username, password
    return username, read_secret_file(source.name, Path(source.option("password_file")))


def read_secret_file(name: str, path: Path) -> str:
    """The first line of a secret file that only its owner can read."""
    where = "options.password_file"
    path = path.expanduser()
    if problem := secret_file_problem(path):
        raise _fail(name, where, f"secret file {problem}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _fail(name, where, f"cannot read secret file {path} ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(name, where, f"secret file {path} is not UTF-8 text") from None
    secret = text.splitlines()[0] if text else ""
    if not secret:
        raise _fail(name, where, f"secret file {path} is empty")
    return secret


# --- checks and CLI helpers -------------------------------------------------------------


def check_source(source: Source, environ: Mapping[str, str] | None = None) -> list[str]:
    """Problems a valid definition can still have at run time (credentials, secret files)."""
    problems = []
    try:
        resolve_credentials(source, environ)
    except SourcesError as exc:
        problems.append(str(exc))
    return problems


def parse_option(kind: str, assignment: str) -> tuple[str, Any]:
    """"KEY=VALUE" from the command line, typed by the option's default.

    Lists are comma-separated, booleans true/false/yes/no/1/0/on/off.
    Errors never repeat the value.
    """
    if kind not in KINDS:
        raise SourcesError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    key, sep, text = assignment.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SourcesError("--option: expected KEY=VALUE")
    if key not in CREDENTIAL_POINTERS and CREDENTIAL_KEY_RE.search(key):
        raise SourcesError(f"--option {key}: {CREDENTIALS_GO}")
    schema = options_schema(kind)
    if key not in schema:
        known = ", ".join(sorted(schema)) or "none"
        raise SourcesError(f"--option {key}: unknown option for kind {kind} (known: {known})")
    default = schema[key]
    text = text.strip()
    if isinstance(default, bool):
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return key, True
        if lowered in ("0", "false", "no", "off"):
            return key, False
        raise SourcesError(f"--option {key}: expected true or false")
    if isinstance(default, int):
        try:
            return key, int(text)
        except ValueError:
            raise SourcesError(f"--option {key}: expected a whole number") from None
    if isinstance(default, float):
        try:
            return key, float(text)
        except ValueError:
            raise SourcesError(f"--option {key}: expected a number") from None
    if isinstance(default, tuple):
        return key, tuple(part.strip() for part in text.split(",") if part.strip())
    return key, text
