"""Loaded by Python at start-up when this folder is on PYTHONPATH (tests only).

Records every host name the process asks a resolver about (Python's audit
events for getaddrinfo, gethostbyname, gethostbyname_ex) in the file named by
VAHTI_TEST_DNS_LOG, one a line. The no-local-DNS test runs a crawl with it.
"""

import os
import sys

_LOG = os.environ.get("VAHTI_TEST_DNS_LOG")
_EVENTS = {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
           "socket.gethostbyaddr"}


def _hook(event, args):
    if event in _EVENTS and args:
        host = args[0]
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        with open(_LOG, "a") as fh:
            fh.write(f"{event} {host}\n")


if _LOG:
    sys.addaudithook(_hook)
