"""The privacy helper must itself catch what it is meant to catch."""

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
