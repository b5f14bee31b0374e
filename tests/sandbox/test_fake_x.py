"""FakeX speaks X API v2 over loopback HTTP: auth, timelines, posting, errors and knobs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from bot.sandbox.x import FakeX

BEARER = {"Authorization": "Bearer sandbox-bearer"}
OAUTH = {
    "Authorization": 'OAuth oauth_consumer_key="sandbox-key", oauth_token="sandbox-access", '
    'oauth_signature="c2lnbmVk", oauth_signature_method="HMAC-SHA1", oauth_version="1.0"'
}
UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
FIELDS = {
    "expansions": "author_id,referenced_tweets.id",
    "tweet.fields": "created_at,conversation_id,referenced_tweets,author_id",
    "user.fields": "username,name,verified,public_metrics",
}


@pytest.fixture
async def x() -> AsyncIterator[FakeX]:
    async with FakeX() as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    x: FakeX,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> tuple[int, Any, CIMultiDictProxy[str]]:
    async with http.request(method, x.api_url + path, headers=headers, **kwargs) as response:
        assert response.content_type == "application/json"
        return response.status, await response.json(), response.headers


def mentions_path(x: FakeX) -> str:
    return f"/2/users/{x.brand.id}/mentions"


async def test_api_url_is_loopback(x: FakeX) -> None:
    assert x.api_url.startswith("http://127.0.0.1:")


async def test_users_me_needs_user_context(x: FakeX, http: aiohttp.ClientSession) -> None:
    status, body, _ = await call(http, x, "GET", "/2/users/me", headers=BEARER)
    assert status == 403
    assert body["title"] == "Unsupported Authentication"
    status, body, _ = await call(http, x, "GET", "/2/users/me")
    assert (status, body) == (401, UNAUTHORIZED)
    status, body, _ = await call(
        http, x, "GET", "/2/users/me", headers=OAUTH, params={"user.fields": "verified"}
    )
    assert status == 200
    assert body == {
        "data": {
            "id": "1000000000000000001",
            "name": "Acme Support",
            "username": "acmehelp",
            "verified": False,
        }
    }


async def test_unknown_token_is_401(x: FakeX, http: aiohttp.ClientSession) -> None:
    headers = {"Authorization": "Bearer nope"}
    status, body, _ = await call(http, x, "GET", mentions_path(x), headers=headers)
    assert (status, body) == (401, UNAUTHORIZED)


async def test_empty_timeline_has_no_data_key(x: FakeX, http: aiohttp.ClientSession) -> None:
    status, body, _ = await call(http, x, "GET", mentions_path(x), headers=BEARER)
    assert (status, body) == (200, {"meta": {"result_count": 0}})


async def test_mentions_newest_first_with_includes(x: FakeX, http: aiohttp.ClientSession) -> None:
    first = x.add_mention(author_handle="ann", followers=9000, verified=True)
    reply = x.add_mention("@acmehelp still waiting", author_handle="ann", in_reply_to=first)
    x.add_mention("no brand here", author_handle="bob")
    status, body, _ = await call(http, x, "GET", mentions_path(x), headers=OAUTH, params=FIELDS)
    assert status == 200
    assert [t["id"] for t in body["data"]] == [reply.id, first.id]
    assert int(reply.id) > int(first.id)
    newest = body["data"][0]
    assert newest["conversation_id"] == first.id
    assert newest["referenced_tweets"] == [{"type": "replied_to", "id": first.id}]
    assert newest["edit_history_tweet_ids"] == [reply.id]
    datetime.strptime(newest["created_at"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert newest["created_at"].endswith("Z")
    (user,) = body["includes"]["users"]
    assert user["username"] == "ann"
    assert user["verified"] is True
    assert user["public_metrics"]["followers_count"] == 9000
    assert [t["id"] for t in body["includes"]["tweets"]] == [first.id]
    assert body["meta"] == {"result_count": 2, "newest_id": reply.id, "oldest_id": first.id}


async def test_pagination_since_id_and_times(x: FakeX, http: aiohttp.ClientSession) -> None:
    old = x.add_mention(created_at=datetime.now(UTC) - timedelta(days=2))
    tweets = x.add_mentions(12)
    params = {"max_results": "5", "since_id": old.id}
    seen: list[str] = []
    while True:
        _, body, _ = await call(http, x, "GET", mentions_path(x), headers=BEARER, params=params)
        seen += [t["id"] for t in body["data"]]
        if "next_token" not in body["meta"]:
            break
        params["pagination_token"] = body["meta"]["next_token"]
    assert seen == [t.id for t in reversed(tweets)]
    start = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    _, body, _ = await call(
        http, x, "GET", mentions_path(x), headers=BEARER, params={"start_time": start}
    )
    assert old.id not in [t["id"] for t in body["data"]]
    assert body["meta"]["result_count"] == 10


@pytest.mark.parametrize("value", ["4", "101", "ten"])
async def test_max_results_out_of_range_is_400(
    x: FakeX, http: aiohttp.ClientSession, value: str
) -> None:
    status, body, _ = await call(
        http, x, "GET", mentions_path(x), headers=BEARER, params={"max_results": value}
    )
    assert status == 400
    assert body["title"] == "Invalid Request"
    assert "max_results" in body["errors"][0]["message"]


async def test_retweets_and_brand_posts_appear_in_mentions(
    x: FakeX, http: aiohttp.ClientSession
) -> None:
    original = x.add_mention()
    retweet = x.add_retweet(original)
    own = x.add_brand_post("Hello from @acmehelp")
    _, body, _ = await call(http, x, "GET", mentions_path(x), headers=BEARER, params=FIELDS)
    ids = [t["id"] for t in body["data"]]
    assert ids == [own.id, retweet.id, original.id]
    assert body["data"][1]["text"].startswith("RT @customer: ")
    assert body["data"][1]["referenced_tweets"] == [{"type": "retweeted", "id": original.id}]
    assert body["data"][0]["author_id"] == x.brand.id


async def test_post_tweet_replies_and_records(x: FakeX, http: aiohttp.ClientSession) -> None:
    mention = x.add_mention()
    payload = {"text": "Sorry! Check your DMs.", "reply": {"in_reply_to_tweet_id": mention.id}}
    status, body, _ = await call(http, x, "POST", "/2/tweets", headers=OAUTH, json=payload)
    assert status == 201
    new_id = body["data"]["id"]
    assert body["data"] == {
        "id": new_id,
        "text": "Sorry! Check your DMs.",
        "edit_history_tweet_ids": [new_id],
    }
    assert x.posted_replies == [
        {"id": new_id, "text": "Sorry! Check your DMs.", "in_reply_to_tweet_id": mention.id}
    ]
    status, body, _ = await call(http, x, "GET", f"/2/tweets/{new_id}", headers=BEARER)
    assert status == 200
    assert body["data"]["text"] == "Sorry! Check your DMs."
    assert x.tweets[new_id].conversation_id == mention.id


async def test_post_tweet_needs_oauth(x: FakeX, http: aiohttp.ClientSession) -> None:
    status, body, _ = await call(http, x, "POST", "/2/tweets", json={"text": "hi"})
    assert (status, body) == (401, UNAUTHORIZED)
    wrong = {"Authorization": OAUTH["Authorization"].replace("sandbox-access", "other")}
    status, _, _ = await call(http, x, "POST", "/2/tweets", headers=wrong, json={"text": "hi"})
    assert status == 401
    assert x.posted_replies == []


async def test_post_tweet_rejections(x: FakeX, http: aiohttp.ClientSession) -> None:
    silent = x.add_mention("just talking about stuff")
    too_long = {"text": "x" * 281}
    status, body, _ = await call(http, x, "POST", "/2/tweets", headers=OAUTH, json=too_long)
    assert status == 400
    assert "too long" in body["errors"][0]["message"]
    not_mentioned = {"text": "hi", "reply": {"in_reply_to_tweet_id": silent.id}}
    status, body, _ = await call(http, x, "POST", "/2/tweets", headers=OAUTH, json=not_mentioned)
    assert status == 403
    # X's rule for self-serve apps since 23 February 2026.
    assert body["detail"] == (
        "You can only reply to or quote posts where you are mentioned or are the author."
    )
    assert body["title"] == "Forbidden"
    unknown = {"text": "hi", "reply": {"in_reply_to_tweet_id": "42"}}
    status, body, _ = await call(http, x, "POST", "/2/tweets", headers=OAUTH, json=unknown)
    assert status == 400
    assert x.posted_replies == []


async def test_unknown_tweet_is_200_with_errors(x: FakeX, http: aiohttp.ClientSession) -> None:
    status, body, _ = await call(http, x, "GET", "/2/tweets/123", headers=BEARER)
    assert status == 200
    assert body["errors"][0]["title"] == "Not Found Error"


async def test_rate_limit_headers_on_every_response(x: FakeX, http: aiohttp.ClientSession) -> None:
    _, _, first = await call(http, x, "GET", mentions_path(x), headers=BEARER)
    _, _, second = await call(http, x, "GET", mentions_path(x))
    assert first["x-rate-limit-limit"] == "450"
    assert int(first["x-rate-limit-remaining"]) == 449
    assert int(second["x-rate-limit-remaining"]) == 448
    assert int(first["x-rate-limit-reset"]) > time.time()


async def test_fail_next_429(x: FakeX, http: aiohttp.ClientSession) -> None:
    x.fail_next("/2/users/", 429, reset_in=120)
    status, body, headers = await call(http, x, "GET", mentions_path(x), headers=BEARER)
    assert status == 429
    assert body == {
        "title": "Too Many Requests",
        "detail": "Too Many Requests",
        "type": "about:blank",
        "status": 429,
    }
    assert headers["x-rate-limit-remaining"] == "0"
    assert abs(int(headers["x-rate-limit-reset"]) - (time.time() + 120)) <= 2
    status, _, _ = await call(http, x, "GET", mentions_path(x), headers=BEARER)
    assert status == 200


@pytest.mark.parametrize("code", [401, 403, 500, 503])
async def test_fail_next_other_statuses(x: FakeX, http: aiohttp.ClientSession, code: int) -> None:
    x.fail_next("/2/tweets", code, count=2)
    for _ in range(2):
        status, body, _ = await call(
            http, x, "POST", "/2/tweets", headers=OAUTH, json={"text": "a"}
        )
        assert (status, body["status"], body["type"]) == (code, code, "about:blank")
    status, _, _ = await call(http, x, "POST", "/2/tweets", headers=OAUTH, json={"text": "a"})
    assert status == 201


async def test_revoke_and_restore_credentials(x: FakeX, http: aiohttp.ClientSession) -> None:
    x.revoke_credentials()
    status, body, _ = await call(http, x, "GET", mentions_path(x), headers=BEARER)
    assert (status, body) == (401, UNAUTHORIZED)
    x.restore_credentials()
    status, _, _ = await call(http, x, "GET", mentions_path(x), headers=BEARER)
    assert status == 200


async def test_outage(x: FakeX, http: aiohttp.ClientSession) -> None:
    x.outage()
    status, body, _ = await call(http, x, "GET", mentions_path(x), headers=BEARER)
    assert (status, body["title"]) == (503, "Service Unavailable")
    x.end_outage()
    status, _, _ = await call(http, x, "GET", mentions_path(x), headers=BEARER)
    assert status == 200


async def test_unknown_route_is_json_404(x: FakeX, http: aiohttp.ClientSession) -> None:
    status, body, _ = await call(http, x, "GET", "/1.1/statuses/home_timeline.json")
    assert status == 404
    assert body["errors"][0]["code"] == 34


async def test_records_requests(x: FakeX, http: aiohttp.ClientSession) -> None:
    await call(http, x, "GET", mentions_path(x), headers=BEARER, params={"max_results": "5"})
    await call(http, x, "POST", "/2/tweets", headers=OAUTH, json={"text": "hello"})
    assert x.mention_requests == 1
    get, post = x.requests
    assert (get.method, get.path, get.query, get.status) == (
        "GET",
        mentions_path(x),
        {"max_results": "5"},
        200,
    )
    assert get.headers["Authorization"] == "Bearer sandbox-bearer"
    assert (post.method, post.json, post.status) == ("POST", {"text": "hello"}, 201)


async def test_add_mentions_in_bulk_gives_unique_ordered_ids(
    x: FakeX, http: aiohttp.ClientSession
) -> None:
    tweets = x.add_mentions(10_000)
    assert len({t.id for t in tweets}) == 10_000
    assert [int(t.id) for t in tweets] == sorted(int(t.id) for t in tweets)
    params = {"max_results": "100"}
    _, body, _ = await call(http, x, "GET", mentions_path(x), headers=BEARER, params=params)
    assert body["meta"]["result_count"] == 100
    assert body["data"][0]["id"] == tweets[-1].id


async def test_clock_is_injected() -> None:
    frozen = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    async with FakeX(clock=lambda: frozen) as fake:
        tweet = fake.add_mention()
    assert tweet.created_at == frozen


# -- faults that leave a client unsure, and the brand's own timeline ---------------------------


def reply_to(mention_id: str, text: str = "On it!") -> dict[str, Any]:
    return {"text": text, "reply": {"in_reply_to_tweet_id": mention_id}}


async def test_fail_after_storing_stores_then_answers_5xx(
    x: FakeX, http: aiohttp.ClientSession
) -> None:
    mention = x.add_mention()
    x.fail_after_storing(503)
    status, body, headers = await call(
        http, x, "POST", "/2/tweets", headers=OAUTH, json=reply_to(mention.id)
    )
    assert status == 503
    assert body["status"] == 503
    assert "x-rate-limit-remaining" in headers
    assert [p["text"] for p in x.posted_replies] == ["On it!"]
    status, _, _ = await call(
        http, x, "POST", "/2/tweets", headers=OAUTH, json=reply_to(mention.id, "Again")
    )
    assert status == 201  # one fault, then normal service


async def test_stall_after_storing_stores_before_the_client_gives_up(
    x: FakeX, http: aiohttp.ClientSession
) -> None:
    mention = x.add_mention()
    x.stall_after_storing(5)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await call(http, x, "POST", "/2/tweets", headers=OAUTH, json=reply_to(mention.id))
    assert [p["text"] for p in x.posted_replies] == ["On it!"]


async def test_stall_before_storing_stores_nothing(x: FakeX, http: aiohttp.ClientSession) -> None:
    mention = x.add_mention()
    x.stall_before_storing(0.2, status=503)
    status, _, _ = await call(
        http, x, "POST", "/2/tweets", headers=OAUTH, json=reply_to(mention.id)
    )
    assert status == 503
    assert x.posted_replies == []


async def test_user_timeline_lists_own_posts_newest_first(
    x: FakeX, http: aiohttp.ClientSession
) -> None:
    mention = x.add_mention()
    first = x.add_brand_post("Hello", in_reply_to=mention)
    second = x.add_brand_post("News")
    path = f"/2/users/{x.brand.id}/tweets"
    query = {"tweet.fields": "referenced_tweets,created_at", "max_results": "5"}
    status, body, headers = await call(http, x, "GET", path, headers=BEARER, params=query)
    assert status == 200
    assert [t["id"] for t in body["data"]] == [second.id, first.id]
    assert body["data"][1]["referenced_tweets"] == [{"type": "replied_to", "id": mention.id}]
    assert body["meta"] == {"result_count": 2, "newest_id": second.id, "oldest_id": first.id}
    assert "x-rate-limit-limit" in headers
    status, body, _ = await call(
        http, x, "GET", path, headers=BEARER, params={**query, "exclude": "replies"}
    )
    assert [t["id"] for t in body["data"]] == [second.id]
    x.timeline_delay = 60
    status, body, _ = await call(http, x, "GET", path, headers=BEARER, params=query)
    assert body == {"meta": {"result_count": 0}}
