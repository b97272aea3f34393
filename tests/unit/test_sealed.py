"""Sealed HTTP validators (matchers/sealed.py): a server's ETag is often a plain hash of
the body, so it is stored encrypted under the key and opened only to send it back."""

import hashlib

from vahti.matchers.keys import Key
from vahti.matchers.sealed import PREFIX, ValidatorSeal

KEY = Key(bytes(range(32)))
ETAG = '"' + hashlib.md5(b"<p>No results for 131052-308T</p>").hexdigest() + '"'


def test_seal_round_trip_hides_the_value_and_is_not_deterministic():
    seal = ValidatorSeal(KEY)
    one, two = seal.seal(ETAG), seal.seal(ETAG)
    assert one.startswith(PREFIX) and one != two  # a random nonce: equal ETags do not link
    assert ETAG.strip('"')[:12] not in one
    assert seal.open(one) == seal.open(two) == ETAG
    assert seal.seal("") == "" and seal.open("") == ""


def test_what_cannot_be_opened_means_no_conditional_get():
    sealed = ValidatorSeal(KEY).seal(ETAG)
    assert ValidatorSeal(Key(bytes(32))).open(sealed) == ""  # another key
    assert ValidatorSeal(KEY).open(ETAG) == ""  # a plain ETag of an old database
    assert ValidatorSeal(KEY).open(PREFIX + "!!!") == ""
    assert ValidatorSeal(KEY).open(sealed[:-4]) == ""  # damaged
