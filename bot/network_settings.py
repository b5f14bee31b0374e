"""What a configuration lacks, network by network and for `carebot run`: a half-configured X,
Bluesky or Mastodon, no network at all, or a Slack variable the chosen mode needs. `Settings`
answers these through its methods of the same names; the words are what `carebot check` prints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.settings import Settings


def x_problems(settings: Settings) -> list[tuple[str, str]]:
    """Return what is missing from a half-configured X (reads need the bearer token; replies
    and `users/me` need all four OAuth 1.0a user-context keys)."""
    user_context = {
        "X_API_KEY": settings.x_api_key,
        "X_API_SECRET": settings.x_api_secret,
        "X_ACCESS_TOKEN": settings.x_access_token,
        "X_ACCESS_TOKEN_SECRET": settings.x_access_token_secret,
    }
    missing = [name for name, value in user_context.items() if value is None]
    if settings.x_bearer_token is None:
        if len(missing) == len(user_context):
            return []  # X is simply off
        return [
            (
                "X_BEARER_TOKEN",
                "is required when the X user-context keys are set: Carebot reads mentions "
                "with the app's bearer token (developer console → Keys and tokens)",
            )
        ]
    return [
        (
            name,
            "is required with X_BEARER_TOKEN: replies on X and looking up the brand account "
            "need all four OAuth 1.0a user-context keys (X_API_KEY, X_API_SECRET, "
            "X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET)",
        )
        for name in missing
    ]


def networks(settings: Settings) -> list[str]:
    """Return the networks that are switched on: X when X_BEARER_TOKEN is set, Bluesky and
    Mastodon when both of their variables are."""
    on = {
        "x": settings.x_enabled,
        "bluesky": settings.bluesky_enabled,
        "mastodon": settings.mastodon_enabled,
    }
    return [network for network, enabled in on.items() if enabled]


def network_problems(settings: Settings) -> list[tuple[str, str]]:
    """Return what is missing from a half-configured X, Bluesky or Mastodon, and, when no
    network is on at all, the variables that would turn one on."""
    problems = x_problems(settings)
    pairs = (
        (
            "BLUESKY_HANDLE",
            settings.bluesky_handle,
            "BLUESKY_APP_PASSWORD",
            settings.bluesky_app_password,
        ),
        (
            "MASTODON_API_BASE_URL",
            settings.mastodon_api_base_url,
            "MASTODON_ACCESS_TOKEN",
            settings.mastodon_access_token,
        ),
    )
    for first, first_value, second, second_value in pairs:
        if (first_value is None) != (second_value is None):
            missing, given = (first, second) if first_value is None else (second, first)
            problems.append((missing, f"is required with {given} to turn that network on"))
    if not problems and not networks(settings):
        problems.append(
            (
                "X_BEARER_TOKEN",
                "is not set, and no other network is either, so Carebot would read no "
                "mentions: set X_BEARER_TOKEN and the four X user-context keys (X), or "
                "BLUESKY_HANDLE and BLUESKY_APP_PASSWORD (Bluesky), or MASTODON_API_BASE_URL "
                "and MASTODON_ACCESS_TOKEN (Mastodon)",
            )
        )
    return problems


def run_problems(settings: Settings, *, http: bool) -> list[tuple[str, str]]:
    """Return every `(variable, problem)` that stops `carebot run` (in this mode) working."""
    problems: list[tuple[str, str]] = []
    if settings.slack_bot_token is None:
        problems.append(("SLACK_BOT_TOKEN", "is required (the bot token, xoxb-…)"))
    if settings.channel is None:
        problems.append(
            ("CAREBOT_CHANNEL", "is required (the ID of the channel where cards go, C…)")
        )
    if http and settings.slack_signing_secret is None:
        problems.append(("SLACK_SIGNING_SECRET", "is required with --http"))
    if not http and settings.slack_app_token is None:
        problems.append(
            (
                "SLACK_APP_TOKEN",
                "is required for Socket Mode (xapp-…); or run with --http and SLACK_SIGNING_SECRET",
            )
        )
    return problems + network_problems(settings)
