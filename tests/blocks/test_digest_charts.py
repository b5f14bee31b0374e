# ruff: noqa: RUF001 - the charts draw stretches with an en dash, as people write them
"""The digest's text charts: volume with quiet stretches folded and days named, the time to first
response as a distribution against the target, and SLA attainment per day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.blocks.digest import digest_blocks, response_chart, sla_chart, volume_chart
from bot.digest import Digest, Period, period_window

BERLIN = ZoneInfo("Europe/Berlin")
# 16:20 in Berlin, so "the last 24 hours" starts at 16:20 the day before.
NOW = datetime(2026, 11, 29, 15, 20, tzinfo=UTC)


def digest(period: Period = Period.WEEK, **values: object) -> Digest:
    window = period_window(period, now=NOW, zone=BERLIN)
    buckets = len(window.edges) - 1
    fields: dict[str, object] = {
        "window": window,
        "now": NOW,
        "received": 0,
        "by_network": {},
        "by_priority": {},
        "replied": 0,
        "resolved_without_reply": 0,
        "still_open": 0,
        "median_response": None,
        "p90_response": None,
        "sla_due": 0,
        "sla_met": 0,
        "out_of_hours": None,
        "agents": [],
        "oldest_open": [],
        "volume": [0] * buckets,
        "sla_by_bucket": [(0, 0)] * buckets,
    }
    fields.update(values)
    return Digest(**fields)  # type: ignore[arg-type]


def test_hourly_volume_names_the_days_and_folds_quiet_hours() -> None:
    window = period_window(Period.DAY, now=NOW, zone=BERLIN)
    counts = [0] * (len(window.edges) - 1)
    counts[0], counts[10], counts[11], counts[15] = 2, 5, 1, 3
    lines = volume_chart(window, counts).splitlines()
    assert lines == [
        "Sat 28 Nov",
        "  16:00 " + "█" * 8 + " " * 13 + "2",
        "  17:00–00:00 quiet",
        "Sun 29 Nov",
        "  00:00–02:00 quiet",
        "  02:00 " + "█" * 20 + " 5",
        "  03:00 " + "█" * 4 + " " * 17 + "1",
        "  04:00–07:00 quiet",
        "  07:00 " + "█" * 12 + " " * 9 + "3",
        "  08:00–16:20 quiet",  # the last stretch ends now
    ]
    assert not any(line.endswith(" 0") for line in lines)  # no wall of zeros


def test_a_single_quiet_hour_stays_a_row_and_an_empty_day_is_one_line() -> None:
    window = period_window(Period.DAY, now=NOW, zone=BERLIN)
    counts = [1] * (len(window.edges) - 1)
    counts[3] = 0
    lines = volume_chart(window, counts).splitlines()
    assert "  19:00                      0" in lines
    assert len(lines) == 2 + 25  # two day lines and every hour
    empty = volume_chart(window, [0] * len(counts)).splitlines()
    assert empty == ["Sat 28 Nov", "  16:00–00:00 quiet", "Sun 29 Nov", "  00:00–16:20 quiet"]


def test_daily_volume_folds_quiet_days() -> None:
    window = period_window(Period.WEEK, now=NOW, zone=BERLIN)
    lines = volume_chart(window, [0, 0, 0, 4, 0, 2, 3]).splitlines()
    assert lines[0] == "Mon 23 Nov – Wed 25 Nov quiet"
    assert lines[1] == "Thu 26 Nov " + "█" * 20 + " 4"
    assert lines[2] == "Fri 27 Nov " + " " * 20 + " 0"
    assert len(lines) == 5


def test_time_to_first_response_is_a_distribution_against_the_target() -> None:
    shown = digest(
        response_target=timedelta(hours=1),
        response_edges=(
            timedelta(minutes=15),
            timedelta(minutes=30),
            timedelta(hours=1),
            timedelta(hours=2),
        ),
        response_histogram=[8, 3, 1, 0, 2],
    )
    lines = response_chart(shown)
    assert lines is not None
    assert lines.splitlines() == [
        "≤ 15m " + "█" * 20 + " 8",
        "≤ 30m " + "███████▌" + " " * 12 + " 3",
        "≤ 1h  " + "██▌" + " " * 17 + " 1  ← target",
        "≤ 2h  " + " " * 20 + " 0",
        "> 2h  " + "█████" + " " * 15 + " 2",
    ]
    # Nothing answered yet: no chart rather than a chart of zeros.
    assert response_chart(digest(response_histogram=[0, 0, 0, 0, 0])) is None
    assert response_chart(digest()) is None


def test_sla_attainment_per_day_for_week_and_month_digests() -> None:
    rows = [(0, 0), (0, 0), (0, 0), (4, 3), (0, 0), (2, 2), (5, 0)]
    chart = sla_chart(digest(sla_by_bucket=rows))
    assert chart is not None
    assert chart.splitlines() == [
        "Mon 23 Nov – Wed 25 Nov nothing owed",
        "Thu 26 Nov " + "███████████████" + " " * 5 + " 75% (3 of 4)",
        "Fri 27 Nov nothing owed",
        "Sat 28 Nov " + "█" * 20 + " 100% (2 of 2)",
        "Sun 29 Nov " + " " * 20 + " 0% (0 of 5)",
    ]
    month = digest(Period.MONTH, sla_by_bucket=[(1, 1)] * 30)
    month_chart = sla_chart(month)
    assert month_chart is not None
    assert len(month_chart.splitlines()) == 30
    # Hourly digests have one day: attainment is in the fields, not a chart; an empty week too.
    assert sla_chart(digest(Period.DAY, sla_by_bucket=[(1, 1)] * 25)) is None
    assert sla_chart(digest()) is None


def test_the_digest_carries_all_three_charts_and_an_empty_one_reads_well() -> None:
    busy = digest(
        volume=[0, 0, 0, 4, 0, 2, 3],
        sla_by_bucket=[(0, 0), (0, 0), (0, 0), (4, 3), (0, 0), (2, 2), (5, 0)],
        response_target=timedelta(hours=1),
        response_edges=(timedelta(minutes=15), timedelta(hours=1)),
        response_histogram=[3, 1, 1],
    )
    shown = str(digest_blocks(busy))
    assert "*Mentions per day*" in shown
    assert "*Time to first response* (cases answered, by how long it took)" in shown
    assert "*SLA attainment per day*" in shown
    quiet = str(digest_blocks(digest()))
    assert "Mon 23 Nov – Sun 29 Nov quiet" in quiet
    assert "Time to first response* (" not in quiet
    assert "SLA attainment per day" not in quiet
    assert datetime(2026, 11, 23, tzinfo=UTC) < NOW
