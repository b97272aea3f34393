"""Preparing pymongo before its import (this module imports nothing of it).

pymongo imports pyOpenSSL, cryptography, service_identity and requests whenever they
are installed (they are: Scrapy and Twisted need them), to check the revocation of a
MongoDB server's TLS certificate (OCSP). That is half of pymongo's import time, about
0.15 s of every command. The embedded server is reached on a unix socket, without TLS:
a process whose only database is that server has no use for any of it.
"""

from __future__ import annotations

import sys

OPENSSL_CONTEXT = "pymongo.pyopenssl_context"


def for_embedded_only() -> None:
    """Call before pymongo is imported, in a process that uses no database but the
    embedded server: pymongo then falls back to the standard library's ssl module (as
    without pyOpenSSL installed), and TLS to another server would still verify its
    certificate, only without OCSP. Once pymongo is imported, changes nothing."""
    if "pymongo" not in sys.modules:
        sys.modules.setdefault(OPENSSL_CONTEXT, None)  # type: ignore[arg-type]  # None: `import` raises ImportError
