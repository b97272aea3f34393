#!/bin/sh
# Run a command in a network namespace of its own that has nothing but loopback,
# so that nothing it starts (the test suite's private Tor network above all) can
# reach any other machine:
#
#     tests/tor/run_in_netns.sh .venv/bin/python -m pytest tests/tor
#
# As root this uses `unshare -n`; otherwise a user namespace too (`unshare -rn`,
# where the command runs as a mapped root). Only the network is private: files,
# processes and unix sockets are shared with the rest of the machine.
set -eu

if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARG...]" >&2
    exit 2
fi

if [ "$(id -u)" = 0 ]; then
    NEW_NETNS="unshare --net"
else
    NEW_NETNS="unshare --net --map-root-user"
fi

# `ip` lives in /usr/sbin or /sbin, which may not be on a user's PATH.
IP=$(PATH="$PATH:/usr/sbin:/sbin" command -v ip) || {
    echo "$0: 'ip' (iproute2) not found" >&2
    exit 1
}

# inside: bring loopback up, then replace the shell with the command ($0 is ip)
# shellcheck disable=SC2086 # NEW_NETNS is meant to split into words
exec $NEW_NETNS -- sh -c '"$0" link set lo up && exec "$@"' "$IP" "$@"
