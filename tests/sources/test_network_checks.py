"""`carebot check` for Bluesky and Mastodon: each configured network's whoami, named variables."""

from __future__ import annotations

from bot.sandbox.bluesky import FakeBluesky
from bot.sandbox.mastodon import FakeMastodon
from bot.settings import Settings
from bot.sources.network_checks import check_other_networks


async def checked(settings: Settings) -> tuple[int, list[str]]:
    """Return the number of failures and the report lines, as `carebot check` prints them."""
    report = await check_other_networks(settings)
    return sum(mark == "FAIL" for mark, _ in report), [f"{m:<5} {t}" for m, t in report]


async def test_configured_networks_are_checked_with_their_credentials() -> None:
    async with FakeBluesky() as bsky, FakeMastodon() as masto:
        settings = Settings(
            _env_file=None,
            bluesky_handle=bsky.brand.handle,
            bluesky_app_password=bsky.app_password,
            bluesky_api_url=bsky.api_url,
            mastodon_api_base_url=masto.api_url,
            mastodon_access_token=masto.access_token,
        )
        problems, lines = await checked(settings)
        assert problems == 0
        assert (
            lines[0] == f"ok    Bluesky: authenticated as @acme.bsky.social (id {bsky.brand.did})"
        )
        assert lines[1].startswith("ok    Mastodon: authenticated as @acme@mastodon.example")

        masto.revoke_token()
        bsky.revoke_app_password()
        problems, lines = await checked(settings)
        assert problems == 2
        text = "\n".join(lines)
        assert "FAIL  Bluesky: Bluesky rejected the handle or app password" in text
        assert "FAIL  Mastodon: Mastodon rejected the access token" in text
        assert "MASTODON_ACCESS_TOKEN" in text


async def test_half_configured_and_unconfigured_networks_are_named() -> None:
    settings = Settings(_env_file=None, bluesky_handle="acme.bsky.social")
    problems, lines = await checked(settings)
    assert problems == 1
    assert lines[0].startswith("FAIL  Bluesky: BLUESKY_APP_PASSWORD is not set")
    assert (
        lines[1]
        == "skip  Mastodon: not configured (MASTODON_API_BASE_URL and MASTODON_ACCESS_TOKEN)"
    )
