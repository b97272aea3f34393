"""Showing database URIs without their credentials (no pymongo needed)."""

import re

_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^@/]*@", re.IGNORECASE)


def display_uri(uri: str) -> str:
    """The URI safe to show: user and password replaced, hosts kept."""
    return _CREDENTIALS.sub(r"\g<scheme>***@", uri)
