"""`vahti demo`'s re-exec into a network namespace of its own, for real: it needs
`unshare --net` (root, or a user namespace: the netns of tests/tor/run_in_netns.sh),
so it lives with the tor tests. The rest of the demo's parts: tests/unit/test_demo_parts.py."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO
from vahti import __version__
from vahti.demo import netns


def test_reexec_runs_vahti_in_a_new_namespace():
    """The exec itself: a child replaces itself by `unshare --net ... python -m vahti
    --version` (a namespace inside this one), which answers as vahti does."""
    code = ("import sys; from vahti.demo import netns; "
            "netns.reexec_isolated(['--version'])")
    env = {k: v for k, v in os.environ.items() if k != netns.MARK}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"vahti, version {__version__}"
