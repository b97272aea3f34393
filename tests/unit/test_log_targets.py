"""Log targets and formats: the shared log file under several processes, JSON lines,
journald's native protocol and syslog, each redacted like the text log."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vahti.logs import JsonFormatter, setup_logging
from vahti.matchers.redact import REDACTED

ROOT = Path(__file__).resolve().parents[2]
PLANTED_ID = "131052-308T"
PLANTED_URL = "http://x.onion/dump/potilas_131052-308T.txt"

WRITER = textwrap.dedent("""
    import logging, sys
    from pathlib import Path
    from vahti.logs import setup_logging
    home, tag, n, fmt = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    setup_logging(home, "INFO", "CRITICAL", fmt=fmt, max_bytes=20000,
                  backups=int(sys.argv[5]))
    log = logging.getLogger("vahti.t")
    for i in range(n):
        log.info("proc %s line %06d %s", tag, i, "x" * 60)
""")


@pytest.fixture(autouse=True)
def _reset_logging():
    yield
    setup_logging(None)


def _write_concurrently(home: Path, n: int, fmt: str, backups: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(home), tag, str(n), fmt,
                               str(backups)], env=env, stderr=subprocess.PIPE)
             for tag in ("A", "B")]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()


def _log_files(home: Path) -> list[Path]:
    return sorted(p for p in (home / "logs").iterdir() if not p.name.endswith(".lock"))


def test_two_processes_share_the_log_file_without_losing_or_mixing_a_line(tmp_path):
    n = 3000
    _write_concurrently(tmp_path, n, "text", backups=100)
    files = _log_files(tmp_path)
    assert len(files) > 10  # it rotated, many times, while both wrote
    line_re = re.compile(r"\S+ \S+ INFO vahti\.t \[\d+\] proc ([AB]) line (\d{6}) x{60}")
    seen: dict[str, list[int]] = {"A": [], "B": []}
    for path in files:
        assert path.stat().st_size <= 20000
        assert (path.stat().st_mode & 0o777) == 0o600
        for line in path.read_text().splitlines():
            m = line_re.fullmatch(line)
            assert m, f"a broken line in {path.name}: {line[:120]!r}"
            seen[m.group(1)].append(int(m.group(2)))
    for tag in "AB":
        assert sorted(seen[tag]) == list(range(n)), tag  # every line, each once


def test_rotation_keeps_the_configured_number_of_files_in_json_too(tmp_path):
    _write_concurrently(tmp_path, 1500, "json", backups=3)
    files = _log_files(tmp_path)
    assert [p.name for p in files] == ["vahti.log", "vahti.log.1", "vahti.log.2", "vahti.log.3"]
    kept: dict[str, list[int]] = {}
    for path in files:
        for line in path.read_text().splitlines():
            record = json.loads(line)  # whole objects, one a line
            words = record["message"].split()
            kept.setdefault(words[1], []).append(int(words[3]))
    # the newest lines are the ones kept: of each process, its last ones, none missing
    assert kept and all(sorted(got) == list(range(min(got), 1500)) for got in kept.values())


def _log_planted(log: logging.Logger) -> None:
    log.warning("fetch failed: %s for %s", PLANTED_URL, PLANTED_ID)
    try:
        raise ValueError(f"bad value {PLANTED_ID} at {PLANTED_URL}")
    except ValueError:
        log.exception("failed")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_planted_identifier_and_url_are_redacted_in_both_formats(tmp_path, fmt):
    setup_logging(tmp_path, "DEBUG", "CRITICAL", fmt=fmt)
    _log_planted(logging.getLogger("vahti.test"))
    text = (tmp_path / "logs" / "vahti.log").read_text()
    assert PLANTED_ID not in text and "potilas_131052" not in text
    assert text.count(REDACTED) >= 3 and "ValueError" in text
    if fmt == "json":
        records = [json.loads(line) for line in text.splitlines()]
        assert [r["level"] for r in records] == ["WARNING", "ERROR"]
        assert {r["logger"] for r in records} == {"vahti.test"}
        assert all(r["pid"] == os.getpid() and r["process"] and r["time"] for r in records)
        assert "Traceback" in records[1]["exc_info"] and "exc_info" not in records[0]


def test_the_json_formatter_redacts_even_without_the_filter():
    record = logging.LogRecord("vahti.x", logging.ERROR, __file__, 1, "at %s", (PLANTED_URL,),
                               None)
    try:
        raise RuntimeError(PLANTED_ID)
    except RuntimeError:
        record.exc_info = sys.exc_info()
    out = JsonFormatter().format(record)
    assert PLANTED_ID not in out and REDACTED in json.loads(out)["exc_info"]


def _receiver(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    return sock


def _journal_fields(data: bytes) -> dict[str, str]:
    """Parse systemd's native journal protocol (both forms of a field)."""
    fields, pos = {}, 0
    while pos < len(data):
        end = data.index(b"\n", pos)
        line = data[pos:end]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            pos = end + 1
        else:
            key = line
            (size,) = struct.unpack("<Q", data[end + 1:end + 9])
            value = data[end + 9:end + 9 + size]
            assert data[end + 9 + size:end + 10 + size] == b"\n"
            pos = end + 10 + size
        fields[key.decode()] = value.decode()
    return fields


def test_journald_gets_structured_redacted_records(tmp_path):
    path = tmp_path / "journal.sock"
    with _receiver(path) as sock:
        setup_logging(None, "INFO", "CRITICAL", target="journald", socket_path=str(path))
        _log_planted(logging.getLogger("vahti.test"))
        warning, error = (_journal_fields(sock.recv(65536)) for _ in range(2))
    assert warning["PRIORITY"] == "4" and error["PRIORITY"] == "3"
    assert warning["SYSLOG_IDENTIFIER"] == "vahti" and warning["LOGGER"] == "vahti.test"
    assert warning["SYSLOG_PID"] == str(os.getpid())
    assert "\n" in error["MESSAGE"] and "ValueError" in error["MESSAGE"]  # binary form
    for fields in (warning, error):
        assert PLANTED_ID not in repr(fields) and REDACTED in fields["MESSAGE"]


def test_syslog_gets_redacted_json_records(tmp_path):
    path = tmp_path / "log.sock"
    with _receiver(path) as sock:
        setup_logging(None, "INFO", "CRITICAL", target="syslog", socket_path=str(path),
                      fmt="json")
        _log_planted(logging.getLogger("vahti.test"))
        got = [sock.recv(65536).decode() for _ in range(2)]
    m = re.fullmatch(r"<(\d+)>vahti\[(\d+)\]: (\{.*\})\x00?", got[0], re.S)
    assert m and int(m.group(1)) == 3 * 8 + 4 and int(m.group(2)) == os.getpid()  # daemon.warning
    assert json.loads(m.group(3))["level"] == "WARNING"
    assert all(PLANTED_ID not in g for g in got)


def test_an_unusable_target_leaves_stderr_with_one_warning(tmp_path, capsys):
    setup_logging(tmp_path, "INFO", "WARNING", target="journald",
                  socket_path=str(tmp_path / "none.sock"))
    logging.getLogger("vahti.test").warning("still here")
    err = capsys.readouterr().err
    assert "cannot write the log journald socket" in err and "still here" in err
    setup_logging(tmp_path, "INFO", "WARNING", fmt="yaml", target="file")
    assert "log.format 'yaml' is not one of text, json" in capsys.readouterr().err


def test_a_handler_closed_by_logging_config_writes_on(tmp_path):
    """Scrapy's configure_logging (every crawl) goes through logging.config, which closes
    every handler without removing it: the log file handler then raised ValueError on
    each record ("--- Logging error ---" and a traceback on stderr)."""
    import logging.config

    home = tmp_path / "home"
    home.mkdir()
    setup_logging(home, "INFO", "CRITICAL")
    logging.getLogger("vahti.test").info("before")
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
    logging.getLogger("vahti.test").info("after")
    text = (home / "logs" / "vahti.log").read_text()
    assert "before" in text and "after" in text


def test_the_daemons_reload_keeps_the_configured_log_format(tmp_path):
    """SIGHUP reopened the log with setup_logging's defaults, not [log]: a daemon
    configured for JSON (or journald) logged plain text to the file after a reload."""
    from vahti.config import load_config
    from vahti.logs import configure_logging
    from vahti.scheduler.daemon import Daemon

    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('[log]\nformat = "json"\n')
    cfg = load_config(home_flag=str(home), environ={})
    configure_logging(cfg)
    Daemon(cfg).reload_config()
    logging.getLogger("vahti.test").info("after the reload")
    last = (home / "logs" / "vahti.log").read_text().splitlines()[-1]
    assert json.loads(last)["message"] == "after the reload"
