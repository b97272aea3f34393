"""`vahti demo` and the private test network it shares with the test suite.

- `command`, `story`: the demo command and its story (see `story`'s docstring);
- `clinic`: the fictional clinic's register and the leak of part of it;
- `netns`, `guard`: the loopback-only network namespace every tor of it runs in;
- `tornet`, `socks`: the private Tor network (authorities, relays, onion host, client);
- `sites`: the paste, leak and forum sites behind its onion services;
- `synthetic`, `notegen`: synthetic people and session-note text;
- `children`: the vahti processes the demo starts, all stopped at the end.

Nothing here is imported by the rest of vahti except `vahti demo`'s command.
"""
