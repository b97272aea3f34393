"""`vahti demo`: the click command. The story is `vahti.demo.story`; the network
namespace is `vahti.demo.netns`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click


@click.command("demo")
@click.option("--keep", is_flag=True,
              help="Keep the demo's home (and the synthetic register in it) at the end.")
@click.option("--home", "home", type=click.Path(file_okay=False),
              help="Use this new or empty directory as the demo's home instead of a "
                   "temporary one.")
@click.option("--people", type=click.IntRange(50, 200_000), default=3000, show_default=True,
              help="Patients in the fictional clinic's register.")
def demo(keep: bool, home: str | None, people: int) -> None:
    """The whole story on a fictional clinic, in a few minutes, offline.

    A synthetic register is enrolled, a private Tor network (loopback only, in a
    network namespace of its own) serves an onion paste site and an onion leak
    site where part of the register is republished piece by piece, the daemon
    crawls them and alerts arrive; then an incident search and the weekly
    report. Every process it starts is stopped at the end, also on Ctrl-C.
    """
    from vahti.demo import netns
    from vahti.demo.guard import NotIsolatedError
    from vahti.demo.story import Options, run_demo

    try:
        if not os.environ.get(netns.MARK) and not netns.isolated():
            netns.reexec_isolated(sys.argv[1:])  # does not return
        netns.bring_up_loopback()
        if not netns.isolated():
            raise NotIsolatedError("this network namespace has more than loopback")
    except NotIsolatedError as exc:
        click.echo(f"vahti demo: {exc}", err=True)
        sys.exit(2)
    options = Options(home=Path(home) if home else None, keep=keep, people=people)
    sys.exit(run_demo(options))
