"""Modules imported when first used, not when the importing module is.

`vahti scan --types hetu` never parses a telephone number, yet the detectors that
can import phonenumbers (13 ms, a twentieth of the command's start-up). A module
bound with `lazy_module` is loaded on its first attribute access, in full, as a
plain import would have loaded it then.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """The module `name`: the one imported already, or one loaded on first use."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
