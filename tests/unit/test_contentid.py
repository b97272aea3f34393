"""Keyed content ids (matchers/contentid.py): a PRF of the bytes under the key's
"content" subkey, 128 bits, mappable from a stored plain SHA-256 (the migration)."""

import hashlib
import hmac

from vahti.matchers.contentid import SHARE_MIN_BYTES, ContentIds, shareable_sha256
from vahti.matchers.keys import Key, derive_subkey
from vahti.matchers.scanfiles import scan_files

KEY = Key(bytes(range(32)))
PAGE = b"<p>No results for 131052-308T</p>\n"


def test_content_id_is_a_truncated_hmac_of_the_sha256_under_its_own_subkey():
    ids = ContentIds(KEY)
    digest = hashlib.sha256(PAGE).digest()
    expected = hmac.new(derive_subkey(KEY, "content"), digest, hashlib.sha256).hexdigest()[:32]
    assert ids.of_bytes(PAGE) == ids.of_digest(digest) == expected
    assert ids.of_sha256_hex(digest.hex()) == expected  # a stored plain hash maps losslessly
    assert ids.of_bytes(PAGE) == ids.of_bytes(PAGE)  # deterministic: the same bytes link
    assert ids.of_bytes(PAGE + b" ") != ids.of_bytes(PAGE)
    assert ContentIds(Key(bytes(32))).of_bytes(PAGE) != ids.of_bytes(PAGE)  # keyed
    assert digest.hex()[:12] not in ids.of_bytes(PAGE)


def test_plain_sha256_is_shareable_only_from_one_mib():
    digest = hashlib.sha256(PAGE).digest()
    assert shareable_sha256(len(PAGE), digest) == ""
    assert shareable_sha256(SHARE_MIN_BYTES - 1, digest) == ""
    assert shareable_sha256(SHARE_MIN_BYTES, digest) == digest.hex()


def test_scan_events_carry_the_shareable_hash_only_for_big_inputs(tmp_path):
    from tests.unit.test_engine import INDEX

    small = tmp_path / "small.txt"
    small.write_bytes(PAGE)
    big = tmp_path / "big.txt"
    big.write_bytes(b"rivi ilman tunnuksia\n" * (SHARE_MIN_BYTES // 20))
    events = {e.location: e for e in scan_files([str(small), str(big)], INDEX, KEY)}
    assert events[str(small)].shareable_sha256 == ""
    assert events[str(big)].shareable_sha256 == hashlib.sha256(big.read_bytes()).hexdigest()
    assert events[str(big)].content_id == ContentIds(KEY).of_bytes(big.read_bytes())


def test_an_input_is_hashed_beside_its_scan_with_the_same_digest():
    """Big inputs are hashed by a thread while their text is scanned (scanfiles'
    `_sha256_beside`): the same digest, and the same content id in the Scanned event."""
    from tests.unit.test_engine import INDEX
    from vahti.matchers import scanfiles
    from vahti.matchers.engine import Scanner, ScanOptions

    for size in (0, 10, scanfiles.SHA256_BESIDE_BYTES - 1, scanfiles.SHA256_BESIDE_BYTES,
                 3 * scanfiles.SHA256_BESIDE_BYTES + 7):
        data = (PAGE * (size // len(PAGE) + 1))[:size]
        assert scanfiles._sha256_beside(data)() == hashlib.sha256(data).digest()
    data = PAGE * (scanfiles.SHA256_BESIDE_BYTES // len(PAGE) + 1)
    _, scanned = scanfiles.member_columns(Scanner(INDEX, KEY, ScanOptions()), "/x", data)
    assert scanned.content_id == ContentIds(KEY).of_bytes(data)
