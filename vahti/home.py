"""`vahti init`: the home directory, a commented config.toml and the key."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from matchers.keys import create_key_file, load_key_file
from vahti.config import CONFIG_TEMPLATE, Config


@dataclass
class InitReport:
    lines: list[str] = field(default_factory=list)
    key_id: str = ""


def init_home(cfg: Config) -> InitReport:
    report = InitReport()
    home = cfg.home
    if home.exists():
        mode = stat.S_IMODE(home.stat().st_mode)
        if mode & 0o077:
            os.chmod(home, 0o700)
            report.lines.append(f"home {home}: permissions tightened from {mode:04o} to 0700")
        else:
            report.lines.append(f"home {home}: in place")
    else:
        home.mkdir(parents=True, mode=0o700)
        os.chmod(home, 0o700)  # mkdir's mode is narrowed by the umask, never widened: be exact
        report.lines.append(f"home {home}: created")
    (home / "logs").mkdir(mode=0o700, exist_ok=True)

    try:
        fd = os.open(cfg.config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        report.lines.append(f"config {cfg.config_path}: in place, kept")
    else:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(CONFIG_TEMPLATE)
        report.lines.append(f"config {cfg.config_path}: written")

    key_path = cfg.key_path
    if cfg.get("key.file"):
        # a key kept elsewhere (VAHTI_KEY_FILE): used, never created or replaced here
        key = load_key_file(key_path)
        report.lines.append(f"key {key_path} ({cfg.origins['key.file']}): id {key.key_id}")
    elif create_key_file(key_path):
        key = load_key_file(key_path)
        report.lines.append(f"key {key_path}: created, id {key.key_id}. Back it up offline.")
    else:
        key = load_key_file(key_path)
        report.lines.append(f"key {key_path}: already present, id {key.key_id}; not overwritten")
    report.key_id = key.key_id
    return report
