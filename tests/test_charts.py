"""The digest's charts as a PNG: its size, every panel's axes labelled, empty periods said in
words, and drawing off the event loop."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.charts import DPI, PANEL_PX, WIDTH_PX, chart_size, digest_figure, render_png
from bot.digest import Digest, Period, period_window

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 29, 15, 20, tzinfo=UTC)
EDGES = (timedelta(minutes=15), timedelta(minutes=30), timedelta(hours=1), timedelta(hours=2))


def digest(period: Period, *, busy: bool) -> Digest:
    window = period_window(period, now=NOW, zone=BERLIN)
    buckets = len(window.edges) - 1
    volume = [(i * 7) % 5 for i in range(buckets)] if busy else [0] * buckets
    return Digest(
        window=window,
        now=NOW,
        received=sum(volume),
        by_network={"x": sum(volume)},
        by_priority={"normal": sum(volume)},
        replied=0,
        resolved_without_reply=0,
        still_open=0,
        median_response=None,
        p90_response=None,
        sla_due=0,
        sla_met=0,
        out_of_hours=None,
        agents=[],
        oldest_open=[],
        volume=volume,
        sla_by_bucket=[(n, n // 2) for n in volume],
        response_target=timedelta(hours=1),
        response_edges=EDGES,
        response_histogram=[5, 3, 2, 1, 1] if busy else [0, 0, 0, 0, 0],
    )


def png_size(data: bytes) -> tuple[int, int]:
    """Read width and height from the PNG's IHDR chunk, checking the signature first."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize(
    ("period", "panels"), [(Period.DAY, 2), (Period.TODAY, 2), (Period.WEEK, 3), (Period.MONTH, 3)]
)
@pytest.mark.parametrize("busy", [True, False])
def test_the_png_decodes_to_one_panel_per_chart(period: Period, panels: int, busy: bool) -> None:
    shown = digest(period, busy=busy)
    assert chart_size(shown) == (WIDTH_PX, PANEL_PX * panels)
    assert png_size(render_png(shown)) == (WIDTH_PX, PANEL_PX * panels)


def test_every_axis_is_labelled() -> None:
    figure = digest_figure(digest(Period.WEEK, busy=True))
    axes = figure.get_axes()
    assert [ax.get_title(loc="left") for ax in axes] == [
        "Mentions per day",
        "Time to first response",
        "SLA attainment per day",
    ]
    for ax in axes:
        assert ax.get_xlabel(), ax.get_title(loc="left")
        assert ax.get_ylabel(), ax.get_title(loc="left")
        assert [t.get_text() for t in ax.get_xticklabels()], ax.get_title(loc="left")
    volume, responses, sla = axes
    assert volume.get_xlabel() == "day (Europe/Berlin)"
    assert "target 1h" in responses.get_xlabel()
    assert [t.get_text() for t in responses.get_xticklabels()] == [
        "≤ 15m",
        "≤ 30m",
        "≤ 1h",
        "≤ 2h",
        "> 2h",
    ]
    assert sla.get_ylabel() == "% answered in time"
    assert figure.get_dpi() == DPI


def test_hourly_volume_names_days_on_its_axis() -> None:
    (volume, _) = digest_figure(digest(Period.DAY, busy=True)).get_axes()
    labels = [t.get_text() for t in volume.get_xticklabels()]
    assert labels[0] == "16:00\nSat 28 Nov"
    assert "00:00\nSun 29 Nov" in labels
    assert volume.get_title(loc="left") == "Mentions per hour"


def test_an_empty_period_says_so_in_every_panel() -> None:
    figure = digest_figure(digest(Period.MONTH, busy=False))
    notes = [[t.get_text() for t in ax.texts] for ax in figure.get_axes()]
    assert notes == [
        ["No mentions in this period"],
        ["No first responses in this period"],
        ["No first responses owed in this period"],
    ]
    busy = digest_figure(digest(Period.MONTH, busy=True))
    assert all(not ax.texts for ax in busy.get_axes())
