"""Where the key comes from, so that it never has to sit on a server's disk.

In this order, the first that applies:

1. **credential**: `$CREDENTIALS_DIRECTORY/vahti-key`, when that variable is set and
   the file exists (systemd's `LoadCredential=vahti-key:/etc/vahti/key`). systemd
   makes it mode 0400, owned by the service's user; group or others may not read it.
2. **fd**: `VAHTI_KEY_FD=N`, a file descriptor this process inherited (a pipe, a
   file a supervisor opened). It is read to its end once and closed, so the key is
   kept for the rest of the process, and VAHTI_KEY_FD is removed from the
   environment: a child process does not inherit the descriptor, and must not read
   whatever else gets that number in it (`child_key_fd` hands a child the key).
3. **command**: `[key] command = ["/usr/local/bin/get-vahti-key", "arg"]` (env
   VAHTI_KEY_COMMAND, split like a shell would, but run without one). Its stdout is the
   hex key; a non-zero exit, a timeout or anything but a key is one line of error that
   never repeats what it printed. Its stderr is vahti's, for the tool's own messages.
4. **file**: `[key] file` (env VAHTI_KEY_FILE), else `$VAHTI_HOME/key`; mode 0600 or
   stricter.

Only the source's kind and where (a path, "fd 3", the command's program) are ever
shown: `vahti status` says which one gave the key.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from vahti.config import Config
from vahti.matchers.keys import Key, KeyFileError, load_key_file, parse_key

CREDENTIAL_NAME = "vahti-key"
FD_VARIABLE = "VAHTI_KEY_FD"
MAX_KEY_TEXT = 4096  # a hex key is 65 bytes; more is not a key


@dataclass(frozen=True)
class KeySource:
    kind: str  # "credential", "fd", "command" or "file"
    where: str  # a path, "fd N" or the command's program: never the key

    def describe(self) -> str:
        return {"credential": f"systemd credential {self.where}",
                "fd": f"file descriptor {self.where.removeprefix('fd ')} (VAHTI_KEY_FD)",
                "command": f"key command {self.where}",
                "file": f"key file {self.where}"}[self.kind]

    @property
    def is_file(self) -> bool:
        return self.kind == "file"


# Keys read in this process, by source: a descriptor can be read only once, and a
# command (a vault CLI) need not run again for every use.
_read: dict[KeySource, Key] = {}


def chosen_source(cfg: Config) -> KeySource:
    """The source the key comes from, by the order above; reads nothing."""
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if credentials and (Path(credentials) / CREDENTIAL_NAME).exists():
        return KeySource("credential", str(Path(credentials) / CREDENTIAL_NAME))
    for source in _read:
        if source.kind == "fd":  # read before, and its variable is gone since
            return source
    if os.environ.get(FD_VARIABLE, "").strip():
        return KeySource("fd", f"fd {os.environ[FD_VARIABLE].strip()}")
    argv = key_command(cfg)
    if argv:
        return KeySource("command", argv[0])
    return KeySource("file", str(cfg.key_path))


def load_key(cfg: Config) -> tuple[Key, KeySource]:
    """The key and where it came from; KeyFileError (one line, never the key) if the
    chosen source cannot give it. No fallback to a later source: a broken credential
    or command must not silently give way to a forgotten key file."""
    source = chosen_source(cfg)
    if source in _read:
        return _read[source], source
    if source.kind == "fd":
        key = _key_from_fd(source)
    elif source.kind == "command":
        key = _key_from_command(key_command(cfg), float(cfg.get("key.command_timeout_s")))
    else:  # files are read each time: `vahti key rotate` replaces the key file
        return load_key_file(Path(source.where)), source  # refuses group/other-readable
    _read[source] = key  # a descriptor can be read once; a command is not rerun
    return key, source


def key_command(cfg: Config) -> list[str]:
    value = cfg.get("key.command")
    if isinstance(value, str):  # from the environment: VAHTI_KEY_COMMAND="prog arg"
        try:
            return shlex.split(value)
        except ValueError:
            raise KeyFileError("key command (key.command) cannot be split into words: "
                               "check its quotes") from None
    return [str(part) for part in value or ()]


def _key_from_fd(source: KeySource) -> Key:
    text = source.where.removeprefix("fd ")
    what = f"{FD_VARIABLE}={text}"
    os.environ.pop(FD_VARIABLE, None)  # read once: no child may read that number
    try:
        fd = int(text)
    except ValueError:
        raise KeyFileError(f"{what}: not a file descriptor number") from None
    if fd < 3:
        raise KeyFileError(f"{what}: must be 3 or more (0-2 are stdin, stdout, stderr)")
    chunks: list[bytes] = []
    try:
        try:
            while chunk := os.read(fd, MAX_KEY_TEXT + 1):
                chunks.append(chunk)
                if sum(map(len, chunks)) > MAX_KEY_TEXT:
                    break
        finally:
            os.close(fd)
    except OSError as exc:
        raise KeyFileError(f"{what}: cannot read the key ({exc.strerror})") from None
    return parse_key(b"".join(chunks)[:MAX_KEY_TEXT + 1], f"the key from {what}")


def _key_from_command(argv: list[str], timeout_s: float) -> Key:
    what = f"key command {argv[0]}"
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              timeout=timeout_s, check=False, close_fds=True)
    except FileNotFoundError:
        raise KeyFileError(f"{what} not found") from None
    except PermissionError:
        raise KeyFileError(f"{what} is not executable") from None
    except subprocess.TimeoutExpired:
        raise KeyFileError(f"{what} did not answer within {timeout_s:g} s "
                           "(key.command_timeout_s)") from None
    except OSError as exc:
        raise KeyFileError(f"{what} cannot run ({exc.strerror})") from None
    if done.returncode != 0:
        raise KeyFileError(f"{what} failed with exit code {done.returncode}")
    if len(done.stdout) > MAX_KEY_TEXT:
        raise KeyFileError(f"the output of {what} is not a hex-encoded key")
    return parse_key(done.stdout, f"the output of {what}")


def child_key_fd(key: Key, source: KeySource, env: dict[str, str]) -> int | None:
    """For a vahti child process (the daemon's crawls): when this process's key came from
    a descriptor or a command, a new pipe holding it, set as the child's VAHTI_KEY_FD.
    Returns the descriptor to pass (`pass_fds`) and close after starting the child, or
    None when the child finds the key itself (a file or a credential, by inheritance)."""
    if source.kind not in ("fd", "command"):
        return None
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, key.secret.hex().encode() + b"\n")  # far below a pipe's buffer
    finally:
        os.close(write_end)
    env[FD_VARIABLE] = str(read_end)
    return read_end


def forget_read_keys() -> None:
    """Drop the keys read in this process (tests that change the source)."""
    _read.clear()
