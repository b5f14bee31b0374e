"""What a card and its thread show once a customer's post is gone (deleted, hidden, past
retention, erased on request) or edited: the card keeps its case, never the removed words."""

from __future__ import annotations

from bot.blocks.lines import follow_up_line
from bot.blocks.text import escape_mrkdwn

_NOTES = {
    "deleted": "The author deleted this post.",
    "protected": "The author made their posts private, so this post is no longer shown.",
    "suspended": "The author's account is suspended, so this post is no longer shown.",
    "withheld": "This post is withheld, so it is no longer shown.",
    "retention": "The text of this post was removed after the retention period.",
    "forgotten": "This post was erased at the author's request.",
}


def removed_note(reason: str) -> str:
    """Return the mrkdwn shown in place of a post whose text was purged for `reason`."""
    note = _NOTES.get(reason, "This post is no longer available.")
    return f":wastebasket: _{note}_"


def thread_line(
    handle: str,
    text: str,
    url: str | None,
    *,
    removed: str | None,
    edited: bool,
    network_label: str = "X",
) -> str:
    """Return a follow-up's thread echo as the post stands now (purged, edited, or as posted)."""
    if removed is not None:
        return f":speech_balloon: @{escape_mrkdwn(handle)} wrote again: {removed_note(removed)}"
    line = follow_up_line(handle, text, url, network_label=network_label)
    return f"{line}\n_(edited)_" if edited else line
