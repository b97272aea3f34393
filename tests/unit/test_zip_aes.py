"""A zip encrypted with AES (what 7-Zip, WinZip and WinRAR write when given a password) is
read with the passwords of `--password-file`: before, it was "encrypted: AES-encrypted zip
member (only ZipCrypto is supported)" even when the analyst had its password.

The archives are written by libarchive, as 7-Zip writes them (WinZip AES-256, method 99).
"""

from __future__ import annotations

import logging
import logging.config
import random
from pathlib import Path

import libarchive

from tests.unit.rar_files import rar5
from tests.unit.test_rar import CSV, NOTE, _data, _no_content_in_reasons, _reasons
from vahti.matchers.archives import ArchiveLimits, Member, iter_members

PASSWORD = "vuoto2026"


def _aes_zip(tmp_path: Path, members: list[tuple[str, bytes]], password: str = PASSWORD,
             name: str = "vuoto.zip") -> Path:
    path = tmp_path / name
    with libarchive.file_writer(str(path), "zip", options="encryption=aes256",
                                passphrase=password) as archive:
        for member, data in members:
            archive.add_file_from_memory(member, len(data), data)
    return path


def _members(source: Path | bytes, passwords: tuple[str, ...] = (),
             **limits: int) -> list[Member]:
    data = source if isinstance(source, bytes) else str(source)
    return list(iter_members(data, "vuoto.zip",
                             ArchiveLimits(passwords=passwords, **limits)))  # type: ignore[arg-type]


def test_an_aes_zip_is_read_with_the_password_that_fits(tmp_path: Path) -> None:
    path = _aes_zip(tmp_path, [("potilaat.csv", CSV), ("kansio/lahete.txt", NOTE)])
    expected = {"vuoto.zip!potilaat.csv": CSV, "vuoto.zip!kansio/lahete.txt": NOTE}
    for source in (path, path.read_bytes()):  # a file on disk, bytes inside another archive
        members = _members(source, ("väärä", PASSWORD, "toinen"))
        assert _data(members) == expected
        assert not _reasons(members)


def test_an_aes_zip_without_its_password_says_so(tmp_path: Path) -> None:
    path = _aes_zip(tmp_path, [("potilaat.csv", CSV), ("lahete.txt", NOTE)])
    assert _reasons(_members(path)) == dict.fromkeys(
        ("vuoto.zip!potilaat.csv", "vuoto.zip!lahete.txt"),
        "encrypted: AES-encrypted zip member")
    members = _members(path, ("väärä", "toinen"))
    assert _reasons(members) == dict.fromkeys(
        ("vuoto.zip!potilaat.csv", "vuoto.zip!lahete.txt"),
        "encrypted: AES-encrypted zip member (no password of the password file fits)")
    _no_content_in_reasons(members)


def test_an_aes_zip_inside_a_rar_is_read(tmp_path: Path) -> None:
    inner = _aes_zip(tmp_path, [("potilaat.csv", CSV)]).read_bytes()
    members = list(iter_members(rar5([("osa.zip", inner)]), "vuoto.rar",
                                ArchiveLimits(passwords=(PASSWORD,))))
    assert _data(members) == {"vuoto.rar!osa.zip!potilaat.csv": CSV}


def test_aes_members_keep_to_the_limits(tmp_path: Path) -> None:
    path = _aes_zip(tmp_path, [("iso.csv", CSV * 100), ("pieni.txt", NOTE)])
    members = _members(path, (PASSWORD,), max_member_size=len(CSV) * 10)
    assert list(_reasons(members)) == ["vuoto.zip!iso.csv"]
    assert _reasons(members)["vuoto.zip!iso.csv"].startswith("archive bomb: member over")
    assert _data(members) == {"vuoto.zip!pieni.txt": NOTE}
    many = _aes_zip(tmp_path, [(f"{i}.txt", NOTE) for i in range(30)], name="many.zip")
    got = _members(many, (PASSWORD,), max_members=10)
    assert len(_data(got)) == 10
    assert _reasons(got) == {"vuoto.zip": "too many members: more than 10 in one input "
                                          "(the rest was not read)"}


def test_damaged_aes_zips_are_reported_and_never_raise(tmp_path: Path, caplog) -> None:  # noqa: ANN001
    """Nor logged: libarchive's warnings hold values of the content ("ZIP bad CRC:
    0x691d28f3 should be 0x691d280c", the CRC32 of a member, which for a one-line member
    can be brute-forced back to its identity code)."""
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})  # as vahti's
    caplog.set_level(logging.DEBUG)
    data = _aes_zip(tmp_path, [("potilaat.csv", CSV), ("lahete.txt", NOTE)]).read_bytes()
    rng = random.Random(42)
    seen = 0
    for _ in range(300):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        members = _members(bytes(mutated), (PASSWORD,))
        assert members
        _no_content_in_reasons(members)
        seen += sum(m.data is not None for m in members)
    assert seen  # most mutations leave a member whole
    assert not [r for r in caplog.records if r.name.startswith("libarchive")]
