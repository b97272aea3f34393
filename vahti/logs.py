"""Logging to $VAHTI_HOME/logs/vahti.log and stderr, with identifier redaction."""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
from pathlib import Path

from matchers.private import private_dir
from vahti.display import error_text


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


class LogFileHandler(logging.handlers.RotatingFileHandler):
    """The log file; when a write fails (a full disk), it leaves with one warning on
    stderr instead of logging's traceback for every record."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            super().handleError(record)  # a bug, not the disk: logging's own report
            return
        logging.getLogger().removeHandler(self)
        with contextlib.suppress(OSError):
            self.close()
        _warn_no_log_file(self.baseFilename, error)


def _warn_no_log_file(where: str, error: BaseException | None) -> None:
    reason = getattr(error, "strerror", None) or type(error).__name__
    logging.getLogger("vahti").warning(
        "cannot write the log file %s (%s): logging to stderr only", where, reason.lower())


def _log_file_handler(log_dir: Path) -> LogFileHandler | None:
    """The log file under `log_dir`, or None (with a warning) on a read-only or full home."""
    path = log_dir / "vahti.log"
    try:
        private_dir(log_dir)
        handler = LogFileHandler(path, maxBytes=10 * 2**20, backupCount=5, encoding="utf-8")
        os.chmod(path, 0o600)
    except OSError as exc:
        _warn_no_log_file(str(path), exc)
        return None
    return handler


def setup_logging(home: Path | None, level: str = "INFO", stderr_level: str = "WARNING") -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.DEBUG)
    redactor = RedactingFilter()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s")

    stderr = logging.StreamHandler()
    stderr.setLevel(stderr_level.upper())
    stderr.setFormatter(logging.Formatter("vahti: %(levelname)s: %(message)s"))
    stderr.addFilter(redactor)
    root.addHandler(stderr)

    if home is not None and home.is_dir():
        handler = _log_file_handler(home / "logs")
        if handler is not None:
            handler.setLevel(level.upper())
            handler.setFormatter(fmt)
            handler.addFilter(redactor)
            root.addHandler(handler)
    # third-party chatter stays out unless asked for
    for noisy in ("pymongo", "scrapy", "twisted", "stem", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
