"""Source adapters: one module per network behind the `Source` protocol (ARCHITECTURE rule 8).

Adding a network touches nothing in handlers/ or storage/ (a saved login goes in the existing
`source_sessions` table), but more than this package: its
adapter here (`bot/sources/<network>.py`), its entry in `registry.py` and, for `carebot check`,
`network_checks.py`; its variables on the one `Settings` (`bot/settings.py`, with what a half
configuration lacks in `bot/network_settings.py`), the README's configuration table and
`.env.example`; its name and card icon (`MARKS`, `bot/domain/networks.py`); a fake of
its API in `bot/sandbox/` wired into `bot/sandbox/stack.py` and `server.py` for the tests and the
demo; its client library in `pyproject.toml`; and, if it pushes mentions, `bot/streams.py`.
"""

from bot.sources.base import (
    Author,
    FetchResult,
    Mention,
    SendOutcome,
    SendStatus,
    SentReply,
    Source,
    SourceLimits,
    send_outcome,
)

__all__ = [
    "Author",
    "FetchResult",
    "Mention",
    "SendOutcome",
    "SendStatus",
    "SentReply",
    "Source",
    "SourceLimits",
    "send_outcome",
]
