"""The privacy helper must itself catch what it is meant to catch."""

import base64
import hashlib
import hmac

import pytest

from tests.privacy import Written, assert_no_plaintext


def test_finds_values_in_any_common_spelling():
    value = "131052-308T"
    for data in (b"x 131052-308T y", b"x 131052-308t y", "131052-308T".encode("utf-16-le"),
                 b"digits 131052308 only"):
        with pytest.raises(AssertionError, match=r"plaintext value #0 found in f"):
            assert_no_plaintext([Written("f", data)], [value])
    assert_no_plaintext([Written("f", b"nothing here")], [value])


def test_refuses_to_check_nothing():
    with pytest.raises(AssertionError, match="needs the plaintext"):
        assert_no_plaintext([Written("f", b"")], [])


def test_a_plain_sha256_of_a_one_value_file_or_a_fed_in_content_counts_as_plaintext():
    """Small or templated content is brute-forced back from its plain hash: the hash is
    as good as the value (issue 12)."""
    value = "131052-308T"
    page = b"<html><p>No results for 131052-308T</p></html>"
    one_code = hashlib.sha256(b"131052-308T\n").hexdigest()
    for data in (one_code.encode(), f'"page_sha256": "{one_code.upper()}"'.encode(),
                 f"| {one_code[:16]} |".encode(), hashlib.sha256(b"131052-308T").digest(),
                 base64.b64encode(hashlib.sha256(b"131052-308T\r\n").digest())):
        with pytest.raises(AssertionError, match=r"plain SHA-256 of a file holding value #0"):
            assert_no_plaintext([Written("f", data)], [value])
    with pytest.raises(AssertionError, match=r"plain SHA-256 of content #0 found in f"):
        assert_no_plaintext([Written("f", hashlib.sha256(page).hexdigest().encode())],
                            ["unrelated"], contents=[page])
    keyed = hmac.new(b"k" * 32, hashlib.sha256(page).digest(), "sha256").hexdigest()[:32]
    assert_no_plaintext([Written("f", keyed.encode())], [value], contents=[page])
