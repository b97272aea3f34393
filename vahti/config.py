"""Configuration: defaults < config.toml < VAHTI_* environment < CLI flags.

Every effective value remembers where it came from, so `vahti config show` can
answer "why is it set to that?". Secrets are never shown: URIs lose their
credentials and keys named like secrets are hidden.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from vahti.errors import VahtiError
from vahti.storage.uri import display_uri

# The schema of config.toml: section -> key -> default. A key's type is its
# default's type; environment strings are converted to it.
DEFAULTS: dict[str, dict[str, Any]] = {
    "storage": {
        "uri": "",  # empty: the embedded default server under $VAHTI_HOME/db
        "database": "vahti",
        "connect_timeout_s": 5.0,
        "embedded_start_timeout_s": 15.0,
        "embedded_cache_size": "256M",
        # seconds the embedded server keeps running after its last user left, so
        # that commands in a row share one start (like ssh's ControlPersist); it
        # also stops by itself this long after its users were killed. 0: it stops
        # with its last command. The daemon keeps it while it runs anyway.
        "embedded_linger_s": 60.0,
    },
    "key": {
        "file": "",  # empty: $VAHTI_HOME/key
        # Other key sources (vahti/key_source.py), so the key need not sit on the disk:
        # a systemd credential ($CREDENTIALS_DIRECTORY/vahti-key) and an inherited file
        # descriptor (VAHTI_KEY_FD) come first when present; then this command (argv, no
        # shell) whose stdout is the hex key, e.g. a secrets manager's CLI
        "command": [],
        "command_timeout_s": 10.0,
    },
    "log": {
        "level": "INFO",
        "stderr_level": "WARNING",
        # observability (issue 13): where the log goes and in which form
        "format": "text",  # "text" or "json" (one object a line); both redacted alike
        "target": "file",  # "file" ($VAHTI_HOME/logs/vahti.log), "journald" or "syslog"
        "socket": "",  # journald/syslog socket; empty: /run/systemd/journal/socket, /dev/log
        "max_bytes": 10 * 2**20,  # the file is rotated past this size...
        "backups": 5,  # ...keeping this many old files (vahti.log.1 ... .5)
    },
    "metrics": {
        # Prometheus metrics of `vahti daemon` (issue 13). Empty: off. A non-loopback
        # address is refused unless allow_remote = true.
        "listen": "",  # e.g. "127.0.0.1:9464"
        "allow_remote": False,
        "cache_s": 5.0,  # database figures are recomputed at most this often
    },
    "matchers": {
        "phone_region": "FI",
        "customer_id_pattern": "",
    },
    "tor": {
        # "launch": vahti starts and owns a tor (data under $VAHTI_HOME/tor);
        # "external": an existing tor at `socks` and `control`. Setting socks or
        # control (e.g. VAHTI_TOR_SOCKS=127.0.0.1:9050) selects external mode.
        "mode": "launch",
        "socks": "",  # HOST:PORT of an existing tor's SocksPort
        "control": "",  # HOST:PORT of its ControlPort (cookie auth unless a password file)
        "control_password_file": "",
        "binary": "tor",
        "torrc_extra": "",  # more torrc lines for launch mode, one per line
        "bootstrap_timeout_s": 90.0,
        "newnym_after": 3,  # consecutive 403/429/503 answers before a NEWNYM
    },
    "alerts": {
        # delivery from the outbox: at least once, retried with exponential backoff
        "max_attempts": 8,  # then the delivery is dead-lettered
        "backoff_base_s": 5.0,
        "backoff_max_s": 3600.0,
    },
    "health": {
        # consecutive failed runs before a source is "failing" (and a health alert);
        # a run that failed because tor was unusable or the login was refused counts at once
        "fail_after": 3,
    },
    "daemon": {
        "lease_s": 60.0,  # a job's lease in the database; renewed while it runs
        "poll_s": 2.0,  # how often the daemon looks for commands (jobs run/pause/...)
        "stop_grace_s": 30.0,  # on SIGTERM: time for running crawls to checkpoint
        "deliver_every_s": 10.0,  # outbox delivery pass
    },
    "retention": {
        # Days before the database deletes a record (a TTL index; 0 keeps it forever).
        # Sightings are the evidence of an exposure: a year covers the yearly review of
        # incidents and the controller's record of breaches (GDPR Art. 33(5)), and a
        # later trend report still sees last year. Pages live as long: a sighting
        # without its page record loses its URL's history and the crawl's "seen" state.
        # Candidates (digests of every identifier on a page, also of people never
        # enrolled) are the least purpose-bound data: kept half a year, enough for
        # enrolment after an incident to find where the new people were already seen.
        "pages_days": 365,
        "sightings_days": 365,
        "candidates_days": 180,
    },
    "scan": {
        # limits on reading one input (scan, hunt and crawled pages alike); see README
        "max_members": 10_000,  # archive members and document parts per input
        "document_timeout_s": 30.0,  # one SQLite/PDF/Office document's text extraction
    },
    "crawl": {
        # defaults for every source; sources.toml may override them per source
        "concurrency": 8,
        "delay_s": 0.0,
        "max_page_bytes": 50 * 1024 * 1024,
        "download_timeout_s": 120.0,
        "retries": 2,
        "user_agent": "Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0",
    },
}

# Sections holding named tables ([channels.NAME]) rather than settings: kept
# as parsed in `Config.tables` and validated by the part that uses them.
TABLE_SECTIONS = ("channels",)

# Short environment names users already know; every other key is also
# reachable as VAHTI_<SECTION>_<KEY>.
ENV_ALIASES: dict[str, str] = {
    "VAHTI_MONGO_URI": "storage.uri",
    "VAHTI_MONGO_DB": "storage.database",
    "VAHTI_KEY_FILE": "key.file",
    "VAHTI_LOG_LEVEL": "log.level",
}

SECRET_KEY_PATTERN = re.compile(r"secret|password|token|passphrase", re.IGNORECASE)
def default_home() -> Path:
    return Path(platformdirs.user_data_dir("vahti", appauthor=False))


def resolve_home(flag: str | None = None, environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    if flag:
        return Path(flag).expanduser().absolute()
    if environ.get("VAHTI_HOME"):
        return Path(environ["VAHTI_HOME"]).expanduser().absolute()
    return default_home()


@dataclass
class Config:
    """Effective configuration with the origin of every value."""

    home: Path
    home_origin: str
    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # sections of named tables, read as they are (see TABLE_SECTIONS)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)

    def get(self, dotted: str) -> Any:
        return self.values[dotted]

    def set(self, dotted: str, value: Any, origin: str) -> None:
        if dotted not in self.values:
            raise VahtiError(f"unknown setting {dotted}")
        self.values[dotted] = _coerce(dotted, value, origin)
        self.origins[dotted] = origin

    @property
    def config_path(self) -> Path:
        return self.home / "config.toml"

    @property
    def key_path(self) -> Path:
        configured = self.values["key.file"]
        return Path(configured).expanduser() if configured else self.home / "key"

    def shown(self) -> Iterator[tuple[str, str, str]]:
        """(setting, printable value, origin) for every setting; secrets hidden."""
        yield "home", str(self.home), self.home_origin
        for dotted in sorted(self.values):
            yield dotted, printable(dotted, self.values[dotted]), self.origins[dotted]


def printable(dotted: str, value: Any) -> str:
    if SECRET_KEY_PATTERN.search(dotted.rsplit(".", 1)[-1]):
        return "<hidden>" if value else ""
    if isinstance(value, str) and "://" in value:
        return display_uri(value)
    return str(value)


def _coerce(dotted: str, value: Any, origin: str) -> Any:
    section, key = dotted.split(".", 1)
    default = DEFAULTS[section][key]
    if type(value) is type(default):
        return value
    text = str(value).strip()
    try:
        if isinstance(default, bool):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError:
        raise VahtiError(
            f"{origin}: {dotted} must be a {type(default).__name__}"
        ) from None
    return text


def load_config(
    home_flag: str | None = None,
    flags: Mapping[str, tuple[Any, str]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build the effective configuration.

    `flags` maps a dotted setting to (value, flag name) for CLI flags that were
    given; flags that were not given must not be passed.
    """
    environ = os.environ if environ is None else environ
    if home_flag:
        home_origin = "flag --home"
    elif environ.get("VAHTI_HOME"):
        home_origin = "env VAHTI_HOME"
    else:
        home_origin = "default"
    cfg = Config(home=resolve_home(home_flag, environ), home_origin=home_origin)
    for section, keys in DEFAULTS.items():
        for key, default in keys.items():
            cfg.values[f"{section}.{key}"] = default
            cfg.origins[f"{section}.{key}"] = "default"

    _apply_file(cfg)
    _apply_environment(cfg, environ)
    for dotted, (value, flag_name) in (flags or {}).items():
        cfg.set(dotted, value, f"flag {flag_name}")
    return cfg


def _apply_file(cfg: Config) -> None:
    path = cfg.config_path
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message names line and column, never a value
        raise VahtiError(f"{path}: not valid TOML ({exc})") from None
    for section, keys in data.items():
        if section in TABLE_SECTIONS:
            if isinstance(keys, dict):
                cfg.tables[section] = keys
            else:
                cfg.warnings.append(f"{path}: [{section}] must be a table; ignored")
            continue
        if section not in DEFAULTS or not isinstance(keys, dict):
            cfg.warnings.append(f"{path}: unknown section [{section}] ignored")
            continue
        for key, value in keys.items():
            dotted = f"{section}.{key}"
            if dotted not in cfg.values:
                cfg.warnings.append(f"{path}: unknown setting {dotted} ignored")
                continue
            cfg.set(dotted, value, "config.toml")


def _apply_environment(cfg: Config, environ: Mapping[str, str]) -> None:
    generic = {
        "VAHTI_" + dotted.replace(".", "_").upper(): dotted for dotted in cfg.values
    }
    # generic names first, so the well-known aliases win when both are set
    for name, dotted in list(generic.items()) + list(ENV_ALIASES.items()):
        if name in environ:
            cfg.set(dotted, environ[name], f"env {name}")


CONFIG_TEMPLATE = """\
# vahti configuration. Precedence: CLI flags > VAHTI_* environment > this file > defaults.
# `vahti config show` prints the effective values and where each came from.

[storage]
# MongoDB URI. Empty: vahti runs its embedded server (SecantusDB) under
# $VAHTI_HOME/db, reachable only by vahti's user: a unix socket in the home (no TCP
# port) and a generated password in $VAHTI_HOME/db/credential. Env: VAHTI_MONGO_URI.
# uri = "mongodb://vahti:PASSWORD@db1.example,db2.example/?replicaSet=rs0"
# database = "vahti"
# connect_timeout_s = 5.0
# Seconds the embedded server keeps running after the last vahti command, so that
# commands in a row skip its start (0: it stops with its last command). It stops by
# itself when they are over, and at once when this home or its credential goes.
# embedded_linger_s = 60.0

[key]
# The 256-bit key behind every digest. Empty: $VAHTI_HOME/key. Env: VAHTI_KEY_FILE.
# Lose it and every enrolled digest is useless; leak it and digests can be brute-forced.
# file = "/etc/vahti/key"
# Instead of a file, a command (run without a shell) that prints the hex key, e.g. a
# secrets manager's CLI. Env: VAHTI_KEY_COMMAND. Before both: a systemd credential
# $CREDENTIALS_DIRECTORY/vahti-key (LoadCredential=), then VAHTI_KEY_FD=N (an inherited
# file descriptor). `vahti status` says which one gave the key.
# command = ["/usr/local/bin/get-vahti-key", "--name", "vahti"]
# command_timeout_s = 10.0

[log]
# Log file: $VAHTI_HOME/logs/vahti.log. Identifier-shaped strings are redacted.
# level = "INFO"
# stderr_level = "WARNING"
# "text", or "json": one object a line (time, level, logger, message, pid, process).
# format = "text"
# "file" (vahti.log, shared safely by every vahti process on this home), "journald"
# (the systemd journal's native socket) or "syslog" (/dev/log, facility daemon).
# target = "file"
# socket = ""  # journald or syslog socket, when not the usual one
# The file is rotated past max_bytes, keeping `backups` old files.
# max_bytes = 10485760
# backups = 5

[metrics]
# Prometheus metrics of `vahti daemon` at http://LISTEN/metrics. Off unless set.
# Only a loopback address, unless allow_remote = true (then protect it yourself).
# listen = "127.0.0.1:9464"
# allow_remote = false
# Database figures (last success per source, stored counts, outbox) are cached this long.
# cache_s = 5.0

[matchers]
# Region for phone numbers written without a country code.
# phone_region = "FI"
# Regular expression of the controller's own customer numbers, if any.
# customer_id_pattern = "ASI-[0-9]{6}"

[tor]
# Every crawl goes through tor and stops if tor is not usable (fail closed).
# "launch": vahti starts its own tor (data under $VAHTI_HOME/tor), shared by the
# vahti processes on this home and stopped by the last one. "external": an existing
# tor; setting socks or control selects it (env VAHTI_TOR_SOCKS, VAHTI_TOR_CONTROL).
# `vahti tor status` shows what vahti sees.
# mode = "launch"
# socks = "127.0.0.1:9050"
# control = "127.0.0.1:9051"
# Control port authentication: tor's cookie unless this file (mode 0600) holds a password.
# control_password_file = "/etc/vahti/tor-control-password"
# binary = "tor"
# More torrc lines for launch mode, one per line (vahti sets the ports and DataDirectory).
# torrc_extra = \"\"\"
# UseBridges 1
# \"\"\"
# bootstrap_timeout_s = 90.0
# Consecutive 403/429/503 answers from a site before vahti asks tor for new circuits.
# newnym_after = 3

[health]
# Consecutive failed runs before a source counts as failing and raises a health alert.
# fail_after = 3

[retention]
# Days after which the database itself deletes records (TTL indexes; 0 = keep forever).
# A change takes effect the next time vahti opens the database.
# Pages (URL, hash, counts): deleted when not fetched again for this long.
# pages_days = 365
# Sightings: deleted when a person was not seen again on that page for this long.
# A year keeps the evidence for the yearly incident review and the record of breaches.
# sightings_days = 365
# Retained candidate digests (every identifier on a page, enrolled or not): the least
# purpose-bound data, kept half a year for retro-hunts after a new enrolment.
# candidates_days = 180

[scan]
# Limits on reading one input: a file, a crawled page, or stdin (archives included).
# Archive members and document parts (SQLite tables, spreadsheet sheets) per input;
# past it the input is reported as partial ("too many members") and the rest not read.
# max_members = 10000
# Seconds for extracting one SQLite, PDF or Office document's text ("time limit").
# document_timeout_s = 30.0

[crawl]
# Defaults for every source; sources.toml may override them per source.
# concurrency = 8
# delay_s = 0.0
# max_page_bytes = 52428800
# download_timeout_s = 120.0
# retries = 2
# user_agent = "Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0"
"""
