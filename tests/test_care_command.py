"""`/care` parsing is pure: every subcommand, the default period, and usage naming the bad part."""

from __future__ import annotations

import pytest

from bot.blocks.codecs import ShareButton
from bot.digest import Period
from handlers.commands import CareRequest, CareUsage, Subcommand, parse_care
from handlers.parsing import StaleRequest


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", CareRequest(Subcommand.HELP)),
        ("   ", CareRequest(Subcommand.HELP)),
        ("help", CareRequest(Subcommand.HELP)),
        ("HELP me", CareRequest(Subcommand.HELP)),
        ("digest", CareRequest(Subcommand.DIGEST, Period.DAY)),
        ("digest today", CareRequest(Subcommand.DIGEST, Period.TODAY)),
        ("digest 24h", CareRequest(Subcommand.DIGEST, Period.DAY)),
        ("  Digest   7D ", CareRequest(Subcommand.DIGEST, Period.WEEK)),
        ("digest 30d", CareRequest(Subcommand.DIGEST, Period.MONTH)),
        ("queue", CareRequest(Subcommand.QUEUE)),
        ("mine", CareRequest(Subcommand.MINE)),
    ],
)
def test_valid_commands(text: str, expected: CareRequest) -> None:
    assert parse_care(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("bogus", "unknown command 'bogus'"),
        ("digest fortnight", "unknown period 'fortnight'; use today, 24h, 7d or 30d"),
        ("digest yesterday", "unknown period 'yesterday'; use today, 24h, 7d or 30d"),
        ("digest 7d please", "unexpected 'please' after the period"),
        ("queue all", "'/care queue' takes nothing after it, but got 'all'"),
        ("mine now", "'/care mine' takes nothing after it, but got 'now'"),
    ],
)
def test_bad_input_names_the_bad_part(text: str, problem: str) -> None:
    with pytest.raises(CareUsage) as caught:
        parse_care(text)
    assert caught.value.problem == problem
    assert "/care queue" in caught.value.user_message


@pytest.mark.parametrize("value", [None, "", "7d", "week@1", "7d@soon", "7d@-5"])
def test_a_tampered_share_value_is_stale(value: object) -> None:
    with pytest.raises(StaleRequest):
        ShareButton.parse(value)
