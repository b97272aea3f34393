"""`vahti init`: the home directory, a commented config.toml and the key."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from vahti.config import CONFIG_TEMPLATE, Config
from vahti.key_source import chosen_source, load_key
from vahti.matchers.keys import create_key_file, load_key_file
from vahti.matchers.private import private_dir, write_new_private_file


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
        private_dir(home)
        report.lines.append(f"home {home}: created")
    private_dir(home / "logs")

    if write_new_private_file(cfg.config_path, CONFIG_TEMPLATE.encode("utf-8")):
        report.lines.append(f"config {cfg.config_path}: written")
    else:
        report.lines.append(f"config {cfg.config_path}: in place, kept")

    key_path = cfg.key_path
    source = chosen_source(cfg)
    if not source.is_file:
        # a credential, a descriptor or a command gives the key: no key file is made
        key = load_key(cfg)[0]
        report.lines.append(f"key from {source.describe()}: id {key.key_id}; "
                            "no key file written")
    elif cfg.get("key.file"):
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
