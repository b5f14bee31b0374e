"""The digest's charts as a picture: mentions per hour or day, the time to first response as a
distribution against the target, and (for 7d and 30d) SLA attainment per day, drawn with
matplotlib's Agg backend into one PNG, and posted to Slack with its current upload flow
(`files.getUploadURLExternal`, the upload, `files.completeUploadExternal`, as slack_sdk's
`files_upload_v2` does them). Drawing is CPU work: `post_charts` runs it in a worker thread.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot.digest import Bucket, Digest
from bot.durations import format_duration

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

WIDTH_PX = 1200
PANEL_PX = 300
DPI = 100
IN_TIME = "#2bac76"
LATE = "#e01e5a"
VOLUME = "#1264a3"
MUTED = "#616061"


def chart_size(digest: Digest) -> tuple[int, int]:
    """Return the PNG's (width, height) in pixels: one panel per chart the digest has."""
    return WIDTH_PX, PANEL_PX * len(_panels(digest))


def _panels(digest: Digest) -> list[str]:
    panels = ["volume", "responses"]
    if digest.window.bucket == Bucket.DAY:
        panels.append("sla")
    return panels


def digest_figure(digest: Digest) -> Figure:
    """Draw the digest's charts on one figure, a panel each, every axis labelled."""
    from matplotlib.figure import Figure  # heavy: loaded in the worker thread

    panels = _panels(digest)
    width, height = chart_size(digest)
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    axes = figure.subplots(len(panels), 1, squeeze=False)[:, 0]
    figure.suptitle(f"Care digest: {digest.period.heading}", fontsize=15, fontweight="bold")
    for ax, panel in zip(axes, panels, strict=True):
        if panel == "volume":
            _volume(ax, digest)
        elif panel == "responses":
            _responses(ax, digest)
        else:
            _sla(ax, digest)
        ax.spines[["top", "right"]].set_visible(False)
    return figure


def render_png(digest: Digest) -> bytes:
    """Return the digest's charts as PNG bytes (blocking: run it off the event loop)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = digest_figure(digest)
    FigureCanvasAgg(figure)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def _empty(ax: Axes, note: str) -> None:
    """Say in the middle of an empty panel why it has no bars."""
    ax.text(
        0.5, 0.5, note, transform=ax.transAxes, color=MUTED, ha="center", va="center", fontsize=14
    )


def _integer_counts(ax: Axes) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _volume(ax: Axes, digest: Digest) -> None:
    window = digest.window
    hourly = window.bucket == Bucket.HOUR
    local = [edge.astimezone(window.zone) for edge in window.edges[:-1]]
    positions = list(range(len(local)))
    ax.bar(positions, digest.volume, color=VOLUME, width=0.8)
    if hourly:
        # Every third hour, and the day's name at its first hour and at midnight.
        ticks = [i for i, t in enumerate(local) if t.hour % 3 == 0 or i == 0]
        labels = [
            f"{local[i]:%H:00}\n{local[i]:%a %d %b}"
            if i == 0 or local[i].hour == 0
            else f"{local[i]:%H:00}"
            for i in ticks
        ]
    else:
        step = 1 if len(local) <= 10 else 3
        ticks = positions[::step]
        labels = [f"{local[i]:%a}\n{local[i]:%d %b}" for i in ticks]
    ax.set_xticks(ticks, labels)
    per = "hour" if hourly else "day"
    ax.set_title(f"Mentions per {per}", loc="left")
    ax.set_xlabel(f"{per} ({window.zone.key})")
    ax.set_ylabel("mentions")
    _integer_counts(ax)
    if not any(digest.volume):
        ax.set_ylim(0, 1)
        _empty(ax, "No mentions in this period")


def _responses(ax: Axes, digest: Digest) -> None:
    edges = digest.response_edges
    counts = digest.response_histogram or [0] * (len(edges) + 1)
    target = digest.response_target
    labels = [f"≤ {_short(edge)}" for edge in edges] + (
        [f"> {_short(edges[-1])}"] if edges else ["all"]
    )
    colors = [
        IN_TIME if target is not None and edge is not None and edge <= target else LATE
        for edge in (*edges, None)
    ]
    ax.bar(range(len(counts)), counts, color=colors[: len(counts)], width=0.7)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_title("Time to first response", loc="left")
    goal = f"; target {_short(target)}" if target is not None else ""
    ax.set_xlabel(f"time from the post to the first reply{goal}")
    ax.set_ylabel("cases")
    _integer_counts(ax)
    if not sum(counts):
        ax.set_ylim(0, 1)
        _empty(ax, "No first responses in this period")


def _sla(ax: Axes, digest: Digest) -> None:
    window = digest.window
    local = [edge.astimezone(window.zone) for edge in window.edges[:-1]]
    rows = digest.sla_by_bucket or [(0, 0)] * len(local)
    shares = [100 * met / due if due else math.nan for due, met in rows]
    colors = [IN_TIME if share >= 100 else LATE for share in shares]
    ax.bar(range(len(shares)), shares, color=colors, width=0.8)
    ax.axhline(100, color=MUTED, linewidth=0.8, linestyle="--")
    step = 1 if len(local) <= 10 else 3
    ticks = list(range(len(local)))[::step]
    ax.set_xticks(ticks, [f"{local[i]:%a}\n{local[i]:%d %b}" for i in ticks])
    ax.set_ylim(0, 105)
    ax.set_title("SLA attainment per day", loc="left")
    ax.set_xlabel(f"day ({window.zone.key}); days with nothing owed are left blank")
    ax.set_ylabel("% answered in time")
    if all(math.isnan(share) for share in shares):
        _empty(ax, "No first responses owed in this period")


def _short(value: object) -> str:
    from datetime import timedelta

    assert isinstance(value, timedelta)
    return format_duration(value).removesuffix(" 00m").removesuffix(" 00s")


async def post_charts(
    client: AsyncWebClient, digest: Digest, *, channel: str, thread_ts: str | None = None
) -> str | None:
    """Draw the charts off the event loop and share them in `channel`; return the file id.

    The digest's text already has every figure, so a failed upload is logged, not raised.
    """
    # A worker of its own rather than the loop's default pool: charts are drawn rarely, and
    # no thread should outlive the work (a stopped bot leaves nothing running).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="carebot-charts") as pool:
        png = await asyncio.get_running_loop().run_in_executor(pool, render_png, digest)
    name = f"care-digest-{digest.period.value}-{digest.window.end:%Y%m%d-%H%M}.png"
    try:
        response = await client.files_upload_v2(
            channel=channel,
            content=png,
            filename=name,
            title=f"Care digest charts: {digest.period.heading}",
            alt_txt=(
                f"Charts of the care digest for {digest.period.heading.lower()}: mentions per "
                f"{'hour' if digest.window.bucket == Bucket.HOUR else 'day'}, time to first "
                "response, and SLA attainment"
            ),
            initial_comment="Charts for this digest :bar_chart:",
            thread_ts=thread_ts,
        )
    except (SlackApiError, SlackRequestError) as exc:
        log.warning("digest charts not posted to %s: %s", channel, exc)
        return None
    file = response.get("file") or {}
    return str(file.get("id")) if isinstance(file, dict) and file.get("id") else None
