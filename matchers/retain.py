"""Keyed candidates kept for retro-hunts: every valid identifier on a page, enrolled or not.

A scan normally keys each identifier candidate only to look it up in the
watchlist and forgets the rest. With retention on, the scanner also hands every
candidate's key (the 64-bit prefix of its keyed digest, as the watchlist index
uses) and every winnowed keyed fingerprint of the text to a `Retained`
collector. Stored per page, they let a later search, or the enrolment of new
people, find pages seen before without fetching them again. They are keyed:
without the key they reveal nothing, as the watchlist digests.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

FRAGMENT = "fragment"  # the "type" of retained fingerprints
# A page yielding more keys than this (a multi-gigabyte dump) keeps the first
# ones and is marked partial: a bounded document size beats an unbounded one.
DEFAULT_MAX_KEYS = 2_000_000


class Retained:
    """Collects candidate keys per type for one input at a time (see the module doc)."""

    def __init__(self, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self.max_keys = max_keys
        self._parts: dict[str, list[np.ndarray]] = defaultdict(list)
        self._n = 0
        self.partial = False

    def add(self, id_type: str, keys: np.ndarray) -> None:
        if not len(keys):
            return
        room = self.max_keys - self._n
        if room <= 0:
            self.partial = True
            return
        if len(keys) > room:
            keys, self.partial = keys[:room], True
        self._parts[id_type].append(np.asarray(keys, dtype=np.uint64))
        self._n += len(keys)

    def take(self) -> dict[str, np.ndarray]:
        """The keys collected since the last take, unique and sorted per type; resets."""
        out = {t: np.unique(np.concatenate(parts)) for t, parts in self._parts.items()}
        self._parts.clear()
        self._n = 0
        return out

    def clear(self) -> None:
        self._parts.clear()
        self._n = 0
        self.partial = False
