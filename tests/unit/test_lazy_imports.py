"""phonenumbers is loaded when a number is first parsed, not when the matchers are
imported: a hetu-only scan never pays for it (matchers/lazy.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROGRAM = """
import sys
import vahti.matchers.engine, vahti.matchers.readings, vahti.matchers.identifier_check
import vahti.matchers.locations_enrolled
assert "phonenumbers.phonenumberutil" not in sys.modules, "loaded at import"
from vahti.matchers.detectors import phone
assert phone.canonical("040 123 4567", "FI") == "+358401234567"
assert "phonenumbers.phonenumberutil" in sys.modules
print("ok")
"""


def test_phonenumbers_is_loaded_on_first_use_only():
    done = subprocess.run([sys.executable, "-c", PROGRAM], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_a_lazy_module_is_the_module():
    from vahti.matchers.lazy import lazy_module

    assert lazy_module("json") is sys.modules["json"]  # imported already: itself
    import pytest

    with pytest.raises(ModuleNotFoundError):
        lazy_module("vahti_no_such_module")
