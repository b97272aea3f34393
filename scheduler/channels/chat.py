"""Chat webhook formats: Slack incoming webhooks and Microsoft Teams (Workflows or
incoming webhook) Adaptive Cards.

They carry the summary (summary.py: no page URL, no refs). Text from outside vahti
(a source's problem, a comment, a ref-free detail) must stay text: in Slack every
`&`, `<` and `>` is escaped, so nothing becomes a link, a `<!channel>` or a user
mention; in Teams all text goes in TextRuns of RichTextBlocks, which Teams does not
read as markdown (a TextBlock or FactSet would turn `[x](url)` into a link).
"""

from __future__ import annotations

from typing import Any

from vahti.scheduler.channels.config import ChannelConfig
from vahti.scheduler.channels.errors import DeliveryError
from vahti.scheduler.channels.message import Message, json_bytes
from vahti.scheduler.channels.summary import Summary, summarize

# Slack's limits (Block Kit): a section's text, a header's text, blocks per message
SLACK_SECTION_MAX = 3000
SLACK_HEADER_MAX = 150
SLACK_BLOCKS_MAX = 50
SLACK_TEXT_MAX = 3000  # the notification fallback: kept short
CARD_VERSION = "1.4"


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def slack_escape(text: str) -> str:
    """Slack's escaping: the three characters its markup starts with."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _facts_mrkdwn(summary: Summary) -> str:
    return "\n".join(f"*{slack_escape(label)}:* {slack_escape(value)}"
                     for label, value in summary.facts)


def _section(text: str) -> dict[str, Any]:
    # the text is escaped already: a cut through an entity shows as text, never as markup
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, SLACK_SECTION_MAX)}}


def slack_message(payload: dict[str, Any]) -> dict[str, Any]:
    summary = summarize(payload)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "emoji": False,
                                    "text": cut(summary.title, SLACK_HEADER_MAX)}}]
    if summary.facts:
        blocks.append(_section(_facts_mrkdwn(summary)))
    room = SLACK_BLOCKS_MAX - len(blocks) - 1  # one left for the "more" line
    shown = summary.items[:room]
    for item in shown:
        blocks.append(_section(f"*{slack_escape(item.title)}*\n{_facts_mrkdwn(item)}"))
    more = summary.more + len(summary.items) - len(shown)
    if more:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"… and {more} more alerts: `vahti alerts list`"}]})
    return {"text": cut(slack_escape(summary.title), SLACK_TEXT_MAX), "blocks": blocks}


def slack_body(channel: ChannelConfig, message: Message) -> bytes:
    return json_bytes(slack_message(message.payload))


def slack_check(status: int, answer: bytes) -> None:
    """Slack answers 200 `ok`; errors are 4xx with a word (`invalid_payload`,
    `no_text`, `channel_is_archived`...), shown when it is one."""
    if status == 200:
        return
    word = answer.decode("ascii", "replace").strip()
    shown = f" ({word})" if word.replace("_", "").isalpha() and len(word) <= 40 else ""
    raise DeliveryError(f"HTTP {status}{shown}")


def _run(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextRun", "text": text, **style}


def _rich(*runs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": list(runs), **extra}


def _card_facts(summary: Summary) -> list[dict[str, Any]]:
    return [_rich(_run(f"{label}: ", weight="Bolder"), _run(value), spacing="None")
            for label, value in summary.facts]


def teams_card(payload: dict[str, Any]) -> dict[str, Any]:
    summary = summarize(payload)
    body = [_rich(_run(summary.title, weight="Bolder", size="Medium")), *_card_facts(summary)]
    for item in summary.items:
        body += [_rich(_run(item.title, weight="Bolder"), separator=True), *_card_facts(item)]
    if summary.more:
        body.append(_rich(_run(f"… and {summary.more} more alerts: vahti alerts list",
                               isSubtle=True)))
    return {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard", "version": CARD_VERSION, "body": body}


def teams_message(payload: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": teams_card(payload)}]}


def teams_body(channel: ChannelConfig, message: Message) -> bytes:
    return json_bytes(teams_message(message.payload))


def teams_check(status: int, answer: bytes) -> None:
    """A Workflows webhook answers 202 (empty); the older incoming webhook 200 with `1`,
    but also 200 with an error text (e.g. a card it could not read): that fails."""
    text = answer.strip()
    if 200 <= status < 300 and text in (b"", b"1"):
        return
    if 200 <= status < 300:
        raise DeliveryError(f"HTTP {status} with an error text")
    raise DeliveryError(f"HTTP {status}")
