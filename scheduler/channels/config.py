"""`[channels.NAME]` tables of config.toml: validated into `ChannelConfig`.

Errors name the channel and the key, never a value. Secrets (a webhook's signing
secret, an SMTP password) never go in config.toml: a channel names the environment
variable (`secret_env`, `password_env`) or the secret file (`secret_file`,
`password_file`, absolute path, mode 0600) that holds them. They are read when a
message is sent, so a rotated secret needs no restart.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from vahti.matchers.keys import secret_file_problem

TYPES = ("webhook", "email", "stdout", "syslog", "misp", "thehive")  # the last three: issue 14
MODES = ("immediate", "digest")
DIGESTS = ("hourly", "daily")
KINDS = ("sighting", "health")
SECURITIES = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}

COMMON = {"type": "", "mode": "immediate", "digest": "daily", "kinds": list(KINDS),
          "updates": True}
# `updates`: the channel also gets an alert's triage changes (payload type alert_update).
# Off by default for e-mail: a mail per ack or resolve floods the very inboxes the alert
# went to, and mail is kept where vahti has no say; on for every other type.
UPDATES_OFF_BY_DEFAULT = ("email",)
# per type: key -> default (the default's type is the key's type; None: str, optional)
OPTIONS: dict[str, dict[str, Any]] = {
    "webhook": {"url": "", "secret_env": "", "secret_file": "", "timeout_s": 10.0,
                "ca_file": "", "proxy": ""},
    "email": {"host": "", "port": 0, "security": "starttls", "username_env": "",
              "password_env": "", "password_file": "", "from": "", "to": [],
              "timeout_s": 10.0, "ca_file": ""},
    "stdout": {"path": ""},
}
# --- issue 14: webhook formats, auth headers, secret URLs, the syslog channel ---------------
# (checked in _check_formats and _check_syslog at the end of this module)
WEBHOOK_FORMATS = ("vahti", "splunk_hec", "elastic", "slack", "teams")
SYSLOG_FORMATS = ("rfc5424", "cef")
SYSLOG_TRANSPORTS = ("udp", "tcp", "tls")
OPTIONS["webhook"].update({
    "format": "vahti",
    "url_env": "", "url_file": "",  # a URL that is a secret (Slack's, Teams')
    "auth_env": "", "auth_file": "",  # a token sent as <auth_header>: <auth_scheme> <token>
    "auth_header": "Authorization", "auth_scheme": "",  # "": the format's (Splunk, ApiKey)
    "sourcetype": "vahti:alert", "index": "", "host": "",  # splunk_hec's event fields
})
OPTIONS["syslog"] = {
    "host": "", "port": 0, "transport": "udp", "ca_file": "", "format": "rfc5424",
    "facility": "local0", "severity": "warning", "app_name": "vahti",
    "sd_id": "vahti@32473", "timeout_s": 10.0,
}
# keys that would put a secret in config.toml: refused with a pointer to the right way
INLINE_SECRETS = ("secret", "password", "token", "username", "api_key", "key")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ADDRESS_RE = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+")


class ChannelConfigError(ValueError):
    """A problem with a channel; the message names the channel and the key."""


def _fail(name: str, key: str, problem: str) -> ChannelConfigError:
    where = f"[channels.{name}]" + (f" {key}" if key else "")
    return ChannelConfigError(f"config.toml {where}: {problem}")


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    type: str
    mode: str = "immediate"
    digest: str = "daily"
    kinds: tuple[str, ...] = KINDS
    options: Mapping[str, Any] = field(default_factory=dict)
    updates: bool = True  # send alert_update messages (triage changes)

    def option(self, key: str) -> Any:
        return self.options.get(key, OPTIONS[self.type][key])

    def wants(self, kind: str) -> bool:
        return kind in self.kinds

    def describe(self) -> dict[str, Any]:
        """What `vahti alerts channels` shows: no secret, no webhook path (it may be one)."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "mode": self.mode,
                               "kinds": list(self.kinds), "updates": self.updates}
        if self.mode == "digest":
            out["digest"] = self.digest
        if self.type == "webhook":
            describe_webhook(self, out)
        elif self.type == "email":
            out["target"] = (f"{self.option('host')}:{smtp_port(self)} "
                             f"({self.option('security')}), {len(self.option('to'))} recipients")
            if self.option("username_env"):
                out["secret"] = _pointer(self, "password_env", "password_file")
        elif self.type == "syslog":
            out["target"] = (f"{self.option('transport')}://{self.option('host')}:"
                             f"{syslog_port(self)} ({self.option('format')})")
        elif self.type in INTEL_TYPES:
            describe_intel(self, out)
        else:
            out["target"] = self.option("path") or "stdout"
        return out


def _pointer(ch: ChannelConfig, env_key: str, file_key: str) -> str:
    if ch.option(env_key):
        return f"env {ch.option(env_key)}"
    return f"file {ch.option(file_key)}"


def smtp_port(ch: ChannelConfig) -> int:
    return int(ch.option("port")) or DEFAULT_PORTS[ch.option("security")]


def parse_channels(tables: Mapping[str, Any] | None) -> dict[str, ChannelConfig]:
    """All channels of `cfg.tables["channels"]`, by name; the first problem raises."""
    out: dict[str, ChannelConfig] = {}
    for name, table in sorted((tables or {}).items()):
        out[name] = parse_channel(name, table)
    return out


def as_channels(channels: Any) -> list[ChannelConfig]:
    """Accept parsed channels (a mapping or an iterable) or the raw tables."""
    if not channels:
        return []
    if isinstance(channels, Mapping):
        values = list(channels.values())
        if all(isinstance(v, ChannelConfig) for v in values):
            return values
        return list(parse_channels(channels).values())
    items: Iterable[Any] = channels
    result = list(items)
    if not all(isinstance(c, ChannelConfig) for c in result):
        raise TypeError("channels must be ChannelConfig objects or the raw [channels] tables")
    return result


def _typed(name: str, key: str, value: Any, default: Any) -> Any:
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, list):
        ok = isinstance(value, list) and all(isinstance(v, str) and v for v in value)
    else:
        ok = isinstance(value, str)
    if not ok:
        what = {bool: "true or false", float: "a number", int: "a whole number",
                list: "a list of non-empty strings"}.get(type(default), "a string")
        raise _fail(name, key, f"must be {what}")
    return value


def parse_channel(name: str, table: Any) -> ChannelConfig:
    if not re.fullmatch(r"[A-Za-z0-9_-]+", str(name)):
        raise _fail(str(name), "", "a channel name is letters, digits, '-' and '_'")
    if not isinstance(table, Mapping):
        raise _fail(name, "", "must be a table")
    kind = table.get("type")
    if kind not in TYPES:
        raise _fail(name, "type", f"must be one of {', '.join(TYPES)}")
    for key in table:
        if key in COMMON or key in OPTIONS[kind]:
            continue
        if key.lower() in INLINE_SECRETS:
            raise _fail(name, key, "secrets never go in config.toml: name an environment "
                                   "variable (*_env) or a secret file (*_file) instead")
        raise _fail(name, key, f"unknown key for a {kind} channel")
    mode = _typed(name, "mode", table.get("mode", COMMON["mode"]), "")
    if mode not in MODES:
        raise _fail(name, "mode", f"must be one of {', '.join(MODES)}")
    digest = _typed(name, "digest", table.get("digest", COMMON["digest"]), "")
    if digest not in DIGESTS:
        raise _fail(name, "digest", f"must be one of {', '.join(DIGESTS)}")
    kinds = _typed(name, "kinds", table.get("kinds", COMMON["kinds"]), [])
    if not kinds or any(k not in KINDS for k in kinds):
        raise _fail(name, "kinds", f"a non-empty list of {', '.join(KINDS)}")
    updates = _typed(name, "updates", table.get("updates", kind not in UPDATES_OFF_BY_DEFAULT),
                     True)
    options = {
        key: _typed(name, key, table[key], default)
        for key, default in OPTIONS[kind].items() if key in table
    }
    ch = ChannelConfig(name=name, type=kind, mode=mode, digest=digest,
                       kinds=tuple(dict.fromkeys(kinds)), options=options, updates=updates)
    {"webhook": _check_webhook, "email": _check_email, "stdout": _check_stdout,
     "syslog": _check_syslog, "misp": _check_intel, "thehive": _check_intel}[kind](ch)
    return ch


def _check_timeout(ch: ChannelConfig) -> None:
    if not 0 < ch.option("timeout_s") <= 300:
        raise _fail(ch.name, "timeout_s", "must be more than 0 and at most 300 seconds")


def _check_env(ch: ChannelConfig, key: str) -> None:
    if ch.option(key) and not ENV_NAME_RE.fullmatch(ch.option(key)):
        raise _fail(ch.name, key, "not an environment variable name")


def _check_abs_path(ch: ChannelConfig, key: str) -> None:
    if ch.option(key) and not Path(ch.option(key)).expanduser().is_absolute():
        raise _fail(ch.name, key, "must be an absolute path")


def _check_secret_pointer(ch: ChannelConfig, env_key: str, file_key: str, what: str) -> None:
    _check_env(ch, env_key)
    _check_abs_path(ch, file_key)
    if bool(ch.option(env_key)) == bool(ch.option(file_key)):
        raise _fail(ch.name, env_key, f"{what}: set exactly one of {env_key} and {file_key}")


def _check_url(ch: ChannelConfig, url: str, key: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(ch.name, key, "must be an http:// or https:// URL")
    if parts.username or parts.password:
        raise _fail(ch.name, key, "must not hold credentials (user:password@)")


def _check_webhook(ch: ChannelConfig) -> None:
    _check_formats(ch)
    if ch.option("url"):
        _check_url(ch, ch.option("url"), "url")
    if ch.option("format") == "vahti" or ch.option("secret_env") or ch.option("secret_file"):
        _check_secret_pointer(ch, "secret_env", "secret_file", "the signing secret")
    _check_timeout(ch)
    _check_abs_path(ch, "ca_file")
    if ch.option("proxy") and urlsplit(ch.option("proxy")).scheme not in (
            "http", "https", "socks5", "socks5h"):
        raise _fail(ch.name, "proxy", "must be an http://, https:// or socks5h:// URL")


def _check_email(ch: ChannelConfig) -> None:
    if not ch.option("host") or any(c.isspace() for c in ch.option("host")):
        raise _fail(ch.name, "host", "the SMTP server's host name is required")
    if ch.option("security") not in SECURITIES:
        raise _fail(ch.name, "security", f"must be one of {', '.join(SECURITIES)}")
    if not 0 <= ch.option("port") <= 65535:
        raise _fail(ch.name, "port", "must be a port number (0: the security's default)")
    if not ADDRESS_RE.fullmatch(ch.option("from")):
        raise _fail(ch.name, "from", "one e-mail address is required")
    if not ch.option("to"):
        raise _fail(ch.name, "to", "a list of at least one e-mail address is required")
    for i, address in enumerate(ch.option("to")):
        if not ADDRESS_RE.fullmatch(address):
            raise _fail(ch.name, "to", f"item {i + 1} is not one e-mail address")
    _check_env(ch, "username_env")
    if ch.option("username_env"):
        _check_secret_pointer(ch, "password_env", "password_file", "the SMTP password")
        if ch.option("security") == "none":
            raise _fail(ch.name, "security", '"none" would send the password in clear: '
                                             'use "starttls" or "ssl"')
    elif ch.option("password_env") or ch.option("password_file"):
        raise _fail(ch.name, "username_env", "a password needs username_env too")
    _check_timeout(ch)
    _check_abs_path(ch, "ca_file")


def _check_stdout(ch: ChannelConfig) -> None:
    _check_abs_path(ch, "path")


# --- secrets, read when sending ---------------------------------------------------------


def read_secret(ch: ChannelConfig, env_key: str, file_key: str,
                environ: Mapping[str, str] | None = None) -> str:
    """The secret a channel points at; errors name the variable or file, never a value."""
    environ = os.environ if environ is None else environ
    var = ch.option(env_key)
    if var:
        value = environ.get(var, "")
        if not value:
            raise _fail(ch.name, env_key, f"environment variable {var} is not set")
        return value
    path = Path(ch.option(file_key)).expanduser()
    if problem := secret_file_problem(path):
        raise _fail(ch.name, file_key, f"secret file {problem}")
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise _fail(ch.name, file_key, f"cannot read {path} ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise _fail(ch.name, file_key, f"secret file {path} is not UTF-8 text") from None
    secret = text.splitlines()[0] if text else ""
    if not secret:
        raise _fail(ch.name, file_key, f"secret file {path} is empty")
    return secret


def read_username(ch: ChannelConfig, environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    var = ch.option("username_env")
    value = environ.get(var, "")
    if not value:
        raise _fail(ch.name, "username_env", f"environment variable {var} is not set")
    return value


def channel_problems(ch: ChannelConfig, environ: Mapping[str, str] | None = None) -> list[str]:
    """What would stop this channel from sending now (secrets missing, unreadable)."""
    problems: list[str] = []
    try:
        if ch.type == "webhook":
            webhook_secrets(ch, environ)
        elif ch.type == "email" and ch.option("username_env"):
            read_username(ch, environ)
            read_secret(ch, "password_env", "password_file", environ)
        elif ch.type in INTEL_TYPES:
            read_secret(ch, "key_env", "key_file", environ)
    except ChannelConfigError as exc:
        problems.append(str(exc))
    return problems


# --- issue 14: webhook formats, auth headers, secret URLs, the syslog channel ---------------


def describe_webhook(ch: ChannelConfig, out: dict[str, Any]) -> None:
    """Scheme and host only (the path may be a token); a secret URL not even that."""
    out["format"] = ch.option("format")
    if ch.option("url"):
        parts = urlsplit(ch.option("url"))
        out["target"] = f"{parts.scheme}://{parts.hostname}" + (
            f":{parts.port}" if parts.port else "") + "/…"
    else:
        out["target"] = "URL from " + _pointer(ch, "url_env", "url_file")
    if ch.option("secret_env") or ch.option("secret_file"):
        out["secret"] = _pointer(ch, "secret_env", "secret_file")
    if ch.option("auth_env") or ch.option("auth_file"):
        out["auth"] = f"{ch.option('auth_header')} from " + _pointer(ch, "auth_env",
                                                                      "auth_file")


def _check_formats(ch: ChannelConfig) -> None:
    fmt = ch.option("format")
    if fmt not in WEBHOOK_FORMATS:
        raise _fail(ch.name, "format", f"must be one of {', '.join(WEBHOOK_FORMATS)}")
    if sum(bool(ch.option(k)) for k in ("url", "url_env", "url_file")) != 1:
        raise _fail(ch.name, "url", "set exactly one of url, url_env and url_file")
    _check_env(ch, "url_env")
    _check_abs_path(ch, "url_file")
    if ch.option("auth_env") or ch.option("auth_file") or fmt in ("splunk_hec", "elastic"):
        _check_secret_pointer(ch, "auth_env", "auth_file", f"the {fmt} token")
    if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", ch.option("auth_header")):
        raise _fail(ch.name, "auth_header", "must be an HTTP header name")
    if not re.fullmatch(r"[A-Za-z0-9-]{0,32}", ch.option("auth_scheme")):
        raise _fail(ch.name, "auth_scheme", "must be one word (Splunk, ApiKey, Bearer)")
    for key in ("sourcetype", "index", "host"):
        if any(c.isspace() for c in ch.option(key)):
            raise _fail(ch.name, key, "must not hold spaces")


def webhook_url(ch: ChannelConfig, environ: Mapping[str, str] | None = None) -> str:
    """The URL to post to: from config.toml, or read from its secret now."""
    if ch.option("url"):
        return str(ch.option("url"))
    url = read_secret(ch, "url_env", "url_file", environ).strip()
    _check_url(ch, url, "url_env" if ch.option("url_env") else "url_file")
    return url


def webhook_secrets(ch: ChannelConfig, environ: Mapping[str, str] | None = None) -> None:
    """Read every secret the webhook points at (raises the first problem)."""
    for env_key, file_key in (("secret_env", "secret_file"), ("auth_env", "auth_file")):
        if ch.option(env_key) or ch.option(file_key):
            read_secret(ch, env_key, file_key, environ)
    webhook_url(ch, environ)


SYSLOG_PORTS = {"udp": 514, "tcp": 514, "tls": 6514}


def syslog_port(ch: ChannelConfig) -> int:
    return int(ch.option("port")) or SYSLOG_PORTS[ch.option("transport")]


def _check_syslog(ch: ChannelConfig) -> None:
    import logging.handlers

    names = logging.handlers.SysLogHandler
    if not ch.option("host") or any(c.isspace() for c in ch.option("host")):
        raise _fail(ch.name, "host", "the syslog server's host name is required")
    if not 0 <= ch.option("port") <= 65535:
        raise _fail(ch.name, "port", "must be a port number (0: the transport's default)")
    if ch.option("transport") not in SYSLOG_TRANSPORTS:
        raise _fail(ch.name, "transport", f"must be one of {', '.join(SYSLOG_TRANSPORTS)}")
    if ch.option("format") not in SYSLOG_FORMATS:
        raise _fail(ch.name, "format", f"must be one of {', '.join(SYSLOG_FORMATS)}")
    if ch.option("facility") not in names.facility_names:
        raise _fail(ch.name, "facility", "must be a syslog facility name (local0, daemon...)")
    if ch.option("severity") not in names.priority_names:
        raise _fail(ch.name, "severity", "must be a syslog severity name (warning, notice...)")
    if not re.fullmatch(r"[!-~]{1,48}", ch.option("app_name")):
        raise _fail(ch.name, "app_name", "1 to 48 printable ASCII characters, no spaces")
    if not re.fullmatch(r"[!#-<>-\\^-~]{1,32}", ch.option("sd_id")) or "@" not in ch.option(
            "sd_id"):
        raise _fail(ch.name, "sd_id", 'an RFC 5424 SD-ID with an enterprise number, '
                                      'e.g. "vahti@32473"')
    if ch.option("ca_file") and ch.option("transport") != "tls":
        raise _fail(ch.name, "ca_file", 'only for transport = "tls"')
    _check_abs_path(ch, "ca_file")
    _check_timeout(ch)


# --- issue 14: the misp and thehive channels ----------------------------------------------
# Both take an API key from key_env or key_file (never inline), an https URL and a CA file.
INTEL_TYPES = ("misp", "thehive")
TLPS = ("clear", "white", "green", "amber", "amber+strict", "red")
MISP_EVENT_PER = ("alert", "source")
_INTEL_COMMON = {"url": "", "key_env": "", "key_file": "", "ca_file": "", "timeout_s": 10.0,
                 "tlp": "amber", "include_refs": False}
OPTIONS["misp"] = {**_INTEL_COMMON, "event_per": "alert",
                   "distribution": 0,  # 0 your organisation only ... 3 all communities
                   "threat_level": 2,  # 1 high, 2 medium, 3 low, 4 undefined
                   "analysis": 0}  # 0 initial, 1 ongoing, 2 completed
OPTIONS["thehive"] = {**_INTEL_COMMON, "organisation": "", "pap": "amber",
                      "severity": 2}  # 1 low, 2 medium, 3 high, 4 critical
_INTEL_RANGES = {"distribution": (0, 3), "threat_level": (1, 4), "analysis": (0, 2),
                 "severity": (1, 4)}


def _check_intel(ch: ChannelConfig) -> None:
    parts = urlsplit(ch.option("url"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(ch.name, "url", "must be an http:// or https:// URL")
    if parts.username or parts.password:
        raise _fail(ch.name, "url", "must not hold credentials (user:password@)")
    _check_secret_pointer(ch, "key_env", "key_file", "the API key")
    _check_timeout(ch)
    _check_abs_path(ch, "ca_file")
    for key in ("tlp", "pap"):
        if key in OPTIONS[ch.type] and ch.option(key) not in TLPS:
            raise _fail(ch.name, key, f"must be one of {', '.join(TLPS)}")
    if ch.type == "misp" and ch.option("event_per") not in MISP_EVENT_PER:
        raise _fail(ch.name, "event_per", f"must be one of {', '.join(MISP_EVENT_PER)}")
    for key, (low, high) in _INTEL_RANGES.items():
        if key in OPTIONS[ch.type] and not low <= ch.option(key) <= high:
            raise _fail(ch.name, key, f"must be from {low} to {high}")


def describe_intel(ch: ChannelConfig, out: dict[str, Any]) -> None:
    parts = urlsplit(ch.option("url"))
    out["target"] = f"{parts.scheme}://{parts.hostname}" + (
        f":{parts.port}" if parts.port else "") + "/"
    out["secret"] = _pointer(ch, "key_env", "key_file")
