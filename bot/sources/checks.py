"""`carebot check` for the networks beyond X: for each one, whether it is on, which variable is
missing when only half of it is set, and whether its credentials work (the source's `whoami`)."""

from __future__ import annotations

from typing import TextIO

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


async def check_network(spec: NetworkSpec, settings: Settings, *, out: TextIO) -> int:
    """Check one network; print one line; return the number of problems (0 or 1)."""
    if not spec.enabled(settings):
        first, second = _PAIRS[spec.key](settings)
        if first != second:
            missing = spec.variables[1] if first else spec.variables[0]
            print(
                f"FAIL  {spec.label}: {missing} is not set (it needs both "
                f"{' and '.join(spec.variables)})",
                file=out,
            )
            return 1
        print(f"skip  {spec.label}: not configured ({' and '.join(spec.variables)})", file=out)
        return 0
    source = spec.build(settings, SourceContext())
    try:
        await source.start()
        me = await source.whoami()
    except (SourceError, ConfigError) as exc:
        print(f"FAIL  {spec.label}: {exc.user_message} ({', '.join(spec.variables)})", file=out)
        return 1
    finally:
        await source.close()
    print(f"ok    {spec.label}: authenticated as @{me.handle} (id {me.external_id})", file=out)
    return 0


async def check_other_networks(settings: Settings, *, out: TextIO) -> int:
    """Check every network except X (bot/check.py checks X); return the number of problems."""
    problems = 0
    for spec in NETWORKS:
        if spec.key in _PAIRS:
            problems += await check_network(spec, settings, out=out)
    return problems
