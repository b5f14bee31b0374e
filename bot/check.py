"""`carebot check`: validate configuration and both sets of credentials, in plain words."""

from __future__ import annotations

from typing import TextIO

from slack_sdk.errors import SlackApiError, SlackClientError

from bot.app import build_slack_client
from bot.errors import ConfigError, SourceError
from bot.runtime import build_source
from bot.settings import Settings
from bot.sources.checks import check_other_networks

_SLACK_ERRORS = {
    "invalid_auth": "the token is not valid (revoked, or copied wrongly)",
    "not_authed": "no token was sent",
    "account_inactive": "the token belongs to a deleted app or user",
    "token_revoked": "the token was revoked",
    "channel_not_found": "the channel does not exist or the bot cannot see it (invite the bot)",
}


async def run_check(settings: Settings, *, out: TextIO) -> int:
    """Check Slack and X credentials; print one line per check; return the exit code."""
    if settings.slack_bot_token is None:
        raise ConfigError("SLACK_BOT_TOKEN", "is required (the bot token, xoxb-…)")
    problems = 0
    slack = build_slack_client(settings, retries=False)
    try:
        auth = await slack.auth_test()
        print(f"ok    Slack: connected as @{auth.get('user')} in {auth.get('team')}", file=out)
        if settings.channel:
            info = await slack.conversations_info(channel=settings.channel)
            channel: dict[str, object] = info.get("channel") or {}
            name = channel.get("name", settings.channel)
            print(f"ok    Slack: cards will go to #{name} ({settings.channel})", file=out)
        else:
            print("FAIL  CAREBOT_CHANNEL is not set: cards have nowhere to go", file=out)
            problems += 1
    except SlackApiError as exc:
        code = str(exc.response.get("error"))
        print(f"FAIL  Slack: {_SLACK_ERRORS.get(code, code)} ({code})", file=out)
        problems += 1
    except SlackClientError as exc:
        print(f"FAIL  Slack: cannot reach {settings.slack_api_url} ({exc})", file=out)
        problems += 1
    except OSError as exc:
        print(f"FAIL  Slack: cannot reach {settings.slack_api_url} ({exc})", file=out)
        problems += 1

    source = build_source(settings)
    if source is None:
        print("skip  X: no X credentials set (X_BEARER_TOKEN, X_API_KEY…)", file=out)
    else:
        await source.start()
        try:
            me = await source.whoami()
            print(f"ok    X: authenticated as @{me.handle} (id {me.external_id})", file=out)
        except SourceError as exc:
            print(f"FAIL  X: {exc.user_message}", file=out)
            problems += 1
        finally:
            await source.close()
    problems += await check_other_networks(settings, out=out)
    print("all checks passed" if not problems else f"{problems} check(s) failed", file=out)
    return 0 if not problems else 1
