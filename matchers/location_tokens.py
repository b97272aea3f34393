"""The keyed tokens that stand for identifiers in stored locations (`[hetu:1a2b...]`).

Their shape only, apart from matchers.locations (which makes them, with the detectors
and numpy behind it): the terminal output and the log redaction recognise tokens in
every command, including those that never load a detector.
"""

from __future__ import annotations

import re

TOKEN_HEX = 16
# In order of preference when two detections cover the same characters.
NUMERIC_TYPES = ("hetu", "personnummer", "fodselsnummer", "cpr")
TYPES = (*NUMERIC_TYPES, "email")
ENROLLED_TYPES = ("phone", "name")  # only an enrolled person's (locations_enrolled)
TOKEN_TYPES = (*ENROLLED_TYPES, *TYPES)
TOKEN_RE = re.compile(rf"\[(?:{'|'.join(TOKEN_TYPES)}):[0-9a-f]{{{TOKEN_HEX}}}\]")
