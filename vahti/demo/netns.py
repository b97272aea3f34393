"""A loopback-only network namespace for `vahti demo`: tests/tor/run_in_netns.sh in Python.

The demo starts a private Tor network, and no tor of it may ever reach the real
Tor network. So the demo runs in a network namespace of its own that has nothing
but loopback, where no packet can leave the machine:

- `isolated()` tells whether this process already lives in one (only `lo`);
- `reexec_isolated(argv)` replaces this process by the same command inside a new
  one: `unshare --net` as root, `unshare --net --map-root-user` otherwise (a user
  namespace too, where the command runs as a mapped root). `unshare` without
  `--fork` execs the command itself, so the PID, the terminal and Ctrl-C stay;
- `bring_up_loopback()` sets `lo` up there (a new namespace has it down).

Only the network is private: files, processes and unix sockets are shared with
the rest of the machine, so the demo's home and report are ordinary files.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Sequence
from typing import NoReturn

from vahti.demo.guard import NotIsolatedError, assert_loopback_only, assert_loopback_usable
from vahti.selfcmd import vahti_command

# set in the re-executed process: it must not try again (an endless exec loop)
MARK = "VAHTI_DEMO_NETNS"

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFREQ = struct.Struct("16sH22x")  # struct ifreq: name, flags (40 bytes on Linux)


def isolated() -> bool:
    """Does this process's network namespace have `lo` and nothing else?"""
    try:
        assert_loopback_only()
    except NotIsolatedError:
        return False
    return True


def unshare_command() -> list[str]:
    """`unshare` and its options for a new network namespace (and user namespace
    when not root)."""
    unshare = shutil.which("unshare", path=_sbin_path())
    if unshare is None:
        raise NotIsolatedError("'unshare' (util-linux) not found: `make system-deps` "
                               "installs it")
    return [unshare, "--net"] + ([] if os.geteuid() == 0 else ["--map-root-user"])


def reexec_isolated(argv: Sequence[str]) -> NoReturn:
    """Replace this process by `python -P -m vahti ARGV...` in a new loopback-only
    network namespace. Raises NotIsolatedError when that cannot work."""
    if os.environ.get(MARK):
        raise NotIsolatedError("re-executed in a new network namespace, but it still has "
                               "more than loopback; refusing to start tor")
    command = unshare_command()
    # unshare fails after exec with only a terse message: try it first, so that a
    # machine without (unprivileged) namespaces gets an explanation instead
    probe = subprocess.run([*command, "--", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        how = ("" if os.geteuid() == 0 else
               " (unprivileged user namespaces may be disabled: "
               "sysctl kernel.unprivileged_userns_clone=1, or run as root)")
        raise NotIsolatedError(f"cannot create a network namespace with "
                               f"{' '.join(command)}: {probe.stderr.strip() or probe.returncode}"
                               f"{how}")
    sys.stdout.flush()
    sys.stderr.flush()
    env = {**os.environ, MARK: "1"}
    os.execve(command[0], [*command, "--", *vahti_command(*argv)], env)


def bring_up_loopback() -> None:
    """Set `lo` up in this namespace (SIOCSIFFLAGS; `ip link set lo up` if that fails),
    then check that 127.0.0.1 works."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            request = _IFREQ.pack(b"lo", 0)
            _name, flags = _IFREQ.unpack(fcntl.ioctl(sock, _SIOCGIFFLAGS, request))
            if not flags & _IFF_UP:
                fcntl.ioctl(sock, _SIOCSIFFLAGS, _IFREQ.pack(b"lo", flags | _IFF_UP))
    except OSError:
        ip = shutil.which("ip", path=_sbin_path())
        if ip is None:
            raise NotIsolatedError("cannot bring up loopback: no permission for "
                                   "SIOCSIFFLAGS and 'ip' (iproute2) not found") from None
        subprocess.run([ip, "link", "set", "lo", "up"], check=False, capture_output=True)
    assert_loopback_usable()


def _sbin_path() -> str:
    """PATH plus the sbin directories (`ip` lives there, which may not be on a user's PATH)."""
    return os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
