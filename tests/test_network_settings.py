"""Which networks the settings turn on, and the configuration errors that name their variables."""

from __future__ import annotations

from typing import Any

import pytest

from bot.errors import ConfigError, SourceError
from bot.settings import Settings
from bot.sources.registry import SourceRegistry, build_sources


def make(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_no_network_names_every_variable_to_set() -> None:
    with pytest.raises(ConfigError) as info:
        make().require_network()
    assert info.value.variable == "X_BEARER_TOKEN"
    for name in ("BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD", "MASTODON_ACCESS_TOKEN"):
        assert name in info.value.problem


def test_half_a_network_names_the_missing_half() -> None:
    with pytest.raises(ConfigError, match="BLUESKY_APP_PASSWORD"):
        make(bluesky_handle="acme.bsky.social").require_network()
    with pytest.raises(ConfigError, match="MASTODON_API_BASE_URL"):
        make(mastodon_access_token="t").require_network()


def test_each_network_is_on_with_its_own_variables() -> None:
    make(
        x_bearer_token="b",
        x_api_key="k",
        x_api_secret="s",
        x_access_token="t",
        x_access_token_secret="ts",
    ).require_network()
    make(bluesky_handle="@Acme.bsky.social", bluesky_app_password="p").require_network()
    make(mastodon_api_base_url="https://m.example/", mastodon_access_token="t").require_network()
    settings = make(
        bluesky_handle="acme.bsky.social",
        bluesky_app_password="p",
        mastodon_api_base_url="https://m.example/",
        mastodon_access_token="t",
    )
    assert settings.mastodon_api_base_url == "https://m.example"
    assert build_sources(settings).networks == ["bluesky", "mastodon"]
    assert "p" in settings.secrets()
    assert "t" in settings.secrets()


def test_malformed_network_values_are_refused() -> None:
    with pytest.raises(ValueError, match="Bluesky handle"):
        make(bluesky_handle="acme")
    with pytest.raises(ValueError, match="http"):
        make(mastodon_api_base_url="mastodon.social")


def test_a_case_on_an_unconfigured_network_is_refused_naming_its_variables() -> None:
    with pytest.raises(SourceError, match="BLUESKY_HANDLE and BLUESKY_APP_PASSWORD"):
        SourceRegistry().require("bluesky")
    with pytest.raises(SourceError, match="no adapter"):
        SourceRegistry().require("myspace")
