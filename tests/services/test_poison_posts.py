"""Poison posts are quarantined, on SQLite and PostgreSQL: a post X sends that cannot be read
(no created_at, a non-numeric id) or stored (a value the database refuses) is logged once with
its id, counted in the source's health, skipped, and the cursor moves past it; everyone else's
posts become cases. Unicode that breaks naive code (ZWJ sequences, RTL overrides, combining
marks, the astral plane, lone surrogates in JSON) is stored and shown as the network sent it."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.blocks.card import render_card
from bot.ingest import IngestService, clean_text
from bot.poller import Poller
from bot.sandbox.stack import free_port
from bot.sources import Author, Mention
from bot.sources.x import XSource
from storage import intake
from storage.engine import SessionFactory
from storage.mapping import case_value
from storage.models import Case, SourceCursor
from tests.conftest import FakeClock
from tests.services.test_ingest import T0, mention, service

BRAND = "1000"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 7 code points


class RawX:
    """A loopback server that answers the mentions timeline with exactly the JSON it is given."""

    def __init__(self) -> None:
        self.pages: list[str] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/2/users/{id}/mentions", self._mentions)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _mentions(self, request: web.Request) -> web.Response:
        body = self.pages.pop(0) if self.pages else json.dumps({"meta": {"result_count": 0}})
        return web.Response(text=body, content_type="application/json")


def tweet(tweet_id: Any, *, text: str = "@acme help", **fields: Any) -> dict[str, Any]:
    body = {
        "id": tweet_id,
        "text": text,
        "author_id": "42",
        "conversation_id": str(tweet_id),
        "created_at": "2026-11-23T11:00:00.000Z",
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def page(tweets: list[dict[str, Any]], **extra: Any) -> str:
    users = [{"id": "42", "username": "dana", "name": "Dana"}]
    body: dict[str, Any] = {"data": tweets, "includes": {"users": users}, "meta": {}}
    body.update(extra)
    return json.dumps(body)


@pytest.fixture
async def raw_x() -> AsyncIterator[RawX]:
    server = RawX()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def x_source(raw_x: RawX) -> AsyncIterator[XSource]:
    source = XSource(
        api_url=raw_x.url,
        bearer_token="bearer",
        api_key=None,
        api_secret=None,
        access_token=None,
        access_token_secret=None,
        user_id=BRAND,
    )
    await source.start()
    try:
        yield source
    finally:
        await source.close()


def poller(source: XSource, sessions: SessionFactory, clock: FakeClock, told: list[str]) -> Poller:
    async def notify(text: str) -> None:
        told.append(text)

    return Poller(
        source=source,
        ingest=service(sessions, clock),
        sessions=sessions,
        clock=clock,
        notify=notify,
        backfill=timedelta(days=1),
        interval=timedelta(seconds=1),
        holder="test",
    )


async def cursor_row(sessions: SessionFactory) -> SourceCursor:
    async with sessions() as s:
        row = await intake.get_cursor(s, source="x")
    assert row is not None
    return row


async def cases(sessions: SessionFactory) -> list[Case]:
    async with sessions() as s:
        return list(await s.scalars(select(Case).order_by(Case.id)))


@pytest.mark.parametrize(
    ("poison", "why"),
    [
        (tweet("7", created_at=None), "without a time"),
        (tweet("seven"), "unreadable id"),
        (tweet("7", created_at="yesterday"), "unreadable time"),
        (tweet("7", referenced_tweets="not a list", author_id=["42"]), "odd field types"),
    ],
)
async def test_an_unreadable_post_is_skipped_counted_and_logged_once(
    raw_x: RawX,
    x_source: XSource,
    sessions: SessionFactory,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    poison: dict[str, Any],
    why: str,
) -> None:
    raw_x.pages.append(page([tweet("9"), poison, tweet("5")]))
    told: list[str] = []
    bot = poller(x_source, sessions, clock, told)
    with caplog.at_level(logging.ERROR, logger="bot.poller"):
        await bot.run_once()
        stored = await cases(sessions)
        assert [c.external_id for c in stored] == ["5", "9"]
        row = await cursor_row(sessions)
        assert row.cursor == "9"
        # The same poison sent again (X may repeat a page) is not logged or counted again.
        raw_x.pages.append(page([poison, tweet("10")]))
        await bot.run_once()
    row = await cursor_row(sessions)
    assert row.health == "ok"
    # Nothing alarming: the only line is the first poll's summary of overdue history.
    assert [t for t in told if not t.startswith(":inbox_tray: First look at")] == []
    assert row.quarantined == 1, why
    assert row.quarantined_last is not None
    assert str(poison["id"]) in row.quarantined_last
    skipped = [r for r in caplog.records if "skipped post" in r.getMessage()]
    assert len(skipped) == 1, why
    assert str(poison["id"]) in skipped[0].getMessage()


async def test_includes_null_does_not_block_the_page(
    raw_x: RawX, x_source: XSource, sessions: SessionFactory, clock: FakeClock
) -> None:
    raw_x.pages.append(page([tweet("11"), tweet("12")], includes=None))
    await poller(x_source, sessions, clock, []).run_once()
    stored = await cases(sessions)
    assert [c.external_id for c in stored] == ["11", "12"]
    assert (await cursor_row(sessions)).cursor == "12"


async def test_lone_surrogates_in_json_are_stored_as_replacement_characters(
    raw_x: RawX, x_source: XSource, sessions: SessionFactory, clock: FakeClock
) -> None:
    body = page([tweet("21", text="@acme broken \ud83d pair \ud83d\ude00 ok")])
    assert "\\ud83d" in body  # json.dumps escapes them, as X's JSON would
    raw_x.pages.append(body)
    await poller(x_source, sessions, clock, []).run_once()
    (case,) = await cases(sessions)
    assert case.text == "@acme broken \ufffd pair \U0001f600 ok"


TORTURE = {
    "zwj": FAMILY * 30,
    "rtl": "\u202eevil\u202c \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
    "combining": "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319" * 20,
    "astral": "\U0001d54f\U0001f9d1\u200d\U0001f680\U00020000\U0010fffd",
    "nul": "before\x00after",
}


@pytest.mark.parametrize("kind", sorted(TORTURE))
async def test_unicode_torture_round_trips_on_both_databases(
    sessions: SessionFactory, clock: FakeClock, kind: str
) -> None:
    text = TORTURE[kind]
    ingest = service(sessions, clock)
    post = Mention(
        network="x",
        external_id="31",
        conversation_id="31",
        author=Author(external_id="42", handle=f"h{kind}", name=text),
        text=f"@acme {text}",
        url="https://x.com/i/status/31",
        posted_at=T0,
    )
    result = await ingest.ingest(source_key="x", mentions=[post], cursor="31")
    assert result.new_cases == 1
    assert result.rejected == ()
    (case,) = await cases(sessions)
    assert case.author_name == clean_text(text)
    assert case.text == clean_text(f"@acme {text}")
    assert "\x00" not in case.text
    card = render_card(case_value(case), now=clock())
    assert card.as_kwargs()["blocks"]


async def test_an_author_name_of_thirty_family_emoji_is_stored(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    name = FAMILY * 30
    assert len(name) == 210
    post = Mention(
        network="x",
        external_id="41",
        conversation_id="41",
        author=Author(external_id="42", handle="fam", name=name),
        text="@acme hi",
        url="https://x.com/fam/status/41",
        posted_at=T0,
    )
    others = [mention("40"), mention("42", author="eve")]
    result = await service(sessions, clock).ingest(
        source_key="x", mentions=[others[0], post, others[1]], cursor="42"
    )
    assert result.new_cases == 3
    assert (await cases(sessions))[1].author_name == name


async def test_a_post_the_database_refuses_is_quarantined_and_the_rest_stored(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    ingest: IngestService = service(sessions, clock)
    refused = mention("52", author="huge", followers=2**70)  # no integer column takes it
    result = await ingest.ingest(
        source_key="x", mentions=[mention("51"), refused, mention("53", author="eve")], cursor="53"
    )
    assert result.new_cases == 2
    assert [r.external_id for r in result.rejected] == ["52"]
    assert [c.external_id for c in await cases(sessions)] == ["51", "53"]
    assert (await cursor_row(sessions)).cursor == "53"
