"""Escaping, truncation and the Slack tokens in `bot.blocks.text`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.blocks.ids import ActionId
from bot.blocks.lines import (
    claimed_line,
    follow_up_line,
    not_allowed_text,
    released_line,
    reopened_line,
    reply_line,
    resolved_line,
)
from bot.blocks.text import (
    compact_number,
    escape_mrkdwn,
    link,
    quote,
    slack_date,
    truncate,
    user_mention,
)
from bot.errors import AlreadyClaimed

ENTITY = re.compile(r"&(?:amp|lt|gt);")


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def test_escape_neutralises_slack_control_sequences() -> None:
    hostile = "<!channel> <@U123> &lt; <https://evil|x>"
    assert escape_mrkdwn(hostile) == (
        "&lt;!channel&gt; &lt;@U123&gt; &amp;lt; &lt;https://evil|x&gt;"
    )


@given(st.text())
def test_escape_leaves_no_angle_brackets_and_round_trips(text: str) -> None:
    escaped = escape_mrkdwn(text)
    assert "<" not in escaped
    assert ">" not in escaped
    assert unescape(escaped) == text


@given(st.text(), st.integers(min_value=0, max_value=300), st.sampled_from(["…", "...", ""]))
def test_truncate_is_short_and_a_clean_prefix(text: str, limit: int, suffix: str) -> None:
    result = truncate(text, limit, suffix=suffix)
    assert len(result) <= limit
    if result != text:
        kept = result.removesuffix(suffix) if len(suffix) < limit else result
        assert text.startswith(kept)


@given(st.text(alphabet=st.sampled_from("ab <>&é\n"), max_size=400), st.integers(2, 120))
def test_truncate_never_splits_an_escape_entity(raw: str, limit: int) -> None:
    result = truncate(escape_mrkdwn(raw), limit)
    kept = result.removesuffix("…")
    assert "&" not in ENTITY.sub("", kept)
    assert "<" not in result


def test_truncate_keeps_short_text_unchanged() -> None:
    assert truncate("hello", 5) == "hello"


def test_truncate_prefers_a_word_boundary() -> None:
    assert truncate("the quick brown fox jumps", 18) == "the quick brown…"


def test_truncate_backs_off_an_entity_at_the_cut() -> None:
    assert truncate("abcdefgh&amp;xyz", 12) == "abcdefgh…"


def test_truncate_keeps_joined_emoji_whole() -> None:
    family = "\U0001f469\u200d\U0001f4bb"
    assert truncate("ab" + family + "cdef", 5) == "ab…"


def test_truncate_keeps_flags_whole() -> None:
    flags = "\U0001f1eb\U0001f1f7\U0001f1e9\U0001f1ea"
    assert truncate(flags + "xyz", 4) == "\U0001f1eb\U0001f1f7…"


def test_truncate_keeps_combining_marks_with_their_letter() -> None:
    assert truncate("abcde\u0301fgh", 6) == "abcd…"


def test_truncate_without_room_for_the_suffix_returns_a_bare_prefix() -> None:
    assert truncate("abcdef", 1) == "a"
    assert truncate("abcdef", 0) == ""


def test_truncate_rejects_negative_limits() -> None:
    with pytest.raises(ValueError, match="negative"):
        truncate("abc", -1)


def test_slack_date_token_has_epoch_format_and_utc_fallback() -> None:
    moment = datetime(2024, 5, 1, 14, 3, tzinfo=UTC)
    assert slack_date(moment) == (
        "<!date^1714572180^{date_short_pretty} at {time}|Wed 1 May 2024 at 14:03 UTC>"
    )


def test_slack_date_converts_other_zones_and_takes_naive_as_utc() -> None:
    plus_two = datetime(2024, 5, 1, 16, 3, tzinfo=timezone(timedelta(hours=2)))
    naive = datetime(2024, 5, 1, 14, 3)  # noqa: DTZ001 - SQLite hands back naive UTC values
    assert slack_date(plus_two) == slack_date(naive)
    assert slack_date(plus_two, "{time}", fallback="2 & <3>").endswith("|2 &amp; &lt;3&gt;>")


def test_slack_date_rejects_formats_that_break_the_token() -> None:
    with pytest.raises(ValueError, match="must not contain"):
        slack_date(datetime(2024, 5, 1, tzinfo=UTC), "{time}|x")


def test_user_mention_accepts_ids_and_refuses_anything_else() -> None:
    assert user_mention("U0123ABC") == "<@U0123ABC>"
    assert user_mention("W42XYZ") == "<@W42XYZ>"
    for bad in ["", "U", "!channel", "U12> <!here", "u123"]:
        with pytest.raises(ValueError, match="not a Slack user id"):
            user_mention(bad)


def test_link_escapes_the_label_and_encodes_breaking_url_characters() -> None:
    assert link("https://x.com/a?b=1&c=2", "<b> & co") == (
        "<https://x.com/a?b=1&amp;c=2|&lt;b&gt; &amp; co>"
    )
    assert link("https://x.com/a b|c>d", "x") == "<https://x.com/a%20b%7Cc%3Ed|x>"


def test_link_renders_non_web_urls_as_plain_text() -> None:
    assert link("javascript:alert(1)", "click <me>") == "click &lt;me&gt;"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0, "0"),
        (999, "999"),
        (1000, "1k"),
        (12_400, "12.4k"),
        (99_960, "100k"),
        (999_950, "1M"),
        (1_234_567, "1.2M"),
        (5_000_000_000, "5B"),
    ],
)
def test_compact_number(value: int, shown: str) -> None:
    assert compact_number(value) == shown


def test_quote_prefixes_every_line() -> None:
    assert quote("a\nb") == ">a\n>b"


# Thread lines and ephemeral texts (`bot.blocks.lines`) are short mrkdwn strings built on the
# helpers above; they are checked here with them.


def test_ownership_lines_mention_people() -> None:
    assert claimed_line("U0AGENT1") == ":raising_hand: <@U0AGENT1> claimed this."
    assert "<@U0AGENT1> released this" in released_line("U0AGENT1")
    assert "<@U0AGENT1> released this" in released_line("U0AGENT1", by="U0AGENT1")
    assert "<@U0LEAD01> released this from <@U0AGENT1>" in released_line("U0AGENT1", by="U0LEAD01")
    assert reopened_line("U0AGENT1") == ":arrows_counterclockwise: <@U0AGENT1> reopened this."


def test_resolved_line_labels_known_reasons_and_escapes_free_text() -> None:
    assert resolved_line("U0AGENT1", "handled_elsewhere").endswith(
        "resolved this: Handled elsewhere"
    )
    assert resolved_line("U0AGENT1", None).endswith("resolved this.")
    assert resolved_line("U0AGENT1", "<!channel>").endswith(": &lt;!channel&gt;")


def test_reply_and_follow_up_lines_quote_escaped_text_with_a_link() -> None:
    reply = reply_line("U0AGENT1", "Hi <@U9>\nsecond", "https://x.com/brand/status/2")
    assert reply == (
        ":outbox_tray: <@U0AGENT1> replied on X:\n>Hi &lt;@U9&gt;\n>second\n"
        "<https://x.com/brand/status/2|View on X>"
    )
    # A reply on a case nobody owned made its author the owner; the thread says so first.
    claiming = reply_line("U0AGENT1", "On it", None, claimed=True)
    assert claiming == (
        ":raising_hand: <@U0AGENT1> claimed this.\n:outbox_tray: <@U0AGENT1> replied on X:\n>On it"
    )
    follow = follow_up_line("eve<!here>", "<!channel> still broken", None)
    assert "<!here>" not in follow
    assert "<!channel>" not in follow
    assert follow.endswith(">&lt;!channel&gt; still broken")
    assert len(follow_up_line("dana", "x" * 50_000, None)) < 3200


def test_ephemeral_texts() -> None:
    assert AlreadyClaimed("U0AGENT1").user_message.startswith("<@U0AGENT1> already owns this case.")
    assert "release a case someone else owns" in not_allowed_text(ActionId.RELEASE)
    assert "claim cases" in not_allowed_text("case_claim")
    assert "&lt;b&gt;" in not_allowed_text("do <b>")
