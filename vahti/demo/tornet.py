"""A private Tor network on 127.0.0.1 for the test suite and `vahti demo`.

    with PrivateTorNetwork(work_dir) as net:          # or net.start() ... net.stop()
        onion = net.add_onion_service("site", site.port)   # before or after start
        ...                                           # net.socks_port, net.control_port

Layout (all tor processes are children of this process, all on loopback):

- 3 directory authorities: keys from `tor-gencert --create-identity-key`, relay
  fingerprints from `tor --list-fingerprint`, short voting intervals.
- 3 relays (`DirCache 0`, no exits: the network carries onion traffic only).
- "hs": a tor that hosts the v3 onion services, each forwarding port 80 to a
  loopback port. It is separate from the client so that tests can NEWNYM or
  restart the client without touching the services.
- "client": SocksPort and ControlPort (cookie auth), the tor vahti talks to.

Every torrc has `TestingTorNetwork 1`, explicit `DirAuthority` lines and
`UseDefaultFallbackDirs 0`, and no tor is started unless this process's network
namespace has nothing but loopback (`guard.assert_loopback_only`). Each tor also
gets a parent-death signal (prctl PR_SET_PDEATHSIG), so tor is terminated by the
kernel if this process dies without running `stop()`. (Not `__OwningControllerProcess`:
stem answers that with TAKEOWNERSHIP, and tor would then exit whenever a test
closes its stem Controller.)

`start()` returns when the client is bootstrapped and every onion service
answers an HTTP GET through the client's SOCKS port, or raises TorNetworkError
naming the log file to read. Options follow chutney's testing templates.
"""

from __future__ import annotations

import atexit
import base64
import ctypes
import hashlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from stem.control import Controller, EventType

from vahti.demo.guard import assert_loopback_only, assert_loopback_usable
from vahti.demo.socks import http_get
from vahti.matchers.private import private_dir

DEFAULT_TIMEOUT = 120.0
LOOPBACK = "127.0.0.1"


class TorNetworkError(RuntimeError):
    """A part of the private network did not come up; the message names the log to read."""


# ---------------------------------------------------------------------------
# v3 onion keys: made here so that an onion's hostname is known before tor runs


@dataclass(frozen=True)
class OnionKey:
    expanded_secret: bytes  # 64 bytes, tor's "expanded" ed25519 secret key
    public: bytes  # 32 bytes

    @classmethod
    def generate(cls) -> OnionKey:
        private = Ed25519PrivateKey.generate()
        seed = private.private_bytes_raw()
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        digest = bytearray(hashlib.sha512(seed).digest())
        digest[0] &= 248  # ed25519 scalar clamping, as tor stores it
        digest[31] &= 127
        digest[31] |= 64
        return cls(bytes(digest), public)

    @property
    def hostname(self) -> str:
        """`<56 chars>.onion` (rend-spec-v3: base32(pubkey | checksum[:2] | version))."""
        version = b"\x03"
        checksum = hashlib.sha3_256(b".onion checksum" + self.public + version).digest()[:2]
        return base64.b32encode(self.public + checksum + version).decode().lower() + ".onion"

    def write_service_dir(self, directory: Path) -> None:
        """The key files tor reads from a HiddenServiceDir."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)
        (directory / "hs_ed25519_secret_key").write_bytes(
            b"== ed25519v1-secret: type0 ==\x00\x00\x00" + self.expanded_secret)
        (directory / "hs_ed25519_public_key").write_bytes(
            b"== ed25519v1-public: type0 ==\x00\x00\x00" + self.public)

    @property
    def control_key(self) -> str:
        """The key as ADD_ONION takes it (after `ED25519-V3:`)."""
        return base64.b64encode(self.expanded_secret).decode()


@dataclass
class OnionService:
    name: str
    target_port: int
    key: OnionKey
    virtual_port: int = 80

    @property
    def hostname(self) -> str:
        return self.key.hostname


# ---------------------------------------------------------------------------
# one tor process


@dataclass
class TorNode:
    name: str
    role: str  # "authority", "relay", "hs" or "client"
    dir: Path
    or_port: int | None = None
    dir_port: int | None = None
    socks_port: int | None = None
    control_port: int | None = None
    process: subprocess.Popen | None = None
    v3ident: str = ""  # authorities only
    fingerprint: str = ""  # authorities only
    stdout_file: object = field(default=None, repr=False)

    @property
    def torrc(self) -> Path:
        return self.dir / "torrc"

    @property
    def log(self) -> Path:
        return self.dir / "notice.log"

    @property
    def stdout_log(self) -> Path:
        """tor's stdout/stderr: where config errors land before the log file is open."""
        return self.dir / "stdout.log"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        out = []
        for path in (self.stdout_log, self.log):
            try:
                tail = path.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                continue
            if tail:
                out.append(f"--- last lines of {path}:\n" + "\n".join(tail))
        return "\n".join(out)


def _die_with_parent() -> None:
    """In the forked child before exec: SIGTERM this tor when its parent thread dies."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def free_ports(count: int) -> list[int]:
    """`count` distinct free TCP ports on 127.0.0.1 (all held open until all are chosen)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((LOOPBACK, 0))
        return [sock.getsockname()[1] for sock in socks]


# ---------------------------------------------------------------------------


class PrivateTorNetwork:
    """Directory authorities, relays, an onion-service host and a client, on 127.0.0.1."""

    def __init__(self, work_dir: Path | str, *, authorities: int = 3, relays: int = 3,
                 timeout: float = DEFAULT_TIMEOUT, tor: str = "tor",
                 tor_gencert: str = "tor-gencert", info_logs: bool = False):
        self.work_dir = Path(work_dir).resolve()
        self.timeout = timeout
        self.tor = shutil.which(tor) or tor
        self.tor_gencert = shutil.which(tor_gencert) or tor_gencert
        self.n_authorities = authorities
        self.n_relays = relays
        self.info_logs = info_logs  # also write info.log next to notice.log (verbose)
        self.services: dict[str, OnionService] = {}
        self.nodes: list[TorNode] = []
        self.started_at: float | None = None
        self.ready_after: float | None = None  # seconds from first tor start to ready
        self.timings: dict[str, float] = {}  # milestone -> seconds after first tor start
        self._uploaded: set[str] = set()  # onion addresses whose descriptor hs uploaded
        self._uploaded_cond = threading.Condition()
        self._hs_controller: Controller | None = None
        self._running = False
        self._atexit_registered = False

    # -- public surface ------------------------------------------------------

    def add_onion_service(self, name: str, target_port: int, *, virtual_port: int = 80,
                          wait: bool = True) -> str:
        """A v3 onion service forwarding `virtual_port` to 127.0.0.1:target_port.

        Before start() it becomes a HiddenServiceDir of the hs tor; after start()
        it is added through the hs tor's control port, and (with `wait`) this
        returns once the onion answers through the client. Returns the hostname.
        """
        if name in self.services:
            raise ValueError(f"onion service {name!r} exists already")
        service = OnionService(name, target_port, OnionKey.generate(), virtual_port)
        self.services[name] = service
        if self._running:
            self._hs_controller.create_ephemeral_hidden_service(
                {virtual_port: f"{LOOPBACK}:{target_port}"}, key_type="ED25519-V3",
                key_content=service.key.control_key, detached=True, await_publication=False)
            if wait:
                self._wait_onions([service], time.monotonic() + self.timeout)
        return service.hostname

    def client_torrc_lines(self) -> list[str]:
        """The torrc lines a further client needs to join this network (after start()):
        TestingTorNetwork, the DirAuthority lines, no fallback dirs, IPv4 only."""
        authorities = [a for a in self.nodes if a.role == "authority"]
        if not authorities:
            raise RuntimeError("the network has no authorities yet: call start() first")
        return [
            "TestingTorNetwork 1",
            "UseDefaultFallbackDirs 0",
            *(f"DirAuthority {a.name} orport={a.or_port} no-v2 v3ident={a.v3ident} "
              f"{LOOPBACK}:{a.dir_port} {a.fingerprint}" for a in authorities),
            "ClientUseIPv6 0",
            "PathsNeededToBuildCircuits 0.25",
        ]

    def onion(self, name: str) -> str:
        return self.services[name].hostname

    def node(self, name: str) -> TorNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    @property
    def client(self) -> TorNode:
        return self.node("client")

    @property
    def socks_port(self) -> int:
        return self.client.socks_port

    @property
    def control_port(self) -> int:
        return self.client.control_port

    @property
    def data_dir(self) -> Path:
        """The client's DataDirectory."""
        return self.client.dir

    @property
    def control_cookie_path(self) -> Path:
        return self.client.dir / "control_auth_cookie"

    @property
    def pids(self) -> dict[str, int]:
        return {n.name: n.pid for n in self.nodes if n.pid is not None}

    @property
    def log_paths(self) -> dict[str, Path]:
        return {n.name: n.log for n in self.nodes}

    def controller(self) -> Controller:
        """An authenticated stem Controller on the client (the caller closes it)."""
        controller = Controller.from_port(address=LOOPBACK, port=self.control_port)
        controller.authenticate()
        return controller

    def memory_rss(self) -> int:
        """Resident memory of all our tor processes together, in bytes."""
        total = 0
        for pid in self.pids.values():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
            total += int(match.group(1)) * 1024 if match else 0
        return total

    # -- lifecycle -----------------------------------------------------------

    def __enter__(self) -> PrivateTorNetwork:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> PrivateTorNetwork:
        """Generate everything, start all tors, and wait until the onions answer."""
        if self.nodes:
            raise RuntimeError("this network was started already; make a new one")
        assert_loopback_only()
        assert_loopback_usable()
        for program in (self.tor, self.tor_gencert):
            if not shutil.which(program):
                raise TorNetworkError(f"{program!r} not found: install Debian's tor "
                                      f"(`make system-deps`)")
        if not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True
        try:
            self._plan()
            self._configure()
            self._launch_all()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate every tor this network started: SIGTERM, then SIGKILL after 5 s."""
        self._running = False
        if self._hs_controller is not None:
            try:
                self._hs_controller.close()
            except Exception:
                pass
            self._hs_controller = None
        live = [n for n in self.nodes if n.alive()]
        for node in live:
            try:
                os.kill(node.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        for node in live:
            try:
                node.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.kill(node.pid, signal.SIGKILL)
                node.process.wait()
        for node in self.nodes:
            if node.stdout_file is not None:
                node.stdout_file.close()
                node.stdout_file = None

    # -- setup ---------------------------------------------------------------

    def _plan(self) -> None:
        """Names, directories and ports of every node."""
        private_dir(self.work_dir)
        roles = ([(f"auth{i}", "authority") for i in range(self.n_authorities)]
                 + [(f"relay{i}", "relay") for i in range(self.n_relays)]
                 + [("hs", "hs"), ("client", "client")])
        ports = iter(free_ports(2 * self.n_authorities + self.n_relays + 3))
        for name, role in roles:
            node = TorNode(name, role, self.work_dir / name)
            node.dir.mkdir(mode=0o700, exist_ok=True)
            node.dir.chmod(0o700)  # tor refuses a DataDirectory others can read
            if role in ("authority", "relay"):
                node.or_port = next(ports)
            if role == "authority":
                node.dir_port = next(ports)
            if role == "client":
                node.socks_port = next(ports)
            if role in ("client", "hs"):
                node.control_port = next(ports)
            self.nodes.append(node)

    def _run_tool(self, args: list[str], stdin: str = "") -> str:
        assert_loopback_only()
        result = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise TorNetworkError(f"{' '.join(args)} failed ({result.returncode}):\n"
                                  f"{result.stdout}{result.stderr}")
        return result.stdout

    def _configure(self) -> None:
        """Authority keys and fingerprints (in parallel: RSA keygen is slow), then every torrc."""
        authorities = [n for n in self.nodes if n.role == "authority"]
        with ThreadPoolExecutor(max_workers=len(authorities)) as pool:
            list(pool.map(self._make_authority_keys, authorities))
        for node in self.nodes:
            node.torrc.write_text(self._torrc(node))

    def _make_authority_keys(self, auth: TorNode) -> None:
        keys = auth.dir / "keys"
        keys.mkdir(mode=0o700, exist_ok=True)
        # v3 identity + signing key and certificate; the passphrase is empty
        self._run_tool([self.tor_gencert, "--create-identity-key", "--passphrase-fd", "0",
                        "-m", "12", "-a", f"{LOOPBACK}:{auth.dir_port}",
                        "-i", str(keys / "authority_identity_key"),
                        "-s", str(keys / "authority_signing_key"),
                        "-c", str(keys / "authority_certificate")], stdin="\n")
        cert = (keys / "authority_certificate").read_text()
        auth.v3ident = re.search(r"^fingerprint ([0-9A-F]{40})$", cert, re.M).group(1)
        # the relay identity: tor creates it and prints its fingerprint. This
        # torrc only needs to pass validation; a placeholder authority does.
        fp_torrc = auth.dir / "torrc.fingerprint"
        fp_torrc.write_text(self._lines(
            "TestingTorNetwork 1", "UseDefaultFallbackDirs 0",
            "DirAuthority placeholder orport=1 no-v2 127.0.0.1:1 " + "0" * 40,
            f"DataDirectory {auth.dir}", f"Nickname {auth.name}",
            f"ORPort {LOOPBACK}:{auth.or_port}", f"Address {LOOPBACK}",
            "SocksPort 0", f"Log notice file {auth.dir / 'fingerprint.log'}"))
        out = self._run_tool([self.tor, "--list-fingerprint", "-f", str(fp_torrc)])
        match = re.search(rf"^{auth.name} ((?:[0-9A-F]{{4}} ?){{10}})$", out, re.M)
        if not match:
            raise TorNetworkError(f"no fingerprint for {auth.name} in:\n{out}")
        auth.fingerprint = match.group(1).replace(" ", "")

    @staticmethod
    def _lines(*lines: str) -> str:
        return "\n".join(lines) + "\n"

    def _torrc(self, node: TorNode) -> str:
        lines = [
            f"# {node.role} {node.name} of vahti's private test network",
            "TestingTorNetwork 1",
            "UseDefaultFallbackDirs 0",
            *(f"DirAuthority {a.name} orport={a.or_port} no-v2 v3ident={a.v3ident} "
              f"{LOOPBACK}:{a.dir_port} {a.fingerprint}"
              for a in self.nodes if a.role == "authority"),
            f"DataDirectory {node.dir}",
            f"Nickname {node.name}",
            "RunAsDaemon 0",
            "ShutdownWaitLength 0",
            f"Log notice file {node.log}",
            *([f"Log info file {node.dir / 'info.log'}"] if self.info_logs else []),
            "SafeLogging 0",
            "ClientUseIPv6 0",
            # fast, small-network consensus (chutney's "rapid bootstrap" options)
            "AssumeReachable 1",
            "PathsNeededToBuildCircuits 0.25",
            "TestingDirAuthVoteGuard *",
            "V3AuthNIntervalsValid 2",
            f"SocksPort {f'{LOOPBACK}:{node.socks_port} ExtendedErrors' if node.socks_port else 0}",
        ]
        if node.control_port:
            lines += [f"ControlPort {LOOPBACK}:{node.control_port}", "CookieAuthentication 1"]
        if node.role in ("authority", "relay"):
            lines += [f"Address {LOOPBACK}", f"ORPort {LOOPBACK}:{node.or_port}",
                      f"ContactInfo {node.name}@test.invalid"]
        if node.role == "authority":
            lines += [
                "AuthoritativeDirectory 1",
                "V3AuthoritativeDirectory 1",
                f"DirPort {LOOPBACK}:{node.dir_port}",
                "ExitRelay 0",
                # vote + dist delay must stay below half the interval; 10 s is stable
                "TestingV3AuthInitialVotingInterval 5",
                "TestingV3AuthInitialVoteDelay 2",
                "TestingV3AuthInitialDistDelay 2",
                "V3AuthVotingInterval 10",
                "V3AuthVoteDelay 2",
                "V3AuthDistDelay 2",
            ]
        if node.role == "relay":
            lines += ["DirCache 0", "ExitRelay 0"]
        if node.role == "client":
            # SafeSocks refuses any SOCKS request that carries an IP address (a client
            # that resolved the name itself); TestSocks logs how each request named its
            # destination, which the no-local-DNS test reads.
            lines += ["SafeSocks 1", "TestSocks 1"]
        if node.role == "hs":
            for service in self.services.values():
                service_dir = node.dir / "onion" / service.name
                service.key.write_service_dir(service_dir)
                lines += [f"HiddenServiceDir {service_dir}",
                          f"HiddenServicePort {service.virtual_port} "
                          f"{LOOPBACK}:{service.target_port}"]
        return self._lines(*lines)

    # -- running -------------------------------------------------------------

    def _launch(self, node: TorNode) -> None:
        assert_loopback_only()  # checked again right before every tor
        node.stdout_file = open(node.stdout_log, "ab")
        node.process = subprocess.Popen([self.tor, "-f", str(node.torrc)],
                                        stdin=subprocess.DEVNULL, stdout=node.stdout_file,
                                        stderr=subprocess.STDOUT, cwd=node.dir,
                                        preexec_fn=_die_with_parent)

    def _launch_all(self) -> None:
        """Authorities and relays first; the onion host and the client once there is a
        consensus fit for circuits. (A client that bootstraps from an early consensus
        with too few Stable/Guard nodes can spend 20 s failing circuits.)"""
        self.started_at = time.monotonic()
        self._running = True
        for node in self.nodes:
            if node.role in ("authority", "relay"):
                self._launch(node)
        deadline = self.started_at + self.timeout
        self._wait_consensus(deadline)
        self.timings["consensus"] = time.monotonic() - self.started_at
        self._launch(self.node("hs"))
        self._watch_uploads(self.node("hs"))
        self._launch(self.client)

    def _wait_consensus(self, deadline: float) -> None:
        """Until an authority serves a consensus with every node Running and Valid,
        at least 3 of them Guard+Fast+Stable and at least one HSDir."""
        authorities = [n for n in self.nodes if n.role == "authority"]
        want = {n.name for n in self.nodes if n.role in ("authority", "relay")}
        status = "no consensus yet"
        while True:
            self._check_alive()
            for auth in authorities:
                flags = self._consensus_flags(auth)
                if flags is None:
                    continue
                usable = {name for name, f in flags.items() if {"Running", "Valid"} <= f}
                strong = [name for name in usable if {"Guard", "Fast", "Stable"} <= flags[name]]
                hsdirs = [name for name in usable if "HSDir" in flags[name]]
                status = (f"{auth.name}'s consensus: {len(usable)}/{len(want)} running, "
                          f"{len(strong)} Guard+Fast+Stable, {len(hsdirs)} HSDir")
                if want <= usable and len(strong) >= 3 and hsdirs:
                    return
            if time.monotonic() > deadline:
                auth = authorities[0]
                raise TorNetworkError(
                    f"the directory authorities made no usable consensus within "
                    f"{self.timeout:.0f} s ({status}); see {auth.log}\n{auth.log_tail()}")
            time.sleep(0.25)

    @staticmethod
    def _consensus_flags(auth: TorNode) -> dict[str, set[str]] | None:
        """{nickname: flags} of the microdesc consensus `auth` serves, or None if none yet."""
        conn = http.client.HTTPConnection(LOOPBACK, auth.dir_port, timeout=2)
        try:
            conn.request("GET", "/tor/status-vote/current/consensus-microdesc")
            response = conn.getresponse()
            if response.status != 200:
                return None
            text = response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()
        flags, name = {}, None
        for line in text.splitlines():
            if line.startswith("r "):
                name = line.split()[1]
            elif line.startswith("s ") and name:
                flags[name] = set(line.split()[1:])
        return flags

    def _watch_uploads(self, hs: TorNode) -> None:
        """Listen for HS_DESC UPLOADED on the hs tor, to probe onions only once published."""
        deadline = time.monotonic() + 15
        while True:
            self._check_alive()
            try:
                controller = Controller.from_port(address=LOOPBACK, port=hs.control_port)
                controller.authenticate()
                break
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise TorNetworkError(f"control port of {hs.name} did not open: {exc}; "
                                          f"see {hs.log}\n{hs.log_tail()}") from exc
                time.sleep(0.1)

        def on_desc(event) -> None:
            if event.action == "UPLOADED":
                with self._uploaded_cond:
                    self._uploaded.add(event.address)
                    self._uploaded_cond.notify_all()

        controller.add_event_listener(on_desc, EventType.HS_DESC)
        self._hs_controller = controller

    def _check_alive(self) -> None:
        for node in self.nodes:
            if node.process is not None and not node.alive():
                raise TorNetworkError(
                    f"tor {node.name} ({node.role}, pid {node.pid}) exited with code "
                    f"{node.process.returncode}; see {node.log} and {node.stdout_log}\n"
                    f"{node.log_tail()}")

    def _wait_ready(self) -> None:
        deadline = self.started_at + self.timeout
        self._wait_bootstrap(self.client, deadline)
        self.timings["client bootstrapped"] = time.monotonic() - self.started_at
        self._wait_onions(list(self.services.values()), deadline)
        self.ready_after = time.monotonic() - self.started_at

    def _wait_bootstrap(self, node: TorNode, deadline: float) -> None:
        """Poll GETINFO status/bootstrap-phase until PROGRESS=100."""
        controller, phase = None, "control port not open yet"
        try:
            while True:
                self._check_alive()
                try:
                    if controller is None:
                        controller = Controller.from_port(address=LOOPBACK,
                                                          port=node.control_port)
                        controller.authenticate()
                    phase = controller.get_info("status/bootstrap-phase")
                    if "PROGRESS=100" in phase.split():
                        return
                except Exception as exc:  # control port not up yet, or just restarted
                    phase = f"{type(exc).__name__}: {exc}"
                    if controller is not None:
                        controller.close()
                        controller = None
                if time.monotonic() > deadline:
                    raise TorNetworkError(
                        f"tor {node.name} did not bootstrap within {self.timeout:.0f} s "
                        f"(last: {phase}); see {node.log}\n{node.log_tail()}")
                time.sleep(0.25)
        finally:
            if controller is not None:
                controller.close()

    def _wait_onions(self, services: list[OnionService], deadline: float) -> None:
        """Wait until each onion answers an HTTP GET through the client's SOCKS port."""
        hs = self.node("hs")
        for service in services:
            address = service.hostname.removesuffix(".onion")
            # first until the service has published its descriptor, so the client's
            # first lookups don't hit an HSDir that has nothing yet
            with self._uploaded_cond:
                while address not in self._uploaded:
                    self._check_alive()
                    if time.monotonic() > deadline:
                        raise TorNetworkError(
                            f"onion service {service.name} ({service.hostname}) did not "
                            f"publish its descriptor within {self.timeout:.0f} s; see "
                            f"{hs.log}\n{hs.log_tail()}")
                    self._uploaded_cond.wait(0.25)
            if self.started_at:
                self.timings[f"{service.name} published"] = time.monotonic() - self.started_at
            last_error, last_newnym = "", time.monotonic()
            while True:
                self._check_alive()
                try:
                    http_get(self.socks_port, service.hostname, "/",
                             port=service.virtual_port, timeout=20)
                    self.timings[f"{service.name} answered"] = (time.monotonic()
                                                                - self.started_at)
                    break
                except OSError as exc:
                    last_error = f"{type(exc).__name__}: {exc}"
                    self.timings[f"{service.name} probe failures"] = (
                        self.timings.get(f"{service.name} probe failures", 0) + 1)
                if time.monotonic() > deadline:
                    raise TorNetworkError(
                        f"onion service {service.name} ({service.hostname}) did not answer "
                        f"through the client within {self.timeout:.0f} s (last error: "
                        f"{last_error}); see {self.client.log} and {hs.log}\n"
                        f"{self.client.log_tail()}\n{hs.log_tail()}")
                # A client that failed to find a descriptor won't ask the same HSDir
                # again for 15 minutes; NEWNYM clears that (tor rate-limits it to 10 s).
                if time.monotonic() - last_newnym > 10:
                    with self.controller() as controller:
                        controller.signal("NEWNYM")
                    last_newnym = time.monotonic()
                time.sleep(0.5)
