"""The digest, queue and Home builders as data: figures shown, text escaped, limits respected,
and every payload valid Block Kit by the sandbox's validator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.blocks.codecs import ShareButton
from bot.blocks.digest import bar, bar_chart, digest_message, share_value
from bot.blocks.home import home_view
from bot.blocks.ids import ActionId
from bot.blocks.lists import care_usage, case_line, queue_message
from bot.digest import period_window
from bot.domain import (
    AgentFigures,
    CaseList,
    Digest,
    HomeData,
    OpenCaseRow,
    Period,
    QueueCounts,
    ResolveReason,
)
from bot.sandbox.blockkit import validate_message_blocks, validate_view

NOW = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def row(n: int, **values: object) -> OpenCaseRow:
    fields: dict[str, object] = {
        "id": n,
        "network": "x",
        "author_handle": f"customer{n}",
        "text": f"where is order {n}",
        "priority": "normal",
        "owner": None,
        "posted_at": NOW - timedelta(hours=n),
        "due_at": NOW + timedelta(minutes=n - 3),
        "slack_channel": "C0CARE",
        "card_ts": f"1700000000.{n:06d}",
        "url": f"https://x.com/c/status/{n}",
    }
    fields.update(values)
    return OpenCaseRow(**fields)  # type: ignore[arg-type]


def digest(**values: object) -> Digest:
    window = period_window(Period.WEEK, now=NOW, zone=BERLIN)
    fields: dict[str, object] = {
        "window": window,
        "now": NOW,
        "received": 12,
        "by_network": {"x": 10, "bluesky": 2},
        "by_priority": {"normal": 9, "urgent": 3},
        "replied": 8,
        "resolved_without_reply": 1,
        "still_open": 3,
        "median_response": timedelta(minutes=12),
        "p90_response": timedelta(hours=1, minutes=5),
        "sla_due": 9,
        "sla_met": 6,
        "out_of_hours": 2,
        "agents": [AgentFigures(f"U0AGENT{i:02d}", 3, 2, timedelta(minutes=9)) for i in range(20)],
        "oldest_open": [row(1, author_handle="<!channel>", text="a & b <script>")],
        "volume": [0, 1, 4, 0, 2, 3, 2],
    }
    fields.update(values)
    return Digest(**fields)  # type: ignore[arg-type]


def test_bars_scale_to_the_biggest_count() -> None:
    assert bar(0, 10) == ""
    assert bar(10, 10) == "█" * 20
    assert bar(5, 10) == "█" * 10
    assert bar(1, 1000) == "▏"  # never invisible when there was something
    chart = bar_chart(["Mon 23", "Tue 24"], [4, 2]).splitlines()
    assert chart[0] == "Mon 23 " + "█" * 20 + " 4"
    assert chart[1].startswith("Tue 24 " + "█" * 10)


def test_the_digest_shows_every_figure_and_escapes_social_text() -> None:
    text, blocks = digest_message(digest(), shareable=True)
    shown = str(blocks)
    assert "12 received" in text
    for part in (
        "*Received*\\n12\\nX 10 · Bluesky 2\\nurgent 3 · normal 9",
        "*Replied*\\n8",
        "*Resolved without reply*\\n1",
        "*Still open*\\n3",
        "median 12m · 90th percentile 1h 05m",
        "67% (6 of 9 in time)\\n3 breaches",
        "*Answered out of business hours*\\n2",
        "<@U0AGENT00>: claimed 3 · replied 2 · median 9m",
        "_and 5 more_",
        "https://slack.com/archives/C0CARE/p1700000000000001|card",
        "Mon 23",
    ):
        assert part in shown, part
    assert "<!channel>" not in shown
    assert "&lt;!channel&gt;" in shown
    assert "a &amp; b &lt;script&gt;" in shown
    assert ActionId.SHARE_DIGEST in shown
    assert validate_message_blocks(blocks) == []


def test_the_digest_groups_resolved_cases_by_reason() -> None:
    by_reason = {None: 1, ResolveReason.SPAM: 4, ResolveReason.PRAISE: 2}
    _, blocks = digest_message(digest(resolved_by_reason=by_reason))
    assert "*Resolved, by reason*\\nSpam 4 · Praise 2 · no reason 1" in str(blocks)
    assert validate_message_blocks(blocks) == []
    _, quiet = digest_message(digest())
    assert "*Resolved, by reason*\\nnone resolved" in str(quiet)


def test_the_shared_copy_has_no_button_and_credits_the_sharer() -> None:
    _, blocks = digest_message(digest(), shared_by="U0LEAD")
    assert ActionId.SHARE_DIGEST not in str(blocks)
    assert "Shared by <@U0LEAD>" in str(blocks)


def test_the_share_value_pins_the_window_exactly() -> None:
    d = digest(window=period_window(Period.TODAY, now=NOW.replace(microsecond=123456), zone=BERLIN))
    parsed = ShareButton.parse(share_value(d))
    period, at = parsed.period, parsed.at
    assert period == Period.TODAY
    assert at == d.window.end


def test_a_quiet_24_7_period() -> None:
    _, blocks = digest_message(
        digest(
            received=0,
            by_network={},
            by_priority={},
            replied=0,
            median_response=None,
            p90_response=None,
            sla_due=0,
            sla_met=0,
            out_of_hours=None,
            agents=[],
            oldest_open=[],
            volume=[0] * 7,
        )
    )
    shown = str(blocks)
    assert "no responses owed yet" in shown
    assert "n/a (open 24/7)" in shown
    assert "median n/a" in shown
    assert validate_message_blocks(blocks) == []


def test_a_long_queue_is_cut_within_block_kit_limits_with_a_count() -> None:
    cases = CaseList([row(n, owner="U0AGENT1" if n % 2 else None) for n in range(60)], 300, NOW)
    text, blocks = queue_message(cases)
    assert len(blocks) <= 50
    assert "…and 255 more open cases." in str(blocks)
    assert "300 open" in text
    assert "*overdue*" in str(blocks)
    assert validate_message_blocks(blocks) == []


def test_the_home_view_is_valid() -> None:
    data = HomeData(
        user="U0AGENT1",
        mine=CaseList([row(n, owner="U0AGENT1") for n in range(25)], 25, NOW),
        counts=QueueCounts(open=30, unclaimed=4, overdue=2, urgent=1),
        sla_due=4,
        sla_met=3,
        now=NOW,
        zone=BERLIN,
    )
    view = home_view(data)
    assert view["type"] == "home"
    assert "75% (3 of 4 first responses in time)" in str(view)
    assert validate_view(view) == []


def test_usage_names_and_escapes_the_bad_part() -> None:
    text = care_usage("unknown command '<!here>'")
    assert text.startswith(":warning: unknown command '&lt;!here&gt;'")
    assert "/care digest [today|24h|7d|30d]" in text


def test_a_removed_post_shows_why_in_list_lines() -> None:
    line = case_line(row(1, text="", content_removed="deleted"), now=NOW)
    assert "The author deleted this post." in line
    assert "(no text)" not in line


def test_the_home_view_breaks_the_queue_down_by_network() -> None:
    data = HomeData(
        user="U0AGENT1",
        mine=CaseList([], 0, NOW),
        counts=QueueCounts(open=6, unclaimed=6, overdue=0, urgent=0),
        sla_due=0,
        sla_met=0,
        now=NOW,
        open_by_network={"x": 1, "mastodon": 2, "bluesky": 3},
    )
    view = home_view(data)
    assert "Open by network: Bluesky 3 · Mastodon 2 · X 1" in str(view)
    assert validate_view(view) == []
