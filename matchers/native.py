"""The optional C extension `matchers._native` (the scan engine's per-byte loops).

`lib` is the extension module, or None when it is not built (or when the
environment sets ``VAHTI_NO_NATIVE=1``); every caller then uses its numpy
path, which gives the same results. Callers read `native.lib` at call time,
so tests can switch it off.
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType

log = logging.getLogger(__name__)

lib: ModuleType | None = None
if os.environ.get("VAHTI_NO_NATIVE", "") not in ("1", "true", "yes"):
    try:
        lib = importlib.import_module("matchers._native")
    except ImportError:
        log.debug("matchers._native is not built; the numpy paths are used")
