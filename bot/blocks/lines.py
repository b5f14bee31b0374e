"""Short texts: the lines posted in a card's thread when something happens to its case (rendered
from the services' domain events by `thread_line`), the nags, and the ephemeral answers to agents.
Social text in them is escaped and quoted, never trusted."""

from __future__ import annotations

from bot.blocks.ids import ActionId
from bot.blocks.text import escape_mrkdwn, link, quote, truncate, user_mention
from bot.domain.cases import describe_resolution
from bot.domain.events import (
    CaseEvent,
    Claimed,
    Released,
    Reopened,
    ReplyNotPosted,
    ReplySent,
    Resolved,
)
from bot.domain.networks import network_label

# Thread lines quote customer and agent text; a few thousand characters is plenty to read in a
# thread and stays far below Slack's 40,000-character message limit.
QUOTE_LIMIT = 3000
REASON_LIMIT = 300

_NOT_ALLOWED = {
    ActionId.CLAIM: "claim cases",
    ActionId.RELEASE: "release a case someone else owns",
    ActionId.REPLY: "reply to cases",
    ActionId.RESOLVE: "resolve cases",
    ActionId.REOPEN: "reopen cases",
    ActionId.SHARE_DIGEST: "share the digest",
}


def thread_line(event: CaseEvent) -> str:
    """Say in the card's thread what `event` did to the case."""
    match event:
        case Claimed(user):
            return claimed_line(user)
        case Released(owner, by):
            return released_line(owner, by=by)
        case Resolved(user, reason, note):
            return resolved_line(user, describe_resolution(reason, note))
        case Reopened(user):
            return reopened_line(user)
        case ReplySent(user, text, url, network, claimed):
            return reply_line(
                user, text, url, network_label=network_label(network), claimed=claimed
            )
        case ReplyNotPosted(user, reason, network):
            return reply_not_posted_line(user, reason, network_label=network_label(network))


def claimed_line(user: str) -> str:
    """Say in the thread that `user` claimed the case."""
    return f":raising_hand: {user_mention(user)} claimed this."


def released_line(user: str, by: str | None = None) -> str:
    """Say that `user` no longer owns the case, and who released it when it was someone else."""
    if by is None or by == user:
        return f":leftwards_arrow_with_hook: {user_mention(user)} released this; it is unclaimed."
    return (
        f":leftwards_arrow_with_hook: {user_mention(by)} released this from "
        f"{user_mention(user)}; it is unclaimed."
    )


def resolved_line(user: str, reason: str | None = None) -> str:
    """Say that `user` resolved the case, with the reason when one was given."""
    described = describe_resolution(reason, None)
    why = f": {escape_mrkdwn(truncate(described, REASON_LIMIT))}" if described else "."
    return f":white_check_mark: {user_mention(user)} resolved this{why}"


def reopened_line(user: str) -> str:
    """Say that `user` reopened the case."""
    return f":arrows_counterclockwise: {user_mention(user)} reopened this."


def reply_line(
    user: str, text: str, url: str | None, *, network_label: str = "X", claimed: bool = False
) -> str:
    """Post the reply an agent sent, quoted, with a link to it on the network.

    `claimed`: the reply also made `user` the owner, which the thread says like any claim.
    """
    where = f"\n{link(url, f'View on {network_label}')}" if url else ""
    claim = f"{claimed_line(user)}\n" if claimed else ""
    return (
        f"{claim}:outbox_tray: {user_mention(user)} replied on {network_label}:\n"
        f"{_quoted(text)}{where}"
    )


def reply_not_posted_line(user: str, reason: str, *, network_label: str = "X") -> str:
    """Say in the thread that a reply whose outcome was in doubt did not go out."""
    return (
        f":warning: {user_mention(user)}'s reply did not go out on {network_label}: "
        f"{escape_mrkdwn(reason)} The case is still waiting for a reply."
    )


def reply_sent_notice(handle: str, url: str | None, *, late: bool, network_label: str = "X") -> str:
    """Tell an agent (by DM) that their reply went out, when the modal could not say it."""
    when = " after all" if late else ""
    where = f" {link(url, f'View it on {network_label}')}." if url else ""
    return (
        f":white_check_mark: Your reply to @{escape_mrkdwn(handle)} went out on "
        f"{network_label}{when}.{where}"
    )


def reply_not_sent_notice(handle: str, reason: str, text: str, *, resend_safe: bool) -> str:
    """Tell an agent (by DM) why their reply did not go out, with its text so nothing is lost."""
    then = (
        " Nothing was posted, so sending it again is safe: press *Reply* on the card and paste it."
        if resend_safe
        else ""
    )
    return (
        f":warning: Your reply to @{escape_mrkdwn(handle)} did not go out. "
        f"{escape_mrkdwn(reason)}{then}\nYour text:\n{_quoted(text)}"
    )


def follow_up_line(handle: str, text: str, url: str | None, *, network_label: str = "X") -> str:
    """Post a customer's follow-up message in the card's thread."""
    where = f"\n{link(url, f'View on {network_label}')}" if url else ""
    return f":speech_balloon: @{escape_mrkdwn(handle)} wrote again:\n{_quoted(text)}{where}"


def not_allowed_text(action: ActionId | str) -> str:
    """Tell a user, ephemerally, that they may not do `action`."""
    try:
        what = _NOT_ALLOWED[ActionId(action)]
    except (ValueError, KeyError):
        what = escape_mrkdwn(str(action))
    return f"Sorry, you are not allowed to {what}. Ask a Carebot lead if you need to."


def _quoted(text: str) -> str:
    return (
        quote(truncate(escape_mrkdwn(text.strip()), QUOTE_LIMIT)) if text.strip() else ">_(empty)_"
    )
