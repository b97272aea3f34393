"""The rule that keeps the private network's tor off the real Tor network.

Every tor of the test suite and of `vahti demo` runs inside a network namespace
that has nothing but loopback (`tests/tor/run_in_netns.sh`; the demo re-executes
itself in one, `vahti.demo.netns`). There a tor that somehow ignored its private
`DirAuthority` lines still could not reach anything: no route leaves the
machine. `assert_loopback_only()` checks this before any tor is started, by
reading the interface list of the namespace this process lives in.
"""

from __future__ import annotations

import socket
from pathlib import Path

NET_DEV = Path("/proc/self/net/dev")

HOW_TO = ("run the tests inside a loopback-only network namespace, e.g. "
          "`tests/tor/run_in_netns.sh pytest tests/tor` (as root: "
          "`unshare -n sh -c 'ip link set lo up && pytest tests/tor'`); "
          "`vahti demo` enters one by itself")


class NotIsolatedError(RuntimeError):
    """This process can reach more than loopback: starting tor here is forbidden."""


def parse_interfaces(net_dev_text: str) -> list[str]:
    """Interface names of a /proc/net/dev text (two header lines, then `name: counters`)."""
    names = []
    for line in net_dev_text.splitlines():
        name, sep, _counters = line.partition(":")
        # header lines contain "|" and no ":"; data lines are "  name: 0 0 ..."
        if sep and "|" not in name:
            names.append(name.strip())
    return names


def assert_loopback_only(net_dev_path: Path = NET_DEV) -> None:
    """Raise NotIsolatedError unless `lo` is the only network interface there is.

    `/proc/self/net/dev` lists the interfaces of the reading process's own
    network namespace, so this answers "can a child of mine reach anything
    besides loopback?".
    """
    try:
        text = Path(net_dev_path).read_text()
    except OSError as exc:
        raise NotIsolatedError(f"cannot read {net_dev_path} to check the network "
                               f"namespace ({exc}); refusing to start tor") from exc
    names = parse_interfaces(text)
    others = [name for name in names if name != "lo"]
    if others or "lo" not in names:
        raise NotIsolatedError(
            f"refusing to start tor: this network namespace has interfaces "
            f"{', '.join(names) or '(none)'}, not only 'lo'. Tor must never reach the "
            f"real Tor network; {HOW_TO}")


def assert_loopback_usable() -> None:
    """Raise NotIsolatedError when 127.0.0.1 does not work (a fresh namespace has lo down)."""
    try:
        with socket.create_server(("127.0.0.1", 0)) as server:
            port = server.getsockname()[1]
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                pass
    except OSError as exc:
        raise NotIsolatedError(f"loopback does not work in this namespace ({exc}): "
                               f"bring it up with `ip link set lo up`; {HOW_TO}") from exc
