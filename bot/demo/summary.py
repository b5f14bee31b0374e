"""The demo's closing summary: what it did, in the digest's own figures read from the database,
with the posts and replies counted from what the fakes recorded."""

from __future__ import annotations

from bot.digest import DEFAULT_PERIOD, Digest
from bot.sandbox.stack import RunningBot


def summary_text(
    figures: Digest, *, names: dict[str, str], posts: int, sent: int, nags: int
) -> str:
    """Say what the demo did in the digest's own figures, from the database."""
    later = posts - figures.received
    extra = f"; {plural(later, 'post')} joined an existing case" if later > 0 else ""
    agents = ", ".join(
        f"{names.get(a.user, a.user)} claimed {a.claimed} and replied {a.replied}"
        for a in figures.agents
    )
    return (
        f"In the database, as the digest counts it: {plural(figures.received, 'case')} received "
        f"(from {plural(posts, 'customer post')}{extra}), {figures.replied} replied, "
        f"{figures.resolved_without_reply} resolved without a reply, {figures.still_open} "
        f"still open, {plural(figures.breaches, 'breach', 'breaches')}. {agents or 'No agents'}. "
        f"{plural(sent, 'reply', 'replies')} sent to X, {plural(nags, 'nag')}."
    )


def plural(count: int, one: str, many: str | None = None) -> str:
    """Return `count` with its noun in the right number."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


async def digest_now(bot: RunningBot) -> Digest:
    """Compute the digest `/care digest` shows by default, straight from the database."""
    deps = bot.runtime.deps
    assert deps is not None, "the bot is running"
    return await deps.digest.compute(DEFAULT_PERIOD)
