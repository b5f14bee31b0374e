"""Thread lines rendered from the services' domain events."""

from __future__ import annotations

import pytest

from bot.blocks.lines import (
    claimed_line,
    released_line,
    reopened_line,
    reply_line,
    reply_not_posted_line,
    resolved_line,
    thread_line,
)
from bot.domain import (
    CaseEvent,
    Claimed,
    Released,
    Reopened,
    ReplyNotPosted,
    ReplySent,
    Resolved,
    ResolveReason,
)


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (Claimed("U0AMY"), claimed_line("U0AMY")),
        (Released("U0AMY"), released_line("U0AMY")),
        (Released("U0AMY", by="U0LEAD"), released_line("U0AMY", by="U0LEAD")),
        (Reopened("U0AMY"), reopened_line("U0AMY")),
        (Resolved("U0AMY"), resolved_line("U0AMY")),
        (Resolved("U0AMY", ResolveReason.SPAM, "a bot"), resolved_line("U0AMY", "Spam: a bot")),
        (Resolved("U0AMY", None, "<!here>"), resolved_line("U0AMY", "<!here>")),
        (
            ReplySent("U0AMY", "on its way", "https://bsky.app/x", "bluesky", claimed=True),
            reply_line(
                "U0AMY", "on its way", "https://bsky.app/x", network_label="Bluesky", claimed=True
            ),
        ),
        (
            ReplyNotPosted("U0AMY", "X has no trace of it.", "x"),
            reply_not_posted_line("U0AMY", "X has no trace of it.", network_label="X"),
        ),
    ],
)
def test_every_event_reads_as_its_thread_line(event: CaseEvent, line: str) -> None:
    assert thread_line(event) == line


def test_a_resolution_names_the_reason_and_escapes_the_note() -> None:
    line = thread_line(Resolved("U0AMY", ResolveReason.HANDLED_ELSEWHERE, "<!channel> by email"))
    assert line == (
        ":white_check_mark: <@U0AMY> resolved this: Handled elsewhere: &lt;!channel&gt; by email"
    )
