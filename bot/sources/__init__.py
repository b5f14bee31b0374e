"""Source adapters: one module per network behind the `Source` protocol (ARCHITECTURE rule 8).

Adding a network touches this package and nothing in handlers or storage.
"""

from bot.sources.base import (
    Author,
    FetchResult,
    Mention,
    SentReply,
    Source,
    SourceLimits,
)

__all__ = ["Author", "FetchResult", "Mention", "SentReply", "Source", "SourceLimits"]
