"""Key sources (vahti/key_source.py): systemd credential, inherited descriptor, command,
key file; their order and their errors, none of which may repeat the key."""

from __future__ import annotations

import os
import secrets
import stat
import sys
from pathlib import Path

import pytest

from vahti import key_source
from vahti.config import load_config
from vahti.matchers.keys import KeyFileError, key_id


@pytest.fixture(autouse=True)
def clean_sources(monkeypatch):
    for name in ("CREDENTIALS_DIRECTORY", "VAHTI_KEY_FD", "VAHTI_KEY_COMMAND"):
        monkeypatch.delenv(name, raising=False)
    key_source.forget_read_keys()
    yield
    key_source.forget_read_keys()


def new_secret() -> bytes:
    return secrets.token_bytes(32)


def config(tmp_path: Path, command: list[str] | str | None = None):
    cfg = load_config(environ={"VAHTI_HOME": str(tmp_path / "home")})
    if command is not None:
        cfg.set("key.command", command, "test")
    return cfg


def write_key(path: Path, secret: bytes, mode: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(secret.hex() + "\n")
    os.chmod(path, mode)
    return path


def credential_dir(tmp_path: Path, secret: bytes, mode: int = 0o400) -> Path:
    folder = tmp_path / "credentials"
    write_key(folder / "vahti-key", secret, mode)
    return folder


def key_pipe(data: bytes) -> int:
    read_end, write_end = os.pipe()
    os.write(write_end, data)
    os.close(write_end)
    return read_end


def script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "get-key"
    path.write_text(f"#!{sys.executable}\nimport sys, time\n{body}\n")
    os.chmod(path, 0o700)
    return str(path)


def test_key_file_is_the_default(tmp_path):
    secret = new_secret()
    cfg = config(tmp_path)
    write_key(cfg.key_path, secret, 0o600)
    key, source = key_source.load_key(cfg)
    assert key.key_id == key_id(secret)
    assert (source.kind, source.where) == ("file", str(cfg.key_path))


def test_credential_first_and_0400_accepted(tmp_path, monkeypatch):
    secret, other = new_secret(), new_secret()
    cfg = config(tmp_path, command=[script(tmp_path, f"print({other.hex()!r})")])
    write_key(cfg.key_path, other, 0o600)
    monkeypatch.setenv("VAHTI_KEY_FD", str(key_pipe(other.hex().encode())))
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credential_dir(tmp_path, secret)))
    key, source = key_source.load_key(cfg)
    assert key.key_id == key_id(secret)
    assert source.kind == "credential"
    assert source.where == str(tmp_path / "credentials" / "vahti-key")
    os.close(int(os.environ["VAHTI_KEY_FD"]))


def test_credential_readable_by_group_is_refused(tmp_path, monkeypatch):
    secret = new_secret()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credential_dir(tmp_path, secret, 0o440)))
    with pytest.raises(KeyFileError, match="must not be accessible by group") as exc:
        key_source.load_key(config(tmp_path))
    assert secret.hex() not in str(exc.value)


def test_credentials_directory_without_the_key_is_passed_over(tmp_path, monkeypatch):
    (tmp_path / "credentials").mkdir()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "credentials"))
    secret = new_secret()
    cfg = config(tmp_path)
    write_key(cfg.key_path, secret, 0o600)
    assert key_source.load_key(cfg)[1].kind == "file"


def test_fd_read_once_closed_and_kept(tmp_path, monkeypatch):
    secret = new_secret()
    fd = key_pipe(secret.hex().encode() + b"\n")
    monkeypatch.setenv("VAHTI_KEY_FD", str(fd))
    cfg = config(tmp_path)
    key, source = key_source.load_key(cfg)
    assert key.key_id == key_id(secret)
    assert (source.kind, source.where) == ("fd", f"fd {fd}")
    assert "VAHTI_KEY_FD" not in os.environ  # no child reads whatever gets that number
    with pytest.raises(OSError):
        os.fstat(fd)  # closed
    again, source_again = key_source.load_key(cfg)  # kept for the process
    assert again == key and source_again == source


@pytest.mark.parametrize("value, message", [
    ("x", "not a file descriptor number"),
    ("1", "must be 3 or more"),
])
def test_fd_bad_numbers(tmp_path, monkeypatch, value, message):
    monkeypatch.setenv("VAHTI_KEY_FD", value)
    with pytest.raises(KeyFileError, match=message):
        key_source.load_key(config(tmp_path))


def test_fd_not_open(tmp_path, monkeypatch):
    fd = key_pipe(b"")
    os.close(fd)
    monkeypatch.setenv("VAHTI_KEY_FD", str(fd))
    with pytest.raises(KeyFileError, match=f"VAHTI_KEY_FD={fd}: cannot read the key"):
        key_source.load_key(config(tmp_path))


def test_fd_with_something_else_never_repeats_it(tmp_path, monkeypatch):
    text = "Matti Meikäläinen 010203-123X"
    monkeypatch.setenv("VAHTI_KEY_FD", str(key_pipe(text.encode())))
    with pytest.raises(KeyFileError, match="not a hex-encoded key") as exc:
        key_source.load_key(config(tmp_path))
    assert "010203" not in str(exc.value) and "Matti" not in str(exc.value)
    short = new_secret()[:16].hex()
    monkeypatch.setenv("VAHTI_KEY_FD", str(key_pipe(short.encode())))
    with pytest.raises(KeyFileError, match="holds 16 bytes, expected 32") as exc:
        key_source.load_key(config(tmp_path))
    assert short not in str(exc.value)


def test_fd_before_command(tmp_path, monkeypatch):
    secret, other = new_secret(), new_secret()
    monkeypatch.setenv("VAHTI_KEY_FD", str(key_pipe(secret.hex().encode())))
    cfg = config(tmp_path, command=[script(tmp_path, f"print({other.hex()!r})")])
    assert key_source.load_key(cfg)[0].key_id == key_id(secret)


def test_command_prints_the_key(tmp_path):
    secret = new_secret()
    program = script(tmp_path, f"assert sys.argv[1:] == ['--name', 'a b']\n"
                               f"print({secret.hex()!r})")
    cfg = config(tmp_path, command=[program, "--name", "a b"])
    key, source = key_source.load_key(cfg)
    assert key.key_id == key_id(secret)
    assert (source.kind, source.where) == ("command", program)
    assert not cfg.key_path.exists()


def test_command_from_the_environment_is_split_without_a_shell(tmp_path, monkeypatch):
    secret = new_secret()
    program = script(tmp_path, f"assert sys.argv[1:] == ['a b', '$HOME;']\n"
                               f"print({secret.hex()!r})")
    monkeypatch.setenv("VAHTI_KEY_COMMAND", f"{program} 'a b' '$HOME;'")
    cfg = load_config(environ={"VAHTI_HOME": str(tmp_path / "home"), **os.environ})
    assert key_source.load_key(cfg)[0].key_id == key_id(secret)


def test_command_is_run_once_per_process(tmp_path):
    secret = new_secret()
    runs = tmp_path / "runs"
    program = script(tmp_path, f"open({str(runs)!r}, 'a').write('x')\nprint({secret.hex()!r})")
    cfg = config(tmp_path, command=[program])
    key_source.load_key(cfg)
    key_source.load_key(cfg)
    assert runs.read_text() == "x"


@pytest.mark.parametrize("body, message", [
    ("print('0011' * 16 + 'zz'); sys.exit(3)", "failed with exit code 3"),
    ("print('Matti 010203-123X')", "is not a hex-encoded key"),
    ("print('ab' * 16)", "holds 16 bytes, expected 32"),
    ("print('ab' * 5000)", "is not a hex-encoded key"),
    ("time.sleep(30)", "did not answer within 0.5 s"),
])
def test_command_errors_never_repeat_its_output(tmp_path, body, message):
    cfg = config(tmp_path, command=[script(tmp_path, body)])
    cfg.set("key.command_timeout_s", 0.5, "test")
    with pytest.raises(KeyFileError, match=message) as exc:
        key_source.load_key(cfg)
    text = str(exc.value)
    assert "\n" not in text
    for output in ("0011", "Matti", "010203", "abab"):
        assert output not in text


def test_command_missing_or_not_executable(tmp_path):
    with pytest.raises(KeyFileError, match="key command /nonexistent/get-key not found"):
        key_source.load_key(config(tmp_path, command=["/nonexistent/get-key"]))
    plain = tmp_path / "plain"
    plain.write_text("")
    os.chmod(plain, 0o600)
    with pytest.raises(KeyFileError, match="is not executable"):
        key_source.load_key(config(tmp_path, command=[str(plain)]))


def test_broken_source_does_not_fall_back_to_the_key_file(tmp_path):
    cfg = config(tmp_path, command=[script(tmp_path, "sys.exit(1)")])
    write_key(cfg.key_path, new_secret(), 0o600)
    with pytest.raises(KeyFileError, match="failed with exit code 1"):
        key_source.load_key(cfg)


def test_child_key_fd_hands_on_a_key_from_a_descriptor(tmp_path, monkeypatch):
    secret = new_secret()
    monkeypatch.setenv("VAHTI_KEY_FD", str(key_pipe(secret.hex().encode())))
    key, source = key_source.load_key(config(tmp_path))
    env: dict[str, str] = {}
    fd = key_source.child_key_fd(key, source, env)
    assert env == {"VAHTI_KEY_FD": str(fd)}
    assert stat.S_ISFIFO(os.fstat(fd).st_mode)
    assert os.read(fd, 200).strip() == secret.hex().encode()
    os.close(fd)
    file_source = key_source.KeySource("file", "/etc/vahti/key")
    assert key_source.child_key_fd(key, file_source, {}) is None


def test_describe_never_names_the_key(tmp_path):
    secret = new_secret()
    cfg = config(tmp_path, command=[script(tmp_path, f"print({secret.hex()!r})")])
    key, source = key_source.load_key(cfg)
    assert secret.hex() not in source.describe() + repr(source) + repr(key)


def test_a_mounted_secret_file_0400_is_the_key_file(tmp_path, monkeypatch):
    """The container's /run/secrets/vahti-key, through VAHTI_KEY_FILE: 0400 will do."""
    secret = new_secret()
    mounted = write_key(tmp_path / "run" / "secrets" / "vahti-key", secret, 0o400)
    cfg = load_config(environ={"VAHTI_HOME": str(tmp_path / "home"),
                               "VAHTI_KEY_FILE": str(mounted)})
    key, source = key_source.load_key(cfg)
    assert key.key_id == key_id(secret) and (source.kind, source.where) == ("file", str(mounted))
