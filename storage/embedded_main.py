"""Entry point of the embedded server process: SecantusDB's own command line, with
its TTL sweeper switched off.

The sweeper reads and decodes every document of every TTL-indexed collection once a
minute while holding the server's global lock: with 1.3 million documents that
stalled every query for 55 s (benchmarks/search_latency.py). vahti deletes expired
records itself with range deletes over the same indexes (storage/retention.py).
SecantusDB 0.7.0b3 (pinned in pyproject.toml) accepts `[storage] ttl_sweep_seconds`
in its config file but its CLI does not hand it to the server, so the setting is
passed here, where the CLI builds the server.
"""

from __future__ import annotations

import functools

from secantus import cli

TTL_SWEEP_SECONDS = 0  # <= 0: no sweeper thread


def main() -> int:
    cli.SecantusDBServer = functools.partial(cli.SecantusDBServer,
                                             ttl_sweep_seconds=TTL_SWEEP_SECONDS)
    return cli.main()


if __name__ == "__main__":
    raise SystemExit(main())
