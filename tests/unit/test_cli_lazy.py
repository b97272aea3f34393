"""`vahti` imports a subcommand's module only when that command runs: `--help` and
`--version` list and print without Scrapy, Twisted, pymongo or numpy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from vahti.cli import LAZY_COMMANDS, cli

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("pymongo", "scrapy", "twisted", "numpy", "matplotlib", "secantus", "stem")


def imported_by(*args: str, stdin: str = "", env: dict[str, str] | None = None,
                ) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `python -m vahti ARGS` with -X importtime: its result and every module it
    imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "vahti", *args], input=stdin,
        capture_output=True, text=True, cwd=REPO, timeout=120,
        env=env or {**os.environ, "PYTHONPATH": str(REPO)})
    modules = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()
               if line.startswith("import time:") and "|" in line}
    return result, modules


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith("vahti.cmd_"))


def test_help_lists_every_command_without_importing_any():
    result, modules = imported_by("--help")
    assert result.returncode == 0, result.stderr
    assert heavy_in(modules) == []
    listed = result.stdout.split("Commands:", 1)[1]
    for name in [*LAZY_COMMANDS, "init", "status", "config", "db"]:
        assert f"\n  {name} " in listed, name
    assert "Where identifiers (from stdin or --file)" in listed


def test_version_imports_no_command():
    result, modules = imported_by("--version")
    assert result.returncode == 0, result.stderr
    assert "vahti, version" in result.stdout
    assert heavy_in(modules) == []


def test_every_lazy_entry_is_the_command_it_names():
    ctx = click.Context(cli)
    for name in LAZY_COMMANDS:
        command = cli.get_command(ctx, name)
        assert isinstance(command, click.Command), name
        assert command.name == name


def test_a_command_s_own_help_imports_it():
    result, _ = imported_by("search", "--help")
    assert result.returncode == 0, result.stderr
    assert "--ref REF" in result.stdout  # the option is declared in vahti.cmd_search


def test_an_unknown_command_is_one_line_exit_2():
    result, _ = imported_by("nosuch")
    assert result.returncode == 2
    assert "No such command 'nosuch'" in result.stderr


def test_the_errors_shown_as_one_line_are_recognised():
    """USER_ERRORS names modules as strings: a module that moved must fail here, not turn
    every user error into an "internal error"."""
    from vahti.cli import _is_user_error
    from vahti.errors import VahtiError
    from vahti.matchers.keys import KeyFileError
    from vahti.spiders.sources import SourcesError
    from vahti.spiders.torctl import TorUnavailable
    from vahti.storage.errors import StorageError, StorageUnavailable

    for cls in (KeyFileError, SourcesError, TorUnavailable, StorageError, StorageUnavailable,
                VahtiError):
        assert _is_user_error(cls.__new__(cls)), cls
    assert not _is_user_error(ValueError("x"))


def test_the_command_keeps_openblas_to_one_thread_unless_told(monkeypatch):
    """`vahti` (cli.run) sets OPENBLAS_NUM_THREADS=1 before numpy is imported: its
    spinning threads cost every command 0.1 s of CPU. A value the user set stays."""
    import gc

    import pytest

    from vahti import cli

    monkeypatch.setattr(cli, "main", lambda: 0)
    monkeypatch.setattr(gc, "freeze", lambda: None)
    for preset, expected in ((None, "1"), ("4", "4")):
        if preset is None:
            monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
        else:
            monkeypatch.setenv("OPENBLAS_NUM_THREADS", preset)
        with pytest.raises(SystemExit):
            cli.run()
        assert os.environ["OPENBLAS_NUM_THREADS"] == expected
