"""The App Home tab: the user's open cases and their deadlines, the team's queue counts and
today's SLA attainment. A pure function of `HomeData`."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.blocks.lists import case_line
from bot.blocks.text import escape_mrkdwn
from bot.domain.digest import HomeData
from bot.domain.networks import network_label


def _attainment(data: HomeData) -> str:
    if not data.sla_due:
        return "*Today's SLA attainment*\nno responses owed yet today"
    share = 100 * data.sla_met / data.sla_due
    return (
        f"*Today's SLA attainment*\n{share:.0f}% ({data.sla_met} of {data.sla_due} first "
        "responses in time)"
    )


def _by_network(data: HomeData) -> list[Block]:
    if not data.open_by_network:
        return []
    ordered = sorted(data.open_by_network.items(), key=lambda kv: (-kv[1], kv[0]))
    text = "Open by network: " + " · ".join(
        f"{escape_mrkdwn(network_label(name))} {count}" for name, count in ordered
    )
    return [ContextBlock(elements=[MarkdownTextObject(text=text)])]


def home_view(data: HomeData) -> dict[str, Any]:
    """Return the Home tab view for `data.user`."""
    counts = data.counts
    blocks: list[Block] = [HeaderBlock(text="Carebot")]
    if counts is not None:
        blocks += [
            SectionBlock(
                fields=[
                    MarkdownTextObject(text=f"*Open cases*\n{counts.open}"),
                    MarkdownTextObject(text=f"*Unclaimed*\n{counts.unclaimed}"),
                    MarkdownTextObject(text=f"*Overdue*\n{counts.overdue}"),
                    MarkdownTextObject(text=f"*Urgent*\n{counts.urgent}"),
                ]
            ),
            *_by_network(data),
            SectionBlock(text=MarkdownTextObject(text=_attainment(data))),
        ]
    else:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text="The team's queue and figures are for Carebot agents. "
                    "Ask a lead to add you."
                )
            )
        )
    if data.spend is not None:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=data.spend)]))
    blocks += [
        DividerBlock(),
        SectionBlock(text=MarkdownTextObject(text=f"*Your open cases* ({data.mine.total})")),
    ]
    if not data.mine.cases:
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text="Nothing is yours right now. :tada:"))
        )
    blocks.extend(
        SectionBlock(text=MarkdownTextObject(text=case_line(row, now=data.now, show_owner=False)))
        for row in data.mine.cases
    )
    if data.mine.rest:
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=f"…and {data.mine.rest} more. `/care mine` lists them all."
                    )
                ]
            )
        )
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"Updated {data.now.astimezone(data.zone):%a %d %b %H:%M} "
                    f"({data.zone.key}). `/care help` for commands."
                )
            ]
        )
    )
    return View(type="home", blocks=blocks).to_dict()
