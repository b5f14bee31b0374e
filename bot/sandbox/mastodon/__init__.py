"""The sandbox Mastodon: a local stand-in for the Mastodon REST and streaming API Carebot uses.

`FakeMastodon` (`fake`: the server, its middleware, REST routes and notification stream) keeps
accounts, statuses and notifications in memory with the fault knobs (`state`); `models` renders
them as Mastodon does. Content is HTML, as on a real instance.
"""

from bot.sandbox.mastodon.fake import FakeMastodon
from bot.sandbox.mastodon.models import MastoAccount, MastoStatus

__all__ = ["FakeMastodon", "MastoAccount", "MastoStatus"]
