"""deploy/container/torrc, the compose file's tor: tor itself accepts it, with no warning
but the one its shared control port must give (cookie auth, an internal network).
Run in the loopback-only namespace like every test here, though nothing connects."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.conftest import REPO
from vahti.demo.guard import assert_loopback_only

TORRC = REPO / "deploy" / "container" / "torrc"
EXPECTED_WARNINGS = (
    "You have a ControlPort set to accept connections from a non-local address",
    "You are running Tor as root",  # the test's namespace, not the container (uid 10001)
)


def test_torrc_is_valid(tmp_path: Path):
    assert_loopback_only()
    tor = shutil.which("tor") or "/usr/sbin/tor"
    assert os.path.exists(tor), "tor is needed (apt-get install tor)"
    data = tmp_path / "tor-data"
    data.mkdir(mode=0o700)
    # the container's folders, here under tmp_path; the file itself is as shipped
    result = subprocess.run(
        [tor, "--verify-config", "-f", str(TORRC), "--DataDirectory", str(data),
         "--CookieAuthFile", str(tmp_path / "control_auth_cookie")],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Configuration was valid" in result.stdout
    warnings = [line for line in result.stdout.splitlines() if "[warn]" in line]
    unexpected = [w for w in warnings if not any(e in w for e in EXPECTED_WARNINGS)]
    assert unexpected == [], unexpected
