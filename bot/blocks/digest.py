"""The `/care digest` answer as Block Kit: the digest's figures, its Unicode charts (volume per
hour or day, response times, SLA attainment per day), its oldest open cases and the Share button.
Pure functions of their inputs; user ids and social text are escaped and each section is cut at
Slack's limit. The queue and "mine" lists and the usage text are in `bot.blocks.lists`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.blocks.codecs import ShareButton
from bot.blocks.ids import ActionId
from bot.blocks.lists import Message, case_line, who
from bot.blocks.text import escape_mrkdwn, truncate
from bot.domain.cases import Priority
from bot.domain.digest import AgentFigures, Bucket, Digest, Window
from bot.domain.networks import network_label
from bot.durations import format_duration

BAR_WIDTH = 20
# This many empty buckets in a row fold into one `quiet` line.
QUIET_RUN = 2
DASH = "\u2013"  # an en dash, between the ends of a folded stretch
_EIGHTHS = " ▏▎▍▌▋▊▉"
AGENTS_SHOWN = 15
SECTION_LIMIT = 3000


def share_value(digest: Digest) -> str:
    """Return the Share button's value: the period and the instant its window is pinned to."""
    return ShareButton(digest.period, digest.window.end).encode()


def bar(count: int, top: int, width: int = BAR_WIDTH) -> str:
    """Return a bar of eighth-blocks, `width` characters for `top`, at least a sliver if > 0."""
    if count <= 0 or top <= 0:
        return ""
    eighths = max(1, round(count * width * 8 / top))
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


def bar_chart(labels: list[str], counts: list[int]) -> str:
    """Return one line per bucket: label, bar, count, aligned for a code block."""
    top = max(counts, default=0)
    wide = max((len(label) for label in labels), default=0)
    lines = [
        f"{label:>{wide}} {bar(count, top):<{BAR_WIDTH}} {count}"
        for label, count in zip(labels, counts, strict=True)
    ]
    return "\n".join(lines)


def volume_chart(window: Window, counts: list[int]) -> str:
    """Return the volume per bucket as chart lines, quiet stretches folded into one line.

    Hourly charts are grouped under a line naming each local day; a run of two or more empty
    buckets (within a day, for hours) shows as one `quiet` line instead of a column of zeros.
    """
    hourly = window.bucket == Bucket.HOUR
    local = [edge.astimezone(window.zone) for edge in window.edges]
    top = max(counts, default=0)
    label = "%H:00" if hourly else "%a %d %b"
    lines: list[str] = []
    day = None
    i = 0
    while i < len(counts):
        if hourly and local[i].date() != day:
            day = local[i].date()
            lines.append(f"{local[i]:%a %d %b}")
        j = i
        while j < len(counts) and counts[j] == 0 and (not hourly or local[j].date() == day):
            j += 1
        indent = "  " if hourly else ""
        if j - i >= QUIET_RUN:
            if hourly:
                # The last stretch runs to now, not to an hour.
                end = f"{local[j]:%H:%M}" if j == len(counts) else f"{local[j]:%H:00}"
                stretch = f"{local[i]:%H:00}{DASH}{end}"
            else:
                stretch = f"{local[i]:{label}} {DASH} {local[j - 1]:{label}}"
            lines.append(f"{indent}{stretch} quiet")
            i = j
            continue
        lines.append(f"{indent}{local[i]:{label}} {bar(counts[i], top):<{BAR_WIDTH}} {counts[i]}")
        i += 1
    return "\n".join(lines)


def response_chart(digest: Digest) -> str | None:
    """Return how long first responses took, one line per bucket against the target."""
    counts = digest.response_histogram
    target = digest.response_target
    if not counts or not sum(counts) or target is None:
        return None
    edges = digest.response_edges
    labels = [f"≤ {_round_duration(edge)}" for edge in edges]
    labels.append(f"> {_round_duration(edges[-1])}")
    wide = max(len(label) for label in labels)
    top = max(counts)
    lines = []
    for edge, label, count in zip((*edges, None), labels, counts, strict=True):
        mark = "  ← target" if edge == target else ""
        lines.append(f"{label:<{wide}} {bar(count, top):<{BAR_WIDTH}} {count}{mark}")
    return "\n".join(lines)


def _round_duration(value: timedelta) -> str:
    """Return a bucket edge as people say it: `1h`, not `1h 00m`."""
    return format_duration(value).removesuffix(" 00m").removesuffix(" 00s")


def sla_chart(digest: Digest) -> str | None:
    """Return SLA attainment per day (for 7d and 30d digests), days with nothing owed folded."""
    window = digest.window
    if window.bucket != Bucket.DAY or not any(due for due, _ in digest.sla_by_bucket):
        return None
    local = [edge.astimezone(window.zone) for edge in window.edges]
    rows = digest.sla_by_bucket
    lines: list[str] = []
    i = 0
    while i < len(rows):
        j = i
        while j < len(rows) and rows[j][0] == 0:
            j += 1
        if j - i >= QUIET_RUN:
            lines.append(f"{local[i]:%a %d %b} {DASH} {local[j - 1]:%a %d %b} nothing owed")
            i = j
            continue
        due, met = rows[i]
        shown = (
            f"{bar(met, due):<{BAR_WIDTH}} {_percent(met, due)} ({met} of {due})"
            if due
            else "nothing owed"
        )
        lines.append(f"{local[i]:%a %d %b} {shown}")
        i += 1
    return "\n".join(lines)


def _duration(value: timedelta | None) -> str:
    return format_duration(value) if value is not None else "n/a"


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "n/a"


def _window_text(digest: Digest) -> str:
    window = digest.window
    start = window.start.astimezone(window.zone)
    end = window.end.astimezone(window.zone)
    return (
        f"{start:%a %d %b %H:%M} to {end:%a %d %b %H:%M} ({window.zone.key}), "
        "for the mentions received in that time"
    )


def _received(digest: Digest) -> str:
    networks = " · ".join(
        f"{escape_mrkdwn(network_label(name))} {count}"
        for name, count in sorted(digest.by_network.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    urgent = digest.by_priority.get(Priority.URGENT, 0)
    normal = digest.by_priority.get(Priority.NORMAL, 0)
    detail = f"\n{networks}\nurgent {urgent} · normal {normal}" if digest.received else ""
    return f"*Received*\n{digest.received}{detail}"


def _sla(digest: Digest) -> str:
    if not digest.sla_due:
        return "*SLA attainment*\nno responses owed yet"
    breaches = digest.breaches
    noun = "breach" if breaches == 1 else "breaches"
    return (
        f"*SLA attainment*\n{_percent(digest.sla_met, digest.sla_due)} "
        f"({digest.sla_met} of {digest.sla_due} in time)\n{breaches} {noun}"
    )


def _by_reason(digest: Digest) -> str:
    """Say how the period's resolved cases were closed, most common reason first."""
    counts = sorted(
        digest.resolved_by_reason.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or "")
    )
    shown = " · ".join(f"{r.label if r else 'no reason'} {n}" for r, n in counts if n)
    return f"*Resolved, by reason*\n{shown or 'none resolved'}"


def _agent_line(agent: AgentFigures) -> str:
    return (
        f"{who(agent.user)}: claimed {agent.claimed} · replied {agent.replied} · "
        f"median {_duration(agent.median_response)}"
    )


def digest_text(digest: Digest) -> str:
    """Return the notification text of a digest (what screen readers and previews show)."""
    return (
        f"Care digest, {digest.period.heading.lower()}: {digest.received} received, "
        f"{digest.replied} replied, {digest.still_open} still open, SLA "
        f"{_percent(digest.sla_met, digest.sla_due)}"
    )


def digest_blocks(
    digest: Digest, *, shareable: bool = False, shared_by: str | None = None
) -> list[dict[str, Any]]:
    """Render a digest; `shareable` adds the Share button, `shared_by` credits who shared it."""
    out_of_hours = "n/a (open 24/7)" if digest.out_of_hours is None else str(digest.out_of_hours)
    blocks: list[Block] = [
        HeaderBlock(text=f"Care digest: {digest.period.heading}"),
        ContextBlock(elements=[MarkdownTextObject(text=_window_text(digest))]),
        SectionBlock(
            fields=[
                MarkdownTextObject(text=_received(digest)),
                MarkdownTextObject(text=f"*Replied*\n{digest.replied}"),
                MarkdownTextObject(
                    text=f"*Resolved without reply*\n{digest.resolved_without_reply}"
                ),
                MarkdownTextObject(text=f"*Still open*\n{digest.still_open}"),
                MarkdownTextObject(text=_by_reason(digest)),
                MarkdownTextObject(
                    text="*Time to first response*\n"
                    f"median {_duration(digest.median_response)} · "
                    f"90th percentile {_duration(digest.p90_response)}"
                ),
                MarkdownTextObject(text=_sla(digest)),
                MarkdownTextObject(text=f"*Answered out of business hours*\n{out_of_hours}"),
            ]
        ),
    ]
    if digest.agents:
        shown = [_agent_line(a) for a in digest.agents[:AGENTS_SHOWN]]
        more = len(digest.agents) - len(shown)
        if more:
            shown.append(f"_and {more} more_")
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=_fit("*By agent*\n" + "\n".join(shown))))
        )
    if digest.oldest_open:
        lines = [case_line(row, now=digest.now) for row in digest.oldest_open]
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=_fit("*Oldest open cases*\n" + "\n".join(lines)))
            )
        )
    if digest.spend is not None:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=digest.spend)]))
    per = "hour" if digest.window.bucket == Bucket.HOUR else "day"
    chart = volume_chart(digest.window, digest.volume)
    blocks.append(
        SectionBlock(text=MarkdownTextObject(text=_fit(f"*Mentions per {per}*\n```\n{chart}\n```")))
    )
    responses = response_chart(digest)
    if responses is not None:
        title = "*Time to first response* (cases answered, by how long it took)"
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=_fit(f"{title}\n```\n{responses}\n```")))
        )
    attainment = sla_chart(digest)
    if attainment is not None:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=_fit(f"*SLA attainment per day*\n```\n{attainment}\n```")
                )
            )
        )
    if shareable:
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text="Share to channel",
                        action_id=ActionId.SHARE_DIGEST,
                        value=share_value(digest),
                    )
                ]
            )
        )
    if shared_by is not None:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=f"Shared by {who(shared_by)}")])
        )
    return [block.to_dict() for block in blocks]


def digest_message(
    digest: Digest, *, shareable: bool = False, shared_by: str | None = None
) -> Message:
    """Return (text, blocks) for a digest."""
    return digest_text(digest), digest_blocks(digest, shareable=shareable, shared_by=shared_by)


def _fit(text: str) -> str:
    # A section's text holds 3,000 characters; a code block cut short is still readable.
    return text if len(text) <= SECTION_LIMIT else truncate(text, SECTION_LIMIT)
