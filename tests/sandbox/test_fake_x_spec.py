"""The sandbox X answers as X API v2 documents: every body checked against X's OpenAPI document,
text escaped as X escapes it, long posts, edits, references, hidden authors, errors and limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import tweepy
import tweepy.asynchronous

from bot.sandbox.x import FakeX
from bot.sources.x import x_api_rewrite
from tests.sandbox.x_openapi import problem_body_issues, problems, response_schema_ref

BEARER = {"Authorization": "Bearer sandbox-bearer"}
OAUTH = {
    "Authorization": 'OAuth oauth_consumer_key="sandbox-key", oauth_token="sandbox-access", '
    'oauth_signature="c2lnbmVk", oauth_signature_method="HMAC-SHA1", oauth_version="1.0"'
}
ALL_FIELDS = {
    "expansions": "author_id,referenced_tweets.id",
    "tweet.fields": "created_at,conversation_id,referenced_tweets,author_id,in_reply_to_user_id,"
    "entities,note_tweet,edit_history_tweet_ids,withheld",
    "user.fields": "username,name,verified,public_metrics,protected,withheld",
}


@pytest.fixture
async def x() -> AsyncIterator[FakeX]:
    async with FakeX() as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(
    http: aiohttp.ClientSession, x: FakeX, path: str, **params: str
) -> tuple[int, dict[str, Any], dict[str, str]]:
    async with http.get(x.api_url + path, headers=BEARER, params=params) as response:
        return response.status, await response.json(), dict(response.headers)


def populate(x: FakeX) -> dict[str, Any]:
    """Store one post of every kind Carebot meets."""
    plain = x.add_mention("@acmehelp AT&T <fiber> & more >:( #outage https://acme.example/s/1")
    long_text = "@acmehelp " + "my order never came & nobody answers. " * 12
    long_post = x.add_mention(long_text.strip(), author_handle="verbose")
    brand_post = x.add_brand_post("We're looking into the outage & will update here.")
    quote = x.add_quote(brand_post, "Still broken <3 hours later", author_handle="quoter")
    reply = x.add_mention("@acmehelp any news?", in_reply_to=plain)
    retweet = x.add_retweet(plain, author_handle="fan")
    edited = x.add_mention("@acmehelp my ordr is late", author_handle="typo")
    latest = x.edit(edited, "@acmehelp my order is late")
    locked = x.add_mention("@acmehelp private complaint", author_handle="locked")
    x.protect("locked")
    banned = x.add_mention("@acmehelp spam spam", author_handle="banned")
    x.suspend("banned")
    withheld = x.add_mention("@acmehelp contested claim", author_handle="legal")
    x.withhold(withheld, "DE", "FR")
    gone = x.add_mention("@acmehelp I'll delete this", author_handle="regret")
    x.delete(gone)
    return {
        "plain": plain,
        "long": long_post,
        "quote": quote,
        "reply": reply,
        "retweet": retweet,
        "edited": edited,
        "latest": latest,
        "locked": locked,
        "banned": banned,
        "withheld": withheld,
        "gone": gone,
    }


async def test_mentions_timeline_matches_the_spec(x: FakeX, http: aiohttp.ClientSession) -> None:
    posts = populate(x)
    status, body, headers = await get(http, x, f"/2/users/{x.brand.id}/mentions", **ALL_FIELDS)
    assert status == 200
    assert problems(body, response_schema_ref("/2/users/{id}/mentions", "get", 200)) == []
    ids = {t["id"] for t in body["data"]}
    # Suspended and protected authors' posts are not listed; deleted posts are gone.
    assert not ids & {posts["locked"].id, posts["banned"].id, posts["gone"].id}
    assert {posts["plain"].id, posts["long"].id, posts["quote"].id, posts["reply"].id} <= ids
    assert {"x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"} <= {
        h.lower() for h in headers
    }


async def test_text_is_escaped_and_long_posts_carry_a_note(
    x: FakeX, http: aiohttp.ClientSession
) -> None:
    posts = populate(x)
    ids = ",".join(posts[k].id for k in ("plain", "long", "quote", "latest", "withheld"))
    status, body, _ = await get(http, x, "/2/tweets", ids=ids, **ALL_FIELDS)
    assert status == 200
    assert problems(body, response_schema_ref("/2/tweets", "get", 200)) == []
    by_id = {t["id"]: t for t in body["data"]}
    plain = by_id[posts["plain"].id]
    assert plain["text"] == (
        "@acmehelp AT&amp;T &lt;fiber&gt; &amp; more &gt;:( #outage https://acme.example/s/1"
    )
    assert plain["entities"]["mentions"][0] == {
        "start": 0,
        "end": 9,
        "username": "acmehelp",
        "id": x.brand.id,
    }
    assert plain["entities"]["hashtags"][0]["tag"] == "outage"
    assert plain["entities"]["urls"][0]["expanded_url"] == "https://acme.example/s/1"
    long_post = by_id[posts["long"].id]
    assert long_post["text"].endswith("…")
    assert "note_tweet" in long_post
    assert long_post["note_tweet"]["text"] == posts["long"].text.replace("&", "&amp;")
    assert by_id[posts["quote"].id]["referenced_tweets"] == [
        {"type": "quoted", "id": posts["quote"].referenced_tweets[0][1]}
    ]
    latest = by_id[posts["latest"].id]
    assert latest["edit_history_tweet_ids"] == [posts["edited"].id, posts["latest"].id]
    assert by_id[posts["withheld"].id]["withheld"] == {
        "copyright": False,
        "country_codes": ["DE", "FR"],
    }
    assert {t["id"] for t in body["includes"]["tweets"]} >= {posts["quote"].referenced_tweets[0][1]}


async def test_lookup_reports_hidden_posts_in_errors(x: FakeX, http: aiohttp.ClientSession) -> None:
    posts = populate(x)
    wanted = [posts[k].id for k in ("plain", "edited", "locked", "banned", "gone")]
    status, body, _ = await get(http, x, "/2/tweets", ids=",".join(wanted), **ALL_FIELDS)
    assert status == 200
    assert problems(body, response_schema_ref("/2/tweets", "get", 200)) == []
    assert [t["id"] for t in body["data"]] == [posts["plain"].id, posts["edited"].id]
    # The original of an edited post still answers, naming its newer version last.
    assert body["data"][1]["edit_history_tweet_ids"][-1] == posts["latest"].id
    errors = {e["resource_id"]: e for e in body["errors"]}
    assert errors[posts["gone"].id]["type"].endswith("/resource-not-found")
    assert errors[posts["banned"].id]["detail"].startswith("User has been suspended")
    assert errors[posts["locked"].id]["type"].endswith("/not-authorized-for-resource")
    assert errors[posts["locked"].id]["section"] == "data"
    status, single, _ = await get(http, x, f"/2/tweets/{posts['gone'].id}")
    assert status == 200
    assert problems(single, response_schema_ref("/2/tweets/{id}", "get", 200)) == []


async def test_lookup_takes_at_most_100_ids(x: FakeX, http: aiohttp.ClientSession) -> None:
    status, body, _ = await get(http, x, "/2/tweets", ids=",".join(str(i) for i in range(1, 102)))
    assert status == 400
    assert problem_body_issues(body) == []
    assert body["errors"][0]["parameters"] == {"ids": [",".join(str(i) for i in range(1, 102))]}


async def test_errors_and_created_post_match_the_spec(
    x: FakeX, http: aiohttp.ClientSession
) -> None:
    silent = x.add_mention("no brand here")
    cases = [
        (None, {"text": "hi", "reply": {"in_reply_to_tweet_id": silent.id}}, 403),
        (None, {"text": "x" * 281}, 400),
        ({"Authorization": "Bearer wrong"}, {"text": "hi"}, 401),
    ]
    for headers, payload, expected in cases:
        async with http.post(
            x.api_url + "/2/tweets", headers=headers or OAUTH, json=payload
        ) as response:
            assert response.status == expected
            assert problem_body_issues(await response.json()) == []
    x.fail_next("/2/users/", 429)
    status, body, headers = await get(http, x, f"/2/users/{x.brand.id}/mentions")
    assert status == 429
    assert problem_body_issues(body) == []
    assert headers["x-rate-limit-remaining"] == "0"
    mention = x.add_mention("@acmehelp fix it & fast")
    payload = {"text": "On it & sorry <3", "reply": {"in_reply_to_tweet_id": mention.id}}
    async with http.post(x.api_url + "/2/tweets", headers=OAUTH, json=payload) as response:
        assert response.status == 201
        created = await response.json()
    assert problems(created, response_schema_ref("/2/tweets", "post", 201)) == []
    assert created["data"]["text"] == "On it &amp; sorry &lt;3"


async def test_tweepy_reads_the_fake_as_it_reads_x(x: FakeX) -> None:
    """tweepy (the real client) parses edits, notes and hidden-post errors from the fake."""
    posts = populate(x)
    # Pointed at the fake the way Carebot does it: api.twitter.com rewritten to the fake.
    async with aiohttp.ClientSession(middlewares=(x_api_rewrite(x.api_url),)) as session:
        client = tweepy.asynchronous.AsyncClient(bearer_token="sandbox-bearer")
        client.session = session
        response = await client.get_tweets(
            [posts["long"].id, posts["edited"].id, posts["gone"].id],
            tweet_fields=["note_tweet", "edit_history_tweet_ids", "entities"],
        )
    tweets = {t.id: t for t in response.data}
    assert tweets[int(posts["long"].id)].note_tweet["text"].startswith("@acmehelp my order")
    history = tweets[int(posts["edited"].id)].edit_history_tweet_ids
    assert [str(i) for i in history] == [posts["edited"].id, posts["latest"].id]
    assert response.errors[0]["resource_id"] == posts["gone"].id


def test_the_spec_check_has_teeth() -> None:
    """A body X would never send is caught: wrong types, a missing field, a mistyped problem."""
    ref = response_schema_ref("/2/tweets", "get", 200)
    assert problems({"data": [{"id": "1", "text": 5, "edit_history_tweet_ids": []}]}, ref)
    bad_problem = {"errors": [{"title": "Not Found Error", "type": "about:nothing"}]}
    assert problems(bad_problem, ref) == ["errors/0: unknown problem type 'about:nothing'"]
    missing = {
        "errors": [{"title": "x", "type": "https://api.twitter.com/2/problems/resource-not-found"}]
    }
    assert any("resource_id" in issue for issue in problems(missing, ref))
