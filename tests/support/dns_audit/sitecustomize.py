"""Loaded by Python at start-up when this folder is on PYTHONPATH (tests only).

Records every host name the process asks a resolver about (Python's audit
events for getaddrinfo, gethostbyname, gethostbyname_ex) in the file named by
VAHTI_TEST_DNS_LOG, one a line with the vahti subcommand that asked ("crawl",
"daemon", ...). The crawl tests run every vahti process with it.
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
        command = sys.argv[1] if len(sys.argv) > 1 else "-"
        with open(_LOG, "a") as fh:
            fh.write(f"{event} {host} {command}\n")


if _LOG:
    sys.addaudithook(_hook)
