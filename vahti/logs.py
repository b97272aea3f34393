"""Logging to $VAHTI_HOME/logs/vahti.log and stderr, with identifier redaction."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

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
        log_dir = home / "logs"
        log_dir.mkdir(mode=0o700, exist_ok=True)
        path = log_dir / "vahti.log"
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=10 * 2**20, backupCount=5, encoding="utf-8"
        )
        os.chmod(path, 0o600)
        handler.setLevel(level.upper())
        handler.setFormatter(fmt)
        handler.addFilter(redactor)
        root.addHandler(handler)
    # third-party chatter stays out unless asked for
    for noisy in ("pymongo", "scrapy", "twisted", "stem", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
