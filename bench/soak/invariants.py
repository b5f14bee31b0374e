"""The soak's verdict: wait for the system to settle once the faults stop, then check every
invariant from what the fakes recorded and from the database. Each broken one is a `Violation`
naming the invariant and the case, printed as `INVARIANT <name>: <case>`.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select

from bench.soak.people import ACK_LIMIT, REPLY_MARKER, Soak
from bench.soak.tally import NAG_PREFIXES
from storage.engine import create_engine, session_factory
from storage.models import CardState, Case, CaseMessage, Event, Reply, ReplyState

SETTLE_SECONDS = 60.0
MEMORY_GROWTH_LIMIT_MIB = 25.0
MEMORY_GROWTH_LIMIT = 0.25


@dataclass(slots=True)
class Violation:
    """One broken invariant, naming what it broke on."""

    invariant: str
    detail: str


async def stuck_now(url: str) -> dict[str, list[int]]:
    """Return, by kind, the cases the database shows as not settled."""
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as s:
            pending = await s.scalars(
                select(Reply.case_id).where(Reply.state == ReplyState.PENDING)
            )
            unposted = await s.scalars(select(Case.id).where(Case.card_state != CardState.POSTED))
            dirty = await s.scalars(select(Case.id).where(Case.card_dirty_at.is_not(None)))
            return {
                "pending reply": list(pending),
                "unposted card": list(unposted),
                "card waiting for a redraw": list(dirty),
            }
    finally:
        await engine.dispose()


async def settle(soak: Soak, url: str) -> dict[str, list[int]]:
    """Wait up to a minute after the faults for the system to settle; return what is stuck."""
    deadline = time.monotonic() + SETTLE_SECONDS
    stuck = await stuck_now(url)
    while any(stuck.values()) and time.monotonic() < deadline:
        await asyncio.sleep(1)
        stuck = await stuck_now(url)
    soak.note("settled" if not any(stuck.values()) else "still not settled after a minute")
    return stuck


async def check(soak: Soak, url: str, stuck: dict[str, list[int]]) -> list[Violation]:
    """Check every invariant; return the broken ones."""
    found: list[Violation] = []
    slack, channel = soak.stack.slack, soak.stack.channel
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as s:
            cases = {c.id: c for c in await s.scalars(select(Case))}
            stored = set(await s.execute(select(CaseMessage.network, CaseMessage.external_id)))
            claims = list(
                await s.execute(select(Event.case_id, Event.actor).where(Event.kind == "claimed"))
            )
    finally:
        await engine.dispose()
    per_case = Counter((m.metadata.get("event_payload") or {}).get("case_id") for m in soak.cards())
    for case_id, count in per_case.items():
        if count != 1:
            found.append(Violation("one-card", f"case {case_id} has {count} cards"))
    for case_id in cases:
        if per_case.get(case_id, 0) == 0:
            found.append(Violation("one-card", f"case {case_id} has no card"))
    soak.case_mentions = {
        case_id: (case.network, case.external_id) for case_id, case in cases.items()
    }
    for network, external_id in soak.mention_added:
        if (network, external_id) not in stored:
            found.append(Violation("one-card", f"{network} mention {external_id} is in no case"))
    # The load never releases a case, so each case is claimed (by a press or a reply) once.
    claimers: dict[int | None, list[str]] = {}
    for case_id, actor in claims:
        claimers.setdefault(case_id, []).append(actor)
    for case_id, actors in claimers.items():
        if len(actors) > 1:
            found.append(
                Violation("claim-once", f"case {case_id} claimed {len(actors)} times: {actors}")
            )
        elif case_id in cases and cases[case_id].owner != actors[0]:
            found.append(
                Violation(
                    "claim-once",
                    f"case {case_id} claimed by {actors[0]} but owned by {cases[case_id].owner}",
                )
            )
    posts: Counter[tuple[str, str]] = Counter()
    for network, text in soak.posted_replies():
        marker = REPLY_MARKER.search(text)
        if marker is not None:
            posts[(network, marker.group())] += 1
    card_of_marker: dict[str, str] = {}
    for ts, text in soak.submissions:
        marker = REPLY_MARKER.search(text)
        if marker is not None:
            card_of_marker[marker.group()] = ts
    for (network, marker_text), count in posts.items():
        if count > 1:
            found.append(Violation("one-post", f"{count} posts of {marker_text!r} on {network}"))
        card_ts = card_of_marker.get(marker_text)
        if card_ts is not None:
            thread = " ".join(m.text or "" for m in slack.thread(channel, card_ts))
            if marker_text not in thread:
                found.append(
                    Violation(
                        "reply-shown",
                        f"{marker_text!r} ({network}) is not in card {card_ts}'s thread",
                    )
                )
    for card in soak.cards():
        lines = Counter(
            m.text
            for m in slack.thread(channel, card.ts)
            if m.text and m.text.startswith(NAG_PREFIXES)
        )
        for line, count in lines.items():
            if count > 1:
                found.append(Violation("nag-once", f"card {card.ts}: {count}x {line[:80]!r}"))
    for what, ids in stuck.items():
        if ids:
            found.append(Violation("settled", f"{len(ids)} {what}: cases {ids[:10]}"))
    for ack in soak.acks:
        if not ack.answered:
            found.append(Violation("acked", f"{ack.what}: never answered 200 {ack.attempts}"))
        elif ack.attempts[-1][1] > ACK_LIMIT:
            found.append(Violation("acked", f"{ack.what}: answered in {ack.attempts[-1][1]:.2f}s"))
    for replica in soak.replicas:
        for life in replica.rss:
            if len(life) < 12:
                continue  # too short a life to judge
            third = len(life) // 3
            middle = statistics.median(v for _, v in life[third : 2 * third])
            last = statistics.median(v for _, v in life[2 * third :])
            if last - middle > max(MEMORY_GROWTH_LIMIT_MIB, MEMORY_GROWTH_LIMIT * middle):
                found.append(
                    Violation(
                        "memory",
                        f"replica {replica.slot}: {middle:.0f} -> {last:.0f} MiB in one life",
                    )
                )
    return found
