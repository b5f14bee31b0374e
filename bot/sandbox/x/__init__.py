"""The sandbox X: a local stand-in for the parts of X API v2 Carebot uses, over loopback HTTP.

`FakeX` (`fake`: the server and its endpoints; `gate`: the middleware, rate limits and
credential checks every request passes first) keeps users and posts in memory
(`state`, which also holds the fault knobs) and answers with X's JSON shapes, error bodies and
rate-limit headers (`models`). Text is stored as typed and served as X serves it: HTML-escaped,
with `entities`, `note_tweet` past 280 and edit history; deleted posts and protected, suspended or
withheld authors are answered the way X answers them. Shapes are checked against X's OpenAPI
document in tests/data/x-openapi.
"""

from bot.sandbox.x.fake import FakeX
from bot.sandbox.x.models import FakeTweet, FakeUser, PostedReply, RecordedRequest

__all__ = ["FakeTweet", "FakeUser", "FakeX", "PostedReply", "RecordedRequest"]
