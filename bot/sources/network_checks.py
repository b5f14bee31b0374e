"""`carebot check` for the networks beyond X: for each one, whether it is on, which variable is
missing when only half of it is set, and whether its credentials work (the source's `whoami`)."""

from __future__ import annotations

from bot.errors import ConfigError, SourceError
from bot.settings import Settings
from bot.sources.registry import NETWORKS, NetworkSpec, SourceContext

_PAIRS = {
    "bluesky": lambda s: (s.bluesky_handle is not None, s.bluesky_app_password is not None),
    "mastodon": lambda s: (
        s.mastodon_api_base_url is not None,
        s.mastodon_access_token is not None,
    ),
}


async def check_network(spec: NetworkSpec, settings: Settings) -> tuple[str, str]:
    """Check one network; return its report line as (mark, text): ok, skip or FAIL."""
    if not spec.enabled(settings):
        first, second = _PAIRS[spec.key](settings)
        if first != second:
            missing = spec.variables[1] if first else spec.variables[0]
            needs = " and ".join(spec.variables)
            return "FAIL", f"{spec.label}: {missing} is not set (it needs both {needs})"
        return "skip", f"{spec.label}: not configured ({' and '.join(spec.variables)})"
    source = spec.build(settings, SourceContext())
    try:
        await source.start()
        me = await source.whoami()
    except (SourceError, ConfigError) as exc:
        return "FAIL", f"{spec.label}: {exc.user_message} ({', '.join(spec.variables)})"
    finally:
        await source.close()
    return "ok", f"{spec.label}: authenticated as @{me.handle} (id {me.external_id})"


async def check_other_networks(settings: Settings) -> list[tuple[str, str]]:
    """Check every network except X (bot/check.py checks X); return one line per network."""
    return [await check_network(spec, settings) for spec in NETWORKS if spec.key in _PAIRS]
