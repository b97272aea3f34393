"""The triage state machine (storage/alert_states.py), the comment check
(matchers/free_text.py), the alert_update payload and the channels' `updates` option."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vahti.matchers.free_text import holds_identifier
from vahti.scheduler.channels.config import ChannelConfigError, parse_channels
from vahti.scheduler.channels.message import update_message, update_payload
from vahti.storage.alert_states import (
    ACKNOWLEDGED,
    ALLOWED,
    FALSE_POSITIVE,
    NEW,
    RESOLVED,
    STATES,
    TransitionRefused,
    is_change,
    state_of,
)


@pytest.mark.parametrize(("current", "target"), [
    (NEW, ACKNOWLEDGED), (NEW, RESOLVED), (NEW, FALSE_POSITIVE),
    (ACKNOWLEDGED, RESOLVED), (ACKNOWLEDGED, FALSE_POSITIVE),
    (RESOLVED, ACKNOWLEDGED), (FALSE_POSITIVE, ACKNOWLEDGED),  # reopening
])
def test_allowed_changes(current, target):
    assert is_change(current, target) is True


@pytest.mark.parametrize("state", STATES)
def test_the_same_state_again_is_no_change_and_no_error(state):
    assert is_change(state, state) is False


@pytest.mark.parametrize(("current", "target"), [
    (RESOLVED, FALSE_POSITIVE), (FALSE_POSITIVE, RESOLVED),
    (ACKNOWLEDGED, NEW), (RESOLVED, NEW), (FALSE_POSITIVE, NEW),
])
def test_refused_changes_say_what_to_do(current, target):
    with pytest.raises(TransitionRefused) as refused:
        is_change(current, target)
    assert "ack" in str(refused.value)


def test_every_state_is_reachable_and_no_dead_end():
    reachable = {NEW} | {t for targets in ALLOWED.values() for t in targets}
    assert reachable == set(STATES)
    assert all(ALLOWED[s] for s in STATES)


def test_an_unknown_state_is_refused():
    with pytest.raises(TransitionRefused):
        is_change(NEW, "closed")


def test_an_alert_without_a_state_is_new():
    assert state_of({"alert_key": "s-1"}) == NEW


@pytest.mark.parametrize("text", [
    "see 131052-308T", "pasted 131052-308t by mistake", "P-131052-308T",
    "mail anna.virtanen@example.org", "anna(at)example.org", "call +358 40 123 4567",
    "090 1234567 8", "19811218-9876", "0101010101",
])
def test_identifier_shaped_comments_are_caught(text):
    assert holds_identifier(text)


@pytest.mark.parametrize("text", [
    "", "checked with the forum admin, test data", "ticket SEC-42", "dup of s-3f9a2b",
    "resolved: page taken down 2026-12-04",
])
def test_ordinary_comments_pass(text):
    assert not holds_identifier(text)


def test_a_configured_customer_number_is_caught():
    assert holds_identifier("customer ASI-123456 called", customer_id_pattern="ASI-[0-9]{6}")


CHANGED = datetime(2026, 12, 4, 3, 12, 45, 123000, tzinfo=UTC)


def test_update_payload_has_exactly_the_contract_shape():
    change = {"state": "acknowledged", "previous_state": "new", "changed": CHANGED,
              "by": "anna", "comment": "on it"}
    payload = update_payload("s-abc", "sighting", change)
    assert payload == {"type": "alert_update", "alert_key": "s-abc", "kind": "sighting",
                       "state": "acknowledged", "previous_state": "new",
                       "changed": "2026-12-04T03:12:45.123000Z", "by": "anna",
                       "comment": "on it"}
    no_comment = update_payload("h-1", "health", {**change, "comment": ""})
    assert "comment" not in no_comment
    message = update_message(payload, "s-abc:update1:hook")
    assert message.payload == payload and message.idempotency_key == "s-abc:update1:hook"
    assert "s-abc" in message.subject and "acknowledged" in message.subject


def test_updates_option_defaults_on_except_email_and_is_a_bool():
    chans = parse_channels({
        "hook": {"type": "webhook", "url": "https://h.example/x", "secret_env": "S"},
        "out": {"type": "stdout"},
        "mail": {"type": "email", "host": "smtp.example", "from": "v@example.org",
                 "to": ["soc@example.org"]},
        "quiet": {"type": "stdout", "updates": False},
        "mail2": {"type": "email", "host": "smtp.example", "from": "v@example.org",
                  "to": ["soc@example.org"], "updates": True},
    })
    assert {n: c.updates for n, c in chans.items()} == {
        "hook": True, "out": True, "mail": False, "quiet": False, "mail2": True}
    assert chans["mail"].describe()["updates"] is False
    with pytest.raises(ChannelConfigError, match="updates"):
        parse_channels({"x": {"type": "stdout", "updates": "yes"}})


def test_an_iso_date_is_not_an_identifier_but_glued_digits_still_are():
    assert not holds_identifier("taken down 2026-12-04, checked 2026-12-04T03:10Z")
    assert holds_identifier("2026-12-04 and 131052-308T")
    assert holds_identifier("2026-12-041234")
