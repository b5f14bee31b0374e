"""The sandbox Bluesky: a local stand-in for the XRPC methods of a PDS (with its AppView behind
it) that Carebot uses, served over loopback HTTP.

`FakeBluesky` (`fake`: the server, its middleware and XRPC methods) keeps actors, posts and
notifications in memory with the fault knobs (`state`); `models` has the records and the wire
encodings. Errors are `{"error", "message"}` bodies and every answer carries `ratelimit-*`
headers. Knobs inject 429s, outages, revoked app passwords and expired tokens.
"""

from bot.sandbox.bluesky.fake import FakeBluesky
from bot.sandbox.bluesky.models import BskyActor, BskyPost

__all__ = ["BskyActor", "BskyPost", "FakeBluesky"]
