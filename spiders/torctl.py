"""Tor control (stem): settings, the fail-closed readiness gate, status, NEWNYM, and
the tor that vahti launches and owns.

Two modes:

- **external**: an existing tor at `socks` (SocksPort) and, optionally, `control`
  (ControlPort; cookie authentication, or a password from a file). Setting either
  address (e.g. `VAHTI_TOR_SOCKS=127.0.0.1:9050`) selects this mode.
- **launch**: vahti starts its own tor under `$VAHTI_HOME/tor` and stops it when
  done. Several vahti processes on one home share that tor (tor locks its
  DataDirectory, so there can only be one); the last one to leave stops it.

`check_ready()` is the gate before any crawl: it raises `TorUnavailable` unless
tor answers, is bootstrapped to 100 % with a circuit established, and its SOCKS
port speaks SOCKS5. Nothing falls back to a direct connection.

Launch mode, under `$VAHTI_HOME/tor` (mode 0700):

    data/            tor's DataDirectory (0700; holds the control cookie)
    torrc            the configuration vahti wrote (0600); its path in tor's argv
                     identifies our tor in /proc, so a reused pid is never signalled
    torrc-defaults   empty: no system-wide defaults file sneaks in
    tor.log          tor's own output (append; rotated once past 10 MB)
    control.port     written by tor (ControlPortWriteToFile): the chosen port
    tor.json         state: pid, SOCKS and control addresses, hash of the torrc
    tor.lock         held exclusively while a process starts, adopts or stops tor
    users.lock       held shared by every vahti process using the tor

Ports are `auto` on 127.0.0.1 and read back from tor, so there is no race for a
free port. tor runs in a session of its own: a Ctrl-C meant for one vahti
command does not kill a tor that other vahti processes use. Not stem's
`take_ownership`: that makes stem send TAKEOWNERSHIP on the next control
connection of this process, and tor would exit as soon as that connection
closed (e.g. after a status query). Not a parent-death signal either: the tor
is shared, and the process that started it may leave first. A vahti process
that is killed leaves its lock behind in no state (flock dies with it); a tor
nobody uses any more is adopted by the next vahti process on the home and
stopped by the last one to leave.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import stem
import stem.connection
from stem import Signal
from stem.control import Controller

from vahti.matchers.keys import secret_file_problem
from vahti.matchers.private import private_dir
from vahti.storage.processes import SharedUse, alive, runs_with

LOOPBACK = "127.0.0.1"
CONNECT_TIMEOUT_S = 3.0  # one TCP connect / handshake; a dead port fails well within it
NEWNYM_INTERVAL_S = 10.0  # tor ignores (delays) a NEWNYM sooner than this after the last one
LOG_ROTATE_BYTES = 10 * 1024 * 1024
MODES = ("launch", "external")

# torrc options vahti sets itself in launch mode; torrc_extra must not change them
MANAGED_OPTIONS = frozenset(
    name.lower() for name in (
        "DataDirectory", "SocksPort", "ControlPort", "ControlPortWriteToFile",
        "CookieAuthentication", "CookieAuthFile", "RunAsDaemon", "__OwningControllerProcess",
        "ControlSocket", "SocksSocket",
    )
)

NOT_RUNNING = "launch mode: tor is started by crawls/daemon; not running now"


class TorConfigError(ValueError):
    """The [tor] settings are not usable; the message names the setting and its origin."""


class TorUnavailable(RuntimeError):
    """Tor cannot be used right now: no crawl may run. One line saying what to do.

    `reason` is one of: unreachable, not-tor, auth, bootstrapping, no-circuit, socks,
    not-running, launch-failed, config-mismatch.
    """

    exit_code = 2

    def __init__(self, message: str, *, reason: str, address: str | None = None,
                 progress: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.address = address
        self.progress = progress


# ---------------------------------------------------------------------------
# settings


@dataclass(frozen=True)
class TorSettings:
    """How vahti reaches tor. Built from the configuration by `build_tor_settings`."""

    mode: str  # "launch" | "external"
    data_dir: Path  # $VAHTI_HOME/tor (launch mode)
    socks_host: str | None = None  # external mode; None in launch mode (ports chosen at start)
    socks_port: int | None = None
    control_host: str | None = None
    control_port: int | None = None
    control_password: str | None = field(default=None, repr=False)
    binary: str = "tor"
    torrc_extra: tuple[str, ...] = ()
    bootstrap_timeout_s: float = 90.0
    newnym_after: int = 3

    @property
    def socks(self) -> str | None:
        return _join(self.socks_host, self.socks_port)

    @property
    def control(self) -> str | None:
        return _join(self.control_host, self.control_port)

    @property
    def log_path(self) -> Path:
        return self.data_dir / "tor.log"


def _join(host: str | None, port: int | None) -> str | None:
    if host is None or port is None:
        return None
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")


def parse_host_port(text: str, what: str = "address") -> tuple[str, int]:
    """`HOST:PORT` or `[IPv6]:PORT` -> (host, port); TorConfigError saying what is wrong."""
    raw = str(text).strip()
    example = "e.g. 127.0.0.1:9050"
    if not raw:
        raise TorConfigError(f"{what}: empty, expected HOST:PORT ({example})")
    if "://" in raw:
        raise TorConfigError(f"{what}: {raw!r} is a URL; give HOST:PORT without a scheme "
                             f"({example})")
    if raw.startswith("["):
        host, sep, port_text = raw[1:].partition("]:")
        if not sep:
            raise TorConfigError(f"{what}: {raw!r} is not [IPv6]:PORT")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise TorConfigError(f"{what}: {host!r} in {raw!r} is not an IPv6 address") from None
    else:
        host, sep, port_text = raw.rpartition(":")
        if not sep:
            raise TorConfigError(f"{what}: {raw!r} has no port; expected HOST:PORT ({example})")
        if not host:
            raise TorConfigError(f"{what}: {raw!r} has no host; expected HOST:PORT ({example})")
        if ":" in host:
            raise TorConfigError(f"{what}: {raw!r}: write an IPv6 address in brackets, "
                                 f"[::1]:9050")
        if not _HOSTNAME.match(host):
            raise TorConfigError(f"{what}: {host!r} in {raw!r} is not a host name or address")
    if not port_text.isdigit() or not port_text.isascii():
        raise TorConfigError(f"{what}: port {port_text!r} in {raw!r} is not a number")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise TorConfigError(f"{what}: port {port} in {raw!r} is outside 1-65535")
    return host, port


def read_password_file(path: Path, what: str = "tor.control_password_file") -> str:
    """The control password; refuses a file that group or others can read (like the key)."""
    if problem := secret_file_problem(path):
        raise TorConfigError(f"{what}: {problem}")
    try:
        password = path.read_text(encoding="utf-8").strip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise TorConfigError(f"{what}: cannot read {path} ({exc})") from None
    if not password:
        raise TorConfigError(f"{what}: {path} is empty")
    return password


def torrc_lines(text: str, what: str = "tor.torrc_extra") -> tuple[str, ...]:
    """The non-empty, non-comment lines of `text`; refuses options vahti manages."""
    lines = []
    for number, line in enumerate(str(text).splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        option = line.split(None, 1)[0]
        if option.lower() in MANAGED_OPTIONS:
            raise TorConfigError(f"{what}: line {number} sets {option}, which vahti manages "
                                 f"in launch mode; remove it")
        lines.append(line)
    return tuple(lines)


def build_tor_settings(home: Path, values: Mapping[str, Any],
                       origins: Mapping[str, str] | None = None) -> TorSettings:
    """TorSettings from the `[tor]` values (keys without the `tor.` prefix).

    External mode whenever `socks` or `control` is set, whatever `mode` says.
    `origins` (key -> "env VAHTI_TOR_SOCKS", "config.toml", ...) only improves messages.
    """
    origins = origins or {}

    def name(key: str) -> str:
        origin = origins.get(key)
        return f"tor.{key}" + (f" ({origin})" if origin and origin != "default" else "")

    mode = str(values.get("mode", "launch")).strip().lower()
    if mode not in MODES:
        raise TorConfigError(f"{name('mode')}: {mode!r} is not one of {', '.join(MODES)}")
    socks_text = str(values.get("socks", "") or "").strip()
    control_text = str(values.get("control", "") or "").strip()
    timeout = float(values.get("bootstrap_timeout_s", 90.0))
    if not timeout > 0:
        raise TorConfigError(f"{name('bootstrap_timeout_s')}: must be more than 0")
    newnym_after = int(values.get("newnym_after", 3))
    binary = str(values.get("binary", "tor") or "tor").strip()
    common = dict(data_dir=Path(home) / "tor", binary=binary, bootstrap_timeout_s=timeout,
                  newnym_after=newnym_after)

    if socks_text or control_text:
        mode = "external"
    if mode == "launch":
        return TorSettings(mode="launch",
                           torrc_extra=torrc_lines(values.get("torrc_extra", ""),
                                                   name("torrc_extra")),
                           **common)
    if not (socks_text or control_text):
        raise TorConfigError(
            f"{name('mode')} is external but neither tor.socks nor tor.control is set "
            f"(e.g. VAHTI_TOR_SOCKS=127.0.0.1:9050 VAHTI_TOR_CONTROL=127.0.0.1:9051)")
    socks_host = socks_port = control_host = control_port = None
    if socks_text:
        socks_host, socks_port = parse_host_port(socks_text, name("socks"))
    if control_text:
        control_host, control_port = parse_host_port(control_text, name("control"))
        if ":" in control_host:
            raise TorConfigError(f"{name('control')}: stem reaches control ports over IPv4 "
                                 f"only; give an IPv4 address or host name")
    password = None
    password_file = str(values.get("control_password_file", "") or "").strip()
    if password_file:
        password = read_password_file(Path(password_file).expanduser(),
                                      name("control_password_file"))
    return TorSettings(mode="external", socks_host=socks_host, socks_port=socks_port,
                       control_host=control_host, control_port=control_port,
                       control_password=password, **common)


# ---------------------------------------------------------------------------
# what check_ready found


@dataclass(frozen=True)
class TorState:
    """A tor that passed `check_ready`: where to send requests, and what is known."""

    mode: str
    socks_host: str
    socks_port: int
    control_host: str | None
    control_port: int | None
    bootstrapped: bool | None  # None: unknown (no control port to ask)
    progress: int | None
    circuit_established: bool | None
    version: str | None
    pid: int | None = None  # vahti's own tor (launch mode)
    notes: tuple[str, ...] = ()

    @property
    def socks(self) -> str:
        return _join(self.socks_host, self.socks_port) or ""

    @property
    def control(self) -> str | None:
        return _join(self.control_host, self.control_port)

    @property
    def proxy_url(self) -> str:
        """For clients: hostnames are resolved by tor (socks5h), never locally."""
        return f"socks5h://{self.socks}"


@dataclass(frozen=True)
class Bootstrap:
    progress: int
    tag: str
    summary: str
    warning: str | None = None


_KV = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def parse_bootstrap_phase(text: str) -> Bootstrap:
    """`NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"` -> Bootstrap."""
    fields = {k.upper(): v[1:-1] if v.startswith('"') else v for k, v in _KV.findall(text)}
    try:
        progress = int(fields.get("PROGRESS", "0"))
    except ValueError:
        progress = 0
    return Bootstrap(progress, fields.get("TAG", ""), fields.get("SUMMARY", ""),
                     fields.get("WARNING"))


@dataclass(frozen=True)
class _Target:
    """Addresses to check: the settings' in external mode, the state file's in launch mode."""

    mode: str
    socks_host: str | None
    socks_port: int | None
    control_host: str | None
    control_port: int | None
    password: str | None = field(default=None, repr=False)
    pid: int | None = None
    log: Path | None = None  # vahti's own tor's log (launch mode)

    @property
    def socks(self) -> str | None:
        return _join(self.socks_host, self.socks_port)

    @property
    def control(self) -> str | None:
        return _join(self.control_host, self.control_port)


def _target(settings: TorSettings) -> _Target:
    if settings.mode == "external":
        return _Target("external", settings.socks_host, settings.socks_port,
                       settings.control_host, settings.control_port, settings.control_password)
    state = LaunchedTor(settings).running_state()
    if state is None:
        raise TorUnavailable(
            f"{NOT_RUNNING} (nothing running in {settings.data_dir}); a crawl starts it "
            f"itself (open_tor), or set VAHTI_TOR_SOCKS/VAHTI_TOR_CONTROL for an existing tor",
            reason="not-running")
    return _Target("launch", state.socks_host, state.socks_port, state.control_host,
                   state.control_port, None, state.pid, settings.log_path)


def _what_to_do(target: _Target) -> str:
    if target.mode == "launch":
        return f"vahti's own tor (pid {target.pid}) is in trouble; see its log {target.log}"
    return "start tor there, or point tor.socks/tor.control (VAHTI_TOR_SOCKS, " \
           "VAHTI_TOR_CONTROL) at a running tor"


# ---------------------------------------------------------------------------
# probes with timeouts (stem itself has none on connect or on a reply)


def _ipv4(host: str, what: str, address: str) -> str:
    try:
        ipaddress.IPv4Address(host)
        return host
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
    except OSError as exc:
        raise TorUnavailable(f"tor {what} {address}: cannot resolve {host!r} ({exc}); "
                             f"fix the address", reason="unreachable", address=address) from None
    return infos[0][4][0]


def _connect(host: str, port: int, what: str, target: _Target,
             timeout_s: float) -> socket.socket:
    address = _join(host, port) or ""
    try:
        return socket.create_connection((host, port), timeout=timeout_s)
    except OSError as exc:
        detail = exc.strerror or str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            detail = f"no answer within {timeout_s:g} s"
        raise TorUnavailable(f"tor is unreachable: nothing accepts connections at the {what} "
                             f"{address} ({detail}); {_what_to_do(target)}",
                             reason="unreachable", address=address) from None


def socks5_greeting(host: str, port: int, timeout_s: float = CONNECT_TIMEOUT_S,
                    target: _Target | None = None) -> None:
    """Connect and do a SOCKS5 method negotiation (no authentication); TorUnavailable on
    anything but `05 00`. No request is made: nothing leaves through the proxy."""
    target = target or _Target("external", host, port, None, None)
    address = _join(host, port) or ""
    with _connect(host, port, "SOCKS port", target, timeout_s) as sock:
        try:
            sock.sendall(b"\x05\x01\x00")
            reply = b""
            while len(reply) < 2:
                chunk = sock.recv(2 - len(reply))
                if not chunk:
                    break
                reply += chunk
        except OSError as exc:
            detail = (f"no answer within {timeout_s:g} s" if isinstance(exc, TimeoutError)
                      else exc.strerror or str(exc))
            raise TorUnavailable(f"the SOCKS port {address} did not complete a SOCKS5 greeting "
                                 f"({detail}): is it tor's SocksPort?", reason="socks",
                                 address=address) from None
    if reply == b"\x05\x00":
        return
    if reply == b"\x05\xff":
        raise TorUnavailable(f"the SOCKS port {address} refuses SOCKS5 without "
                             f"authentication: not a tor SocksPort vahti can use",
                             reason="socks", address=address)
    raise TorUnavailable(f"{address} answered the SOCKS5 greeting with {reply.hex() or 'nothing'}"
                         f": not a SOCKS5 proxy (is it tor's SocksPort?)", reason="socks",
                         address=address)


def _probe_control(host: str, port: int, target: _Target, timeout_s: float) -> str | None:
    """PROTOCOLINFO with a timeout, before stem (which waits forever on a silent port).
    Returns tor's version from the answer."""
    address = _join(host, port) or ""
    with _connect(host, port, "control port", target, timeout_s) as sock:
        data = b""
        try:
            sock.sendall(b"PROTOCOLINFO 1\r\n")
            while not re.search(rb"(^|\r\n)\d{3} [^\r\n]*\r\n", data) and len(data) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
    if not data.startswith(b"250-PROTOCOLINFO") and not data.startswith(b"250 PROTOCOLINFO"):
        first = data.split(b"\r\n", 1)[0][:60].decode("ascii", "replace")
        raise TorUnavailable(
            f"{address} is not a tor control port (PROTOCOLINFO got "
            f"{repr(first) if first else 'no answer'}); fix tor.control / VAHTI_TOR_CONTROL",
            reason="not-tor", address=address)
    match = re.search(rb'VERSION Tor="([^"]+)"', data)
    return match.group(1).decode("ascii", "replace") if match else None


@contextlib.contextmanager
def _controller(target: _Target, budget_s: float,
                connect_timeout_s: float = CONNECT_TIMEOUT_S) -> Iterator[Controller]:
    """An authenticated stem Controller; closed by a watchdog after `budget_s` so that a
    hung tor cannot block the caller (every pending call then raises SocketClosed)."""
    host, port = target.control_host, target.control_port
    assert host is not None and port is not None
    address = target.control or ""
    _probe_control(host, port, target, connect_timeout_s)
    ip = _ipv4(host, "control port", address)
    try:
        controller = Controller.from_port(address=ip, port=port)
    except (stem.SocketError, ValueError) as exc:
        raise TorUnavailable(f"tor is unreachable at the control port {address} ({exc}); "
                             f"{_what_to_do(target)}", reason="unreachable",
                             address=address) from None
    watchdog = threading.Timer(budget_s, controller.close)
    watchdog.daemon = True
    watchdog.start()
    try:
        try:
            controller.authenticate(password=target.password)
        except stem.connection.MissingPassword:
            raise TorUnavailable(
                f"tor at the control port {address} wants a password: put it in a file "
                f"only you can read and set tor.control_password_file", reason="auth",
                address=address) from None
        except stem.connection.UnreadableCookieFile as exc:
            raise TorUnavailable(
                f"authentication failed at the control port {address}: cannot read tor's "
                f"cookie {exc.cookie_path} ({exc}); run vahti as a user that may read it "
                f"(Debian: group debian-tor) or use tor.control_password_file",
                reason="auth", address=address) from None
        except stem.connection.AuthenticationFailure as exc:
            raise TorUnavailable(
                f"authentication failed at the control port {address} ({exc}); check "
                f"tor.control_password_file or tor's CookieAuthentication",
                reason="auth", address=address) from None
        except stem.SocketError as exc:
            raise TorUnavailable(f"tor closed the control connection {address} ({exc})",
                                 reason="unreachable", address=address) from None
        yield controller
    except stem.SocketClosed:
        raise TorUnavailable(f"lost the control connection to tor at {address} (no answer "
                             f"within {budget_s:g} s, or tor exited)", reason="unreachable",
                             address=address) from None
    except stem.ControllerError as exc:
        raise TorUnavailable(f"tor at the control port {address} answered with an error "
                             f"({exc})", reason="unreachable", address=address) from None
    finally:
        watchdog.cancel()
        controller.close()


def _socks_listeners(controller: Controller) -> list[tuple[str, int]]:
    """tor's own SOCKS listeners (GETINFO net/listeners/socks), e.g. [("127.0.0.1", 9050)]."""
    found = []
    for token in controller.get_info("net/listeners/socks", "").split():
        token = token.strip('"')
        with contextlib.suppress(TorConfigError):
            found.append(parse_host_port(token))
    return found


def _bootstrap(controller: Controller) -> tuple[Bootstrap, bool]:
    phase = parse_bootstrap_phase(controller.get_info("status/bootstrap-phase"))
    established = controller.get_info("status/circuit-established", "0").strip() == "1"
    return phase, established


# ---------------------------------------------------------------------------
# the gate


def check_ready(settings: TorSettings, timeout_s: float | None = None) -> TorState:
    """Fail-closed gate before any crawl. Returns the TorState, or raises TorUnavailable.

    Unreachable ports and refused authentication fail at once; a tor that answers but
    is still bootstrapping (or has no circuit yet) is waited for, up to `timeout_s`
    (default: tor.bootstrap_timeout_s). In launch mode this checks vahti's own running
    tor (see open_tor to start one). Without a control port (external mode, socks only)
    only a SOCKS5 greeting is possible: bootstrap state is then unknown, as TorState says.
    """
    timeout = settings.bootstrap_timeout_s if timeout_s is None else max(0.0, timeout_s)
    deadline = time.monotonic() + timeout
    target = _target(settings)
    notes: list[str] = []
    if target.socks_host is not None and target.socks_port is not None:
        socks5_greeting(target.socks_host, target.socks_port, target=target)
    if target.control_host is None:
        notes.append("no control port configured: bootstrap and circuits unknown "
                     "(set tor.control / VAHTI_TOR_CONTROL to check them)")
        assert target.socks_host is not None and target.socks_port is not None
        return TorState(target.mode, target.socks_host, target.socks_port, None, None,
                        bootstrapped=None, progress=None, circuit_established=None,
                        version=None, pid=target.pid, notes=tuple(notes))

    address = target.control or ""
    with _controller(target, budget_s=timeout + 30) as controller:
        version = str(controller.get_version(None) or "") or None
        woken = False
        while True:
            phase, established = _bootstrap(controller)
            if phase.progress >= 100 and established:
                break
            if phase.progress >= 100 and not woken:
                # a tor idle for a day goes dormant and builds no circuits until a
                # client asks; SIGNAL ACTIVE wakes it (older tors: harmless error)
                with contextlib.suppress(stem.InvalidRequest, stem.OperationFailed):
                    controller.signal("ACTIVE")
                woken = True
            if time.monotonic() >= deadline:
                waited = f" after waiting {timeout:g} s" if timeout else ""
                warning = f", warning: {phase.warning}" if phase.warning else ""
                if phase.progress < 100:
                    raise TorUnavailable(
                        f"tor at {address} is not bootstrapped: {phase.progress} % "
                        f"({phase.summary or phase.tag}{warning}){waited}; no crawl runs "
                        f"until it reaches 100 % (tor's log says what it waits for)",
                        reason="bootstrapping", address=address, progress=phase.progress)
                raise TorUnavailable(
                    f"tor at {address} is bootstrapped but has no circuit established"
                    f"{waited}; no crawl runs until it has one (check tor's log)",
                    reason="no-circuit", address=address, progress=phase.progress)
            time.sleep(max(0.0, min(0.5, deadline - time.monotonic())))
        socks_host, socks_port = target.socks_host, target.socks_port
        listeners = _socks_listeners(controller)
        if socks_host is None or socks_port is None:
            if not listeners:
                raise TorUnavailable(f"tor at {address} has no SOCKS listener; set its "
                                     f"SocksPort (and tor.socks)", reason="socks",
                                     address=address)
            socks_host, socks_port = listeners[0]
            if socks_host in ("0.0.0.0", "::"):
                socks_host = target.control_host
            socks5_greeting(socks_host, socks_port, target=target)
        elif listeners and socks_port not in {port for _host, port in listeners}:
            notes.append(f"tor at {address} lists SOCKS listeners "
                         f"{', '.join(_join(h, p) or '' for h, p in listeners)}, not "
                         f"{_join(socks_host, socks_port)}: is the SOCKS port another tor's?")
    return TorState(target.mode, socks_host, socks_port, target.control_host,
                    target.control_port, bootstrapped=True, progress=phase.progress,
                    circuit_established=established, version=version, pid=target.pid,
                    notes=tuple(notes))


# ---------------------------------------------------------------------------
# status for display


def tor_status(settings: TorSettings, timeout_s: float = CONNECT_TIMEOUT_S) -> dict[str, Any]:
    """What `vahti status` / `vahti tor status` show. Never raises and never starts tor:
    problems go into "error" (and "ready" is False). In launch mode it reports vahti's
    own tor from its state file, or that none is running."""
    info: dict[str, Any] = {"mode": settings.mode, "socks": settings.socks,
                            "control": settings.control, "reachable": False, "ready": False}
    try:
        if settings.mode == "launch":
            launched = LaunchedTor(settings)
            info.update(data_dir=str(settings.data_dir), log=str(settings.log_path))
            state = launched.running_state()
            if state is None:
                info.update(running=False, state=NOT_RUNNING)
                if shutil.which(settings.binary) is None:
                    info["error"] = (f"tor binary {settings.binary!r} not found: install tor "
                                     f"or set tor.binary")
                return info
            info.update(running=True, pid=state.pid, launched_by_vahti=True,
                        socks=_join(state.socks_host, state.socks_port),
                        control=_join(state.control_host, state.control_port),
                        users=launched.users())
        target = _target(settings)
        _status_of(target, info, timeout_s)
    except TorUnavailable as exc:
        info["error"] = str(exc)
        info.setdefault("state", _short_state(exc))
    except Exception as exc:  # noqa: BLE001 - a status display must never crash
        info["error"] = f"{type(exc).__name__}: {exc}"
        info.setdefault("state", "error")
    return info


def _short_state(exc: TorUnavailable) -> str:
    if exc.reason == "bootstrapping":
        return f"bootstrapping {exc.progress} %"
    return {"unreachable": "unreachable", "not-tor": "not tor", "auth": "auth failed",
            "no-circuit": "no circuit", "socks": "SOCKS port unusable",
            "not-running": "not running"}.get(exc.reason, exc.reason)


def _status_of(target: _Target, info: dict[str, Any], timeout_s: float) -> None:
    socks_error = None
    if target.socks_host is not None and target.socks_port is not None:
        try:
            socks5_greeting(target.socks_host, target.socks_port, timeout_s, target)
            info["socks_ok"] = True
        except TorUnavailable as exc:
            info["socks_ok"] = False
            socks_error = exc
    if target.control_host is None:
        info["notes"] = ["no control port configured: bootstrap and circuits unknown "
                         "(set tor.control / VAHTI_TOR_CONTROL)"]
        if socks_error is not None:
            raise socks_error
        info.update(reachable=True, ready=True, state="SOCKS port answers; bootstrap unknown")
        return
    with _controller(target, budget_s=timeout_s + 10, connect_timeout_s=timeout_s) as c:
        info["reachable"] = True
        info["version"] = str(c.get_version(None) or "") or None
        phase, established = _bootstrap(c)
        info["bootstrap"] = {"progress": phase.progress, "tag": phase.tag,
                             "summary": phase.summary, "warning": phase.warning}
        info["circuit_established"] = established
        dormant = c.get_info("dormant", None)
        if dormant is not None:
            info["dormant"] = dormant.strip() == "1"
        built = [circ for circ in c.get_circuits([]) if circ.status == "BUILT"]
        info["circuits"] = {"built": len(built),
                            "purposes": dict(Counter(circ.purpose for circ in built))}
        info["streams"] = {"open": len(c.get_streams([]))}
        listeners = _socks_listeners(c)
        info["socks_listeners"] = [_join(h, p) for h, p in listeners]
        if info["socks"] is None and listeners:
            host, port = listeners[0]
            info["socks"] = _join(target.control_host if host in ("0.0.0.0", "::") else host,
                                  port)
    if socks_error is not None:
        raise socks_error
    if phase.progress < 100:
        warning = f", warning: {phase.warning}" if phase.warning else ""
        info["state"] = f"bootstrapping {phase.progress} % ({phase.summary}{warning})"
        info["error"] = f"tor at {target.control} is not bootstrapped ({phase.progress} %)"
    elif not established and info.get("dormant"):
        # idle for long: tor sleeps until a client asks; check_ready wakes it
        info["state"] = "dormant (no circuits until the next crawl wakes it)"
    elif not established:
        info["state"] = "bootstrapped, no circuit established"
        info["error"] = f"tor at {target.control} has no circuit established"
    else:
        info["state"] = "ready"
        info["ready"] = True


# ---------------------------------------------------------------------------
# NEWNYM


@dataclass(frozen=True)
class NewnymResult:
    sent: bool
    wait_s: float  # 0 when sent; else seconds until tor would honour another NEWNYM


_newnym_lock = threading.Lock()
_last_newnym: dict[tuple[str, int] | str, float] = {}  # control address -> monotonic time


def _newnym_wait(key: tuple[str, int] | str) -> float:
    last = _last_newnym.get(key)
    return 0.0 if last is None else max(0.0, last + NEWNYM_INTERVAL_S - time.monotonic())


def request_newnym(target: Controller | TorSettings,
                   timeout_s: float = CONNECT_TIMEOUT_S) -> NewnymResult:
    """Ask tor for new circuits for new streams (SIGNAL NEWNYM), within tor's rate limit.

    Sends only when neither this process (any thread, any controller) nor stem's view
    of `target` saw a NEWNYM to that tor in the last 10 s; otherwise returns at once
    with sent=False and how long to wait. Never sleeps: at most one control round
    trip, bounded by `timeout_s` when given settings. Raises TorUnavailable when tor
    cannot be reached (settings without a control port included).
    """
    if isinstance(target, TorSettings):
        where = _target(target)
        if where.control_host is None or where.control_port is None:
            raise TorUnavailable("NEWNYM needs tor's control port: set tor.control "
                                 "(VAHTI_TOR_CONTROL)", reason="unreachable",
                                 address=where.socks)
        key: tuple[str, int] | str = (where.control_host, where.control_port)
        wait = _newnym_wait(key)
        if wait > 0:
            return NewnymResult(False, wait)
        with _controller(where, budget_s=timeout_s + 5, connect_timeout_s=timeout_s) as c:
            return _send_newnym(c, key)
    sock = target.get_socket()
    key = (getattr(sock, "address", None) or getattr(sock, "path", "?"),
           getattr(sock, "port", 0) or 0)
    return _send_newnym(target, key)


def _send_newnym(controller: Controller, key: tuple[str, int] | str) -> NewnymResult:
    with _newnym_lock:  # only bookkeeping under the lock: it is never held across I/O
        wait = max(_newnym_wait(key), controller.get_newnym_wait())
        if wait > 0:
            return NewnymResult(False, wait)
        previous = _last_newnym.get(key)
        _last_newnym[key] = time.monotonic()  # reserve the slot for this thread
    try:
        controller.signal(Signal.NEWNYM)
    except BaseException:
        with _newnym_lock:
            if previous is None:
                _last_newnym.pop(key, None)
            else:
                _last_newnym[key] = previous
        raise
    return NewnymResult(True, 0.0)


# ---------------------------------------------------------------------------
# launch mode: vahti's own tor, shared by the vahti processes of one home


@dataclass(frozen=True)
class LaunchState:
    pid: int
    socks_host: str
    socks_port: int
    control_host: str
    control_port: int
    torrc_sha256: str


class LaunchedTor:
    """vahti's own tor under `settings.data_dir`; `acquire()` starts or joins it,
    `release()` leaves it and stops it when no other vahti process uses it."""

    def __init__(self, settings: TorSettings) -> None:
        if settings.mode != "launch":
            raise ValueError("LaunchedTor needs launch-mode settings")
        self.settings = settings
        self.dir = settings.data_dir.absolute()  # in tor's argv: must not depend on the cwd
        self.data_path = self.dir / "data"
        self.torrc_path = self.dir / "torrc"
        self.defaults_path = self.dir / "torrc-defaults"
        self.log_path = self.dir / settings.log_path.name
        self.state_path = self.dir / "tor.json"
        self.control_port_file = self.dir / "control.port"
        self._shared = SharedUse(self.dir, "tor.lock")
        self.launch_state: LaunchState | None = None
        self.tor_state: TorState | None = None
        self.started_here = False

    # -- public -----------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self.launch_state.pid if self.launch_state else None

    def acquire(self, timeout_s: float | None = None) -> TorState:
        """Start vahti's tor or join the running one; return it once check_ready passes."""
        if self.tor_state is not None:
            return self.tor_state
        timeout = self.settings.bootstrap_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        private_dir(self.dir)
        os.chmod(self.dir, 0o700)
        with self._shared.start_lock():
            state = self._adopt_running()
            if state is None:
                state = self._start(deadline)
            self._shared.join()
        self.launch_state = state
        try:
            ready = check_ready(self.settings, max(1.0, deadline - time.monotonic()))
        except BaseException:
            self.release()
            raise
        self.tor_state = ready
        return ready

    def release(self) -> None:
        """Leave the tor; stop it when this was the last vahti process using it."""
        if not self._shared.joined:
            return

        def stop_current() -> None:
            current = self._read_state()  # the file's, not our memory: tor may be a newer one
            if current is not None:
                self._stop(current)

        self._shared.leave(stop_current)
        self.launch_state = None
        self.tor_state = None
        _reap_children()

    def running_state(self) -> LaunchState | None:
        """The state of vahti's tor if one runs (by the state file and /proc); no locks."""
        state = self._read_state()
        if state is not None and _is_our_tor(state.pid, self.torrc_path):
            return state
        return None

    def users(self) -> str:
        """"in use", "idle" or "busy" (see `SharedUse.usage`)."""
        return self._shared.usage()

    def __enter__(self) -> TorState:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- internals --------------------------------------------------------

    def _read_state(self) -> LaunchState | None:
        try:
            raw = json.loads(self.state_path.read_text())
            return LaunchState(int(raw["pid"]), str(raw["socks_host"]), int(raw["socks_port"]),
                               str(raw["control_host"]), int(raw["control_port"]),
                               str(raw["torrc_sha256"]))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    def _write_state(self, state: LaunchState) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(state.__dict__, fh)
        os.replace(tmp, self.state_path)

    def torrc_text(self) -> str:
        lines = [
            "# vahti's own tor (launch mode); written by vahti at every start, do not edit:",
            "# set [tor] torrc_extra in vahti's config.toml instead",
            f"DataDirectory {self.data_path}",
            "RunAsDaemon 0",
            f"SocksPort {LOOPBACK}:auto ExtendedErrors IsolateSOCKSAuth",
            f"ControlPort {LOOPBACK}:auto",
            f"ControlPortWriteToFile {self.control_port_file}",
            "CookieAuthentication 1",
            *self.settings.torrc_extra,
        ]
        return "\n".join(lines) + "\n"

    def _torrc_hash(self) -> str:
        text = f"{shutil.which(self.settings.binary) or self.settings.binary}\0{self.torrc_text()}"
        return hashlib.sha256(text.encode()).hexdigest()

    def _adopt_running(self) -> LaunchState | None:
        state = self._read_state()
        if state is None:
            return None
        if _is_our_tor(state.pid, self.torrc_path):
            if state.torrc_sha256 != self._torrc_hash() and self._shared.unused():
                # left behind by a crashed process and nobody uses it: replace it by ours
                _terminate(state.pid, grace_s=10.0)
                self.state_path.unlink(missing_ok=True)
                return None
            if state.torrc_sha256 != self._torrc_hash():
                raise TorUnavailable(
                    f"vahti's tor (pid {state.pid}) runs with other [tor] settings than this "
                    f"process's (torrc_extra or binary differ); use the same settings for "
                    f"every vahti process on this home, or stop the others first",
                    reason="config-mismatch", address=_join(state.control_host,
                                                            state.control_port))
            target = _Target("launch", state.socks_host, state.socks_port, state.control_host,
                             state.control_port, None, state.pid)
            try:
                with _controller(target, budget_s=10):
                    return state
            except TorUnavailable:
                pass
            # ours, but it does not answer: replace it
            _terminate(state.pid, grace_s=10.0)
        self.state_path.unlink(missing_ok=True)
        return None

    def _start(self, deadline: float) -> LaunchState:
        binary = shutil.which(self.settings.binary)
        if binary is None:
            raise TorUnavailable(f"tor binary {self.settings.binary!r} not found: install tor "
                                 f"or set tor.binary", reason="launch-failed")
        private_dir(self.data_path)
        os.chmod(self.data_path, 0o700)  # tor refuses a DataDirectory others can read
        _write_private(self.torrc_path, self.torrc_text())
        _write_private(self.defaults_path, "# empty: no system-wide torrc defaults\n")
        self.control_port_file.unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if self.log_path.stat().st_size > LOG_ROTATE_BYTES:
                os.replace(self.log_path, self.log_path.with_suffix(".log.1"))
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(log_fd, "ab") as log:
            process = subprocess.Popen(
                [binary, "-f", str(self.torrc_path), "--defaults-torrc", str(self.defaults_path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir,
                start_new_session=True)
        _CHILDREN.append(process)
        try:
            state = self._wait_bootstrapped(process, deadline)
        except BaseException:
            _terminate(process.pid, grace_s=5.0)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
            raise
        self._write_state(state)
        self.started_here = True
        return state

    def _wait_bootstrapped(self, process: subprocess.Popen, deadline: float) -> LaunchState:
        timeout = self.settings.bootstrap_timeout_s
        last = "control port not open yet"
        with contextlib.ExitStack() as stack:
            controller: Controller | None = None
            control: tuple[str, int] | None = None
            while True:
                if process.poll() is not None:
                    raise TorUnavailable(
                        f"vahti's tor exited with code {process.returncode} while starting"
                        f"{_last_problem(self.log_path)}; see its log {self.log_path}",
                        reason="launch-failed")
                if control is None:
                    control = _read_control_port_file(self.control_port_file)
                try:
                    if control is not None and controller is None:
                        target = _Target("launch", None, None, control[0], control[1], None,
                                         process.pid)
                        budget = max(0.0, deadline - time.monotonic()) + 10
                        controller = stack.enter_context(_controller(target, budget_s=budget))
                    if controller is not None:
                        phase, established = _bootstrap(controller)
                        last = f"{phase.progress} % ({phase.summary or phase.tag})"
                        if phase.warning:
                            last += f", warning: {phase.warning}"
                        if phase.progress >= 100 and established:
                            listeners = _socks_listeners(controller)
                            if not listeners:
                                raise TorUnavailable(
                                    f"vahti's tor opened no SOCKS listener; see its log "
                                    f"{self.log_path}", reason="launch-failed")
                            socks_host, socks_port = listeners[0]
                            return LaunchState(process.pid, socks_host, socks_port,
                                               control[0], control[1], self._torrc_hash())
                except (TorUnavailable, stem.ControllerError) as exc:
                    if isinstance(exc, TorUnavailable) and exc.reason == "launch-failed":
                        raise
                    last = str(exc)
                    stack.close()  # and connect anew on the next round
                    controller = None
                if time.monotonic() >= deadline:
                    raise TorUnavailable(
                        f"vahti's tor did not bootstrap within {timeout:g} s (last: {last}); "
                        f"see its log {self.log_path}", reason="bootstrapping")
                time.sleep(0.25)

    def _stop(self, state: LaunchState) -> None:
        if _is_our_tor(state.pid, self.torrc_path):
            _terminate(state.pid, grace_s=10.0)
        self.state_path.unlink(missing_ok=True)
        self.control_port_file.unlink(missing_ok=True)


@contextlib.contextmanager
def open_tor(settings: TorSettings, timeout_s: float | None = None) -> Iterator[TorState]:
    """The tor to crawl through, for the duration of the block.

        with open_tor(settings) as tor:      # TorUnavailable if it is not usable
            ... tor.socks_host, tor.socks_port (socks5h), tor.control_port ...

    External mode: check_ready() and yield. Launch mode: start vahti's own tor (or join
    the one another vahti process runs), wait for bootstrap, and leave it on exit; the
    last vahti process to leave stops it.
    """
    if settings.mode == "external":
        yield check_ready(settings, timeout_s)
        return
    launched = LaunchedTor(settings)
    state = launched.acquire(timeout_s)
    try:
        yield state
    finally:
        launched.release()


# ---------------------------------------------------------------------------
# process helpers

_CHILDREN: list[subprocess.Popen] = []  # tors started here, kept to be reaped (no zombies)


def _reap_children() -> None:
    _CHILDREN[:] = [p for p in _CHILDREN if p.poll() is None]


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _read_control_port_file(path: Path) -> tuple[str, int] | None:
    """`PORT=127.0.0.1:9051` (tor writes it once the control listener is open)."""
    try:
        text = path.read_text()
    except OSError:
        return None
    match = re.search(r"^PORT=(\S+)$", text, re.M)
    if not match:
        return None
    try:
        return parse_host_port(match.group(1))
    except TorConfigError:
        return None


def _last_problem(log_path: Path) -> str:
    try:
        lines = log_path.read_text(errors="replace").splitlines()[-40:]
    except OSError:
        return ""
    problems = [line for line in lines if "[err]" in line or "[warn]" in line]
    if not problems:
        return ""
    text = problems[-1].split("] ", 1)[-1].strip()
    return f" ({text[:200]})"


def _is_our_tor(pid: int, torrc_path: Path) -> bool:
    """Is `pid` a live tor started with our torrc? Guards against pid reuse."""
    return runs_with(pid, str(torrc_path))


def _terminate(pid: int, grace_s: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not alive(pid):
            _reap(pid)
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        _reap(pid)
        if not alive(pid):
            break
        time.sleep(0.02)


def _reap(pid: int) -> None:
    """Collect the exit status if tor is our own child (no zombies)."""
    for process in _CHILDREN:
        if process.pid == pid:
            process.poll()
            return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
