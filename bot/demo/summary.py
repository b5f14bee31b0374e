"""The demo's closing summary: what it did, in the digest's own figures read from the database,
with the posts and replies counted from what the fakes recorded."""

from __future__ import annotations

from collections.abc import Mapping

from bot.digest import DEFAULT_PERIOD, Digest
from bot.domain.networks import network_label
from bot.sandbox.stack import RunningBot, Sandbox


def summary_text(
    figures: Digest, *, names: dict[str, str], posts: int, sent: Mapping[str, int], nags: int
) -> str:
    """Say what the demo did in the digest's own figures, from the database."""
    later = posts - figures.received
    extra = f"; {plural(later, 'post')} joined an existing case" if later > 0 else ""
    where = ", ".join(f"{count} on {network_label(network)}" for network, count in sent.items())
    agents = ", ".join(
        f"{names.get(a.user, a.user)} claimed {a.claimed} and replied {a.replied}"
        for a in figures.agents
    )
    return (
        f"In the database, as the digest counts it: {plural(figures.received, 'case')} received "
        f"(from {plural(posts, 'customer post')}{extra}), {figures.replied} replied, "
        f"{figures.resolved_without_reply} resolved without a reply, {figures.still_open} "
        f"still open, {plural(figures.breaches, 'breach', 'breaches')}. {agents or 'No agents'}. "
        f"{plural(sum(sent.values()), 'reply', 'replies')} sent ({where}), {plural(nags, 'nag')}."
    )


def plural(count: int, one: str, many: str | None = None) -> str:
    """Return `count` with its noun in the right number."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


async def digest_now(bot: RunningBot) -> Digest:
    """Compute the digest `/care digest` shows by default, straight from the database."""
    deps = bot.runtime.deps
    assert deps is not None, "the bot is running"
    return await deps.digest.compute(DEFAULT_PERIOD)


def customer_posts(stack: Sandbox) -> int:
    """Count the posts customers made on the three networks' fakes (the brand's own left out)."""
    x, bsky, masto = stack.x, stack.bluesky, stack.mastodon
    return (
        len(x.tweets)
        - len(x.posted_replies)
        + sum(post.author is not bsky.brand for post in bsky.posts.values())
        + sum(status.account is not masto.brand for status in masto.statuses.values())
    )


def replies_sent(stack: Sandbox) -> dict[str, int]:
    """Count the replies each network's fake accepted from the brand, by network."""
    return {
        "x": len(stack.x.posted_replies),
        "bluesky": len(stack.bluesky.created_records),
        "mastodon": len(stack.mastodon.posted),
    }
