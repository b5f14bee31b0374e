"""The `/care` list answers as Block Kit: the queue and "mine" lists of open cases (one line per
case, also used by the digest's oldest open cases and the App Home) and the usage text. Pure
functions of their inputs; user ids and social text are escaped, lists are cut at Slack's limits
with a count of the rest."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.blocks.compliance import removed_note
from bot.blocks.text import escape_mrkdwn, link, slack_date, truncate, user_mention
from bot.clock import ensure_utc
from bot.domain.cases import Priority
from bot.domain.digest import CaseList, OpenCaseRow
from bot.domain.networks import network_label

Message = tuple[str, list[dict[str, Any]]]

EXCERPT = 80
# A message holds 50 blocks: the list keeps room for its heading and the "and N more" line.
MAX_LIST_BLOCKS = 45
USAGE = (
    "*Carebot* `/care` commands:\n"
    "• `/care digest [today|24h|7d|30d]`: how the team is doing (leads; default 24h)\n"
    "• `/care queue`: open cases, unclaimed first, then by deadline\n"
    "• `/care mine`: your open cases, by deadline\n"
    "• `/care help`: this message"
)


def care_usage(problem: str | None = None) -> str:
    """Return the usage text, after the problem with what was typed when there is one."""
    if problem is None:
        return USAGE
    return f":warning: {escape_mrkdwn(problem)}\n\n{USAGE}"


def who(user: str | None) -> str:
    """Return a mention of `user`, or "unclaimed" when there is none."""
    if not user:
        return "_unclaimed_"
    try:
        return user_mention(user)
    except ValueError:
        return escape_mrkdwn(user)


def card_url(row: OpenCaseRow) -> str | None:
    """Return a link to the case's card (Slack redirects it to the workspace), if posted."""
    if row.slack_channel and row.card_ts:
        return f"https://slack.com/archives/{row.slack_channel}/p{row.card_ts.replace('.', '')}"
    return None


def case_line(row: OpenCaseRow, *, now: datetime, show_owner: bool = True) -> str:
    """Return one list line: who wrote what, the deadline and owner, and a link to the card."""
    network = network_label(row.network)
    excerpt = escape_mrkdwn(truncate(" ".join(row.text.split()), EXCERPT))
    if row.content_removed:
        excerpt = removed_note(row.content_removed)
    url = card_url(row)
    target = link(url, "card") if url else link(row.url, f"view on {network}")
    urgent = ":rotating_light: " if row.priority == Priority.URGENT else ""
    if row.due_at is None:
        deadline = "no deadline"
    else:
        late = " *overdue*" if ensure_utc(row.due_at) <= ensure_utc(now) else ""
        deadline = f"due {slack_date(row.due_at)}{late}"
    owner = f" · {who(row.owner)}" if show_owner else ""
    return (
        f"{urgent}*@{escape_mrkdwn(row.author_handle)}* on {network}: {excerpt or '_(no text)_'}\n"
        f"{deadline}{owner} · {target}"
    )


def case_list_message(
    title: str, cases: CaseList, *, empty: str, show_owner: bool = True
) -> Message:
    """Return (text, blocks) listing open cases, one section each, with a count of the rest."""
    shown = cases.cases[:MAX_LIST_BLOCKS]
    rest = cases.total - len(shown)
    text = f"{title}: {cases.total} open"
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=f"*{escape_mrkdwn(title)}* ({cases.total})"))
    ]
    if not shown:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=empty)))
    blocks.extend(
        SectionBlock(
            text=MarkdownTextObject(text=case_line(row, now=cases.now, show_owner=show_owner))
        )
        for row in shown
    )
    if rest > 0:
        noun = "case" if rest == 1 else "cases"
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=f"…and {rest} more open {noun}.")])
        )
    blocks.insert(1, DividerBlock())
    return text, [block.to_dict() for block in blocks]


def queue_message(cases: CaseList) -> Message:
    """Return the `/care queue` answer."""
    return case_list_message("Open cases, unclaimed first", cases, empty="Nothing waiting. :tada:")


def mine_message(cases: CaseList) -> Message:
    """Return the `/care mine` answer."""
    return case_list_message(
        "Your open cases", cases, empty="You have no open cases.", show_owner=False
    )
