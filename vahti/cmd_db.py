"""`vahti db`: `dump --out DIR` writes every collection as JSON lines (audits, privacy
checks), `load --from DIR` loads such a folder into an empty database, for moving from
the embedded database to a MongoDB server (docs/server.md)."""

from __future__ import annotations

from pathlib import Path

import click

from vahti.clictx import config_of
from vahti.display import echo
from vahti.storage.dump import dump_all, load_all
from vahti.wiring import load_key, open_db


@click.group("db")
def db_group() -> None:
    """Database tools: dump and load (moving to a MongoDB server)."""


@db_group.command("dump")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for one <collection>.jsonl per collection.")
@click.pass_context
def db_dump(ctx: click.Context, out_dir: str) -> None:
    """Export every collection as JSON lines (audits, privacy checks)."""
    with open_db(config_of(ctx)) as storage:
        written = dump_all(storage, Path(out_dir))
    for name, n in written.items():
        echo(f"{name}: {n}")


@db_group.command("load")
@click.option("--from", "in_dir", required=True, type=click.Path(file_okay=False),
              help="A folder written by `vahti db dump --out`.")
@click.pass_context
def db_load(ctx: click.Context, in_dir: str) -> None:
    """Load a dump into an empty database: the same documents, ids and types.

    The dump must have been written under this key (its key id is checked). A load
    that was interrupted goes on when run again; a database holding anything else is
    refused. Stop every vahti daemon on both databases first.
    """
    cfg = config_of(ctx)
    key = load_key(cfg)
    with open_db(cfg, key) as storage:
        loaded = load_all(storage, Path(in_dir), key.key_id)
        where = f"{storage.db.name} at {storage.display_uri}"
    with open_db(cfg, key):
        pass  # a dump of an older schema is migrated now, with the key at hand
    for name, n in sorted(loaded.items()):
        echo(f"{name}: {n}")
    echo(f"loaded {sum(loaded.values())} documents into {where}, key id {key.key_id}")
