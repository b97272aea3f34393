"""The optional C extension `matchers._native` (the scan engine's per-byte loops).

`lib` is the extension module, or None when it is not built (or when the
environment sets ``VAHTI_NO_NATIVE=1``); every caller then uses its numpy
path, which gives the same results. Callers read `native.lib` at call time,
so tests can switch it off.

The extension is optional at install too (pyproject: `optional = true`): without a
compiler the install goes on and the numpy paths are used, slower. A scan says so once
per process (`warn_if_missing`), in the log, so the operator learns why it is slow.
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType

log = logging.getLogger(__name__)

DISABLED = os.environ.get("VAHTI_NO_NATIVE", "") in ("1", "true", "yes")
MISSING_WARNING = ("the native scan kernel (matchers._native) is not built: scanning uses "
                   "the slower numpy paths; reinstall vahti with a C compiler to build it")

lib: ModuleType | None = None
if not DISABLED:
    try:
        lib = importlib.import_module("vahti.matchers._native")
    except ImportError:
        pass

_warned = False


def warn_if_missing() -> None:
    """Log one warning per process when the extension is missing (not when switched
    off on purpose with VAHTI_NO_NATIVE). Called where scanning starts, after logging
    is set up; forked scan workers inherit that it was said."""
    global _warned
    if lib is None and not DISABLED and not _warned:
        _warned = True
        log.warning(MISSING_WARNING)
