"""When `vahti scan` leaves the database to a second process (vahti.scan_start)."""

from __future__ import annotations

import threading

import pytest

from vahti import scan_start
from vahti.matchers.keys import KeyFileError
from vahti.scan_start import KEY, asks_no_store, can_fork, scan_key, wants_check


@pytest.mark.parametrize(("args", "wanted"), [
    (["--no-store", "dump.csv"], True),
    (["--json", "--types", "hetu", "--no-store", "a", "b"], True),
    (["dump.csv"], False),  # a storing scan opens the database itself
    (["--", "--no-store"], False),  # a file named --no-store
    (["--no-store", "--help"], False),
    (["-h", "--no-store"], False),
])
def test_only_a_scan_that_does_not_store_is_checked_apart(args, wanted):
    assert asks_no_store(args) is wanted


def test_no_child_is_forked_beside_other_threads(monkeypatch):
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not can_fork()
        assert not wants_check(["--no-store", "dump.csv"])
    finally:
        stop.set()
        other.join()
    # the `vahti` command: one thread (this test process may run others of its own)
    monkeypatch.setattr(scan_start.threading, "active_count", lambda: 1)
    assert can_fork() and wants_check(["--no-store", "dump.csv"])


def test_the_key_is_loaded_once_and_its_error_raised_where_the_scan_asks():
    marker = object()
    assert scan_key({KEY: marker}, None) is marker  # type: ignore[arg-type]
    meta = {KEY: KeyFileError("no key at /x: run `vahti init`")}
    with pytest.raises(KeyFileError, match="no key at /x"):
        scan_key(meta, None)  # type: ignore[arg-type]
    assert KEY not in meta
