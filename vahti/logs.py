"""Logging with identifier redaction: stderr, plus one of
- `file` (default): $VAHTI_HOME/logs/vahti.log, shared by every vahti process on the
  home. Each record is one append under an exclusive lock, and rotation happens under
  the same lock (a process whose file was rotated away by another reopens the new one),
  so several processes never lose or interleave lines;
- `journald`: the systemd journal's native socket, with structured fields;
- `syslog`: /dev/log, facility daemon.

`[log] format = "json"` writes one JSON object a line (to the file, or as the journal
and syslog message). Every handler gets the same RedactingFilter, and the JSON
formatter redacts what it writes itself too, so no format bypasses redaction.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import logging.handlers
import os
import socket
import struct
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vahti.display import error_text
from vahti.matchers.private import private_dir

FORMATS = ("text", "json")
TARGETS = ("file", "journald", "syslog")
JOURNALD_SOCKET = "/run/systemd/journal/socket"
SYSLOG_SOCKET = "/dev/log"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"


class RedactingFilter(logging.Filter):
    """Rewrites every record so identifier-shaped text never reaches a handler, and no
    escape sequence from a name or URL reaches the terminal (or a `tail -f` of the log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = error_text(message)
        record.args = None
        if record.exc_info:
            # a traceback's message line may carry whatever the exception held
            record.exc_text = error_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def command_name() -> str:
    """The vahti subcommand this process runs ("daemon", "crawl"), for the logs."""
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    if "--home" in sys.argv[1:]:  # its value is not the command
        value = sys.argv[sys.argv.index("--home") + 1:][:1]
        args = [a for a in args if a not in value]
    return args[0] if args else Path(sys.argv[0] or "vahti").name


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, pid, command, exc_info.
    The message and traceback are redacted here as well: the JSON form must hold
    nothing the text form would not, even on a handler without the filter."""

    def __init__(self) -> None:
        super().__init__()
        self.command = command_name()

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": error_text(record.getMessage()),
            "pid": record.process,
            "process": self.command,
        }
        exc = record.exc_text
        if record.exc_info:
            exc = self.formatException(record.exc_info)
        if exc:
            out["exc_info"] = error_text(exc)
        return json.dumps(out, ensure_ascii=False, sort_keys=False)


def _warn_no_log(where: str, error: BaseException | None) -> None:
    reason = getattr(error, "strerror", None) or type(error).__name__
    logging.getLogger("vahti").warning(
        "cannot write the log %s (%s): logging to stderr only", where, str(reason).lower())


class _LeaveOnOSError:
    """A log target that fails with an OSError (a full disk, a stopped journal) leaves
    with one warning on stderr instead of logging's traceback for every record."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            super().handleError(record)  # type: ignore[misc]  # a bug: logging's own report
            return
        logging.getLogger().removeHandler(self)  # type: ignore[arg-type]
        with contextlib.suppress(OSError):
            self.close()  # type: ignore[attr-defined]
        _warn_no_log(self.where, error)  # type: ignore[attr-defined]


class LogFileHandler(_LeaveOnOSError, logging.Handler):
    """vahti.log, safe for several processes: see the module docstring."""

    def __init__(self, path: Path, max_bytes: int = 10 * 2**20, backups: int = 5) -> None:
        super().__init__()
        self.path = path
        self.where = str(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock_fd = self._fd = -1
        with self._locked():
            self._open()

    @contextlib.contextmanager
    def _locked(self):  # noqa: ANN202
        # (re)opened here: a closed handler still in a logger writes on, as logging's
        # FileHandler does. Scrapy's configure_logging closes every handler through
        # logging.config without removing them (`_clearExistingHandlers`).
        if self._lock_fd < 0:
            self._lock_fd = os.open(self.path.with_name(self.path.name + ".lock"),
                                    os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                           0o600)

    def _current(self) -> os.stat_result:
        """The file at `path` (reopened when another process rotated ours away)."""
        if self._fd < 0:
            self._open()
        try:
            st = os.stat(self.path)
            if st.st_ino == os.fstat(self._fd).st_ino:
                return st
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._open()
        return os.fstat(self._fd)

    def _rotate(self) -> None:
        os.close(self._fd)
        for n in range(self.backups - 1, 0, -1):
            with contextlib.suppress(FileNotFoundError):
                os.replace(f"{self.path}.{n}", f"{self.path}.{n + 1}")
        if self.backups > 0:
            os.replace(self.path, f"{self.path}.1")
        else:
            os.unlink(self.path)
        self._open()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = (self.format(record) + "\n").encode("utf-8", "replace")
            with self._locked():
                size = self._current().st_size
                if self.max_bytes and size and size + len(data) > self.max_bytes:
                    self._rotate()
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view):]
        except Exception:  # noqa: BLE001 - logging's contract: handleError decides
            self.handleError(record)

    def close(self) -> None:
        self.acquire()  # not while a thread of this process writes
        try:
            for fd in (self._fd, self._lock_fd):
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._fd = self._lock_fd = -1
        finally:
            self.release()
        super().close()


_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6,
             logging.DEBUG: 7}
JOURNAL_MAX = 60_000  # a datagram of that size always fits; longer messages are cut


def _priority(levelno: int) -> int:
    return next((p for lvl, p in sorted(_PRIORITY.items(), reverse=True) if levelno >= lvl), 7)


def journal_fields(fields: dict[str, str]) -> bytes:
    """systemd's native journal protocol: KEY=value lines, or KEY, newline, 64-bit
    little-endian length and the raw value for a value with a line break."""
    out = bytearray()
    for key, value in fields.items():
        raw = value.encode("utf-8", "replace")
        if b"\n" in raw:
            out += key.encode() + b"\n" + struct.pack("<Q", len(raw)) + raw + b"\n"
        else:
            out += key.encode() + b"=" + raw + b"\n"
    return bytes(out)


class JournaldHandler(_LeaveOnOSError, logging.Handler):
    """Records to the systemd journal through its native socket (no dependency)."""

    def __init__(self, address: str = JOURNALD_SOCKET) -> None:
        super().__init__()
        self.address = address
        self.where = f"journald socket {address}"
        self.identifier = "vahti"
        self.command = command_name()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self._sock.connect(address)
        except OSError:
            self._sock.close()
            raise

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)[:JOURNAL_MAX]
            self._sock.send(journal_fields({
                "MESSAGE": message, "PRIORITY": str(_priority(record.levelno)),
                "SYSLOG_IDENTIFIER": self.identifier, "LOGGER": record.name,
                "VAHTI_COMMAND": self.command, "SYSLOG_PID": str(record.process),
            }))
        except Exception:  # noqa: BLE001 - logging's contract: handleError decides
            self.handleError(record)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
        super().close()


class SyslogHandler(_LeaveOnOSError, logging.handlers.SysLogHandler):
    def __init__(self, address: str = SYSLOG_SOCKET) -> None:
        super().__init__(address=address, facility=logging.handlers.SysLogHandler.LOG_DAEMON)
        self.where = f"syslog socket {address}"
        self.ident = f"vahti[{os.getpid()}]: "


def _target_handler(target: str, home: Path | None, socket_path: str, max_bytes: int,
                    backups: int) -> logging.Handler | None:
    """The handler for `target`, or None (with a warning) when it cannot be opened."""
    make: type[JournaldHandler] | type[SyslogHandler]
    if target == "journald":
        where, make = socket_path or JOURNALD_SOCKET, JournaldHandler
    elif target == "syslog":
        where, make = socket_path or SYSLOG_SOCKET, SyslogHandler
    else:
        if home is None or not home.is_dir():
            return None
        log_dir = home / "logs"
        path = log_dir / "vahti.log"
        try:
            private_dir(log_dir)
            return LogFileHandler(path, max_bytes=max_bytes, backups=backups)
        except OSError as exc:
            _warn_no_log(str(path), exc)
            return None
    try:
        return make(where)
    except OSError as exc:
        _warn_no_log(f"{target} socket {where}", exc)
        return None


def configure_logging(cfg: Any, debug: bool = False) -> None:
    """setup_logging from vahti's configuration ([log]); `debug` (--debug) logs
    everything, also on stderr. Every command and the daemon's reload come here, so
    none of them can leave out part of [log]."""
    setup_logging(cfg.home, "DEBUG" if debug else cfg.get("log.level"),
                  "DEBUG" if debug else cfg.get("log.stderr_level"),
                  fmt=cfg.get("log.format"), target=cfg.get("log.target"),
                  socket_path=cfg.get("log.socket"), max_bytes=cfg.get("log.max_bytes"),
                  backups=cfg.get("log.backups"))


def setup_logging(home: Path | None, level: str = "INFO", stderr_level: str = "WARNING", *,
                  fmt: str = "text", target: str = "file", socket_path: str = "",
                  max_bytes: int = 10 * 2**20, backups: int = 5) -> None:
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.setLevel(logging.DEBUG)
    redactor = RedactingFilter()

    stderr = logging.StreamHandler()
    stderr.setLevel(stderr_level.upper())
    stderr.setFormatter(logging.Formatter("vahti: %(levelname)s: %(message)s"))
    stderr.addFilter(redactor)
    root.addHandler(stderr)

    problems = []
    if fmt not in FORMATS:
        problems.append(f"log.format {fmt!r} is not one of {', '.join(FORMATS)}: text")
        fmt = "text"
    if target not in TARGETS:
        problems.append(f"log.target {target!r} is not one of {', '.join(TARGETS)}: file")
        target = "file"
    handler = _target_handler(target, home, socket_path, max(int(max_bytes), 0),
                              max(int(backups), 0))
    if handler is not None:
        handler.setLevel(level.upper())
        handler.setFormatter(JsonFormatter() if fmt == "json" else (
            logging.Formatter("%(name)s: %(message)s") if target != "file"
            else logging.Formatter(TEXT_FORMAT)))
        handler.addFilter(redactor)
        root.addHandler(handler)
    for problem in problems:
        logging.getLogger("vahti").warning(problem)
    # third-party chatter stays out unless asked for
    for noisy in ("pymongo", "scrapy", "twisted", "stem", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

