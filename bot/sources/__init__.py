"""Source adapters: one module per network behind the `Source` protocol (ARCHITECTURE rule 8).

Adding a network touches this package and nothing in handlers or storage.
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
