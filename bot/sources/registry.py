"""The sources registry: one `NetworkSpec` per network (its variables and a factory that builds
its `Source` from `Settings`; its label and icon come from `bot/domain/networks.py`), and
`SourceRegistry`, the configured sources keyed by network. Services look a case's source up here
by `case.network`, so adding a network is an adapter, its settings, its sandbox fake, one spec
below and its mark in the domain (the full list is in `bot/sources/__init__.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bot.clock import Clock, utc_now
from bot.domain.networks import network_icon, network_label
from bot.errors import SourceError
from bot.settings import Settings
from bot.sources.base import Source
from storage.engine import SessionFactory


@dataclass(frozen=True, slots=True)
class SourceContext:
    """What a factory may need beyond Settings: the database (for saved sessions) and a clock."""

    sessions: SessionFactory | None = None
    clock: Clock = utc_now


SourceFactory = Callable[[Settings, SourceContext], Source]


@dataclass(frozen=True, slots=True)
class NetworkSpec:
    """One network Carebot can read and reply on, and how it is switched on."""

    key: str  # the `network` value stored on cases
    variables: tuple[str, ...]  # what turns it on, for messages and `carebot check`
    enabled: Callable[[Settings], bool]
    build: SourceFactory

    @property
    def label(self) -> str:
        """Return the network's name as people write it (bot/domain/networks.py)."""
        return network_label(self.key)

    @property
    def icon(self) -> str:
        """Return the standard Slack emoji that marks the network's cards."""
        return network_icon(self.key)


def _build_x(settings: Settings, context: SourceContext) -> Source:
    from bot.sources.x import XSource

    return XSource(
        api_url=settings.x_api_url,
        bearer_token=_secret(settings.x_bearer_token),
        api_key=_secret(settings.x_api_key),
        api_secret=_secret(settings.x_api_secret),
        access_token=_secret(settings.x_access_token),
        access_token_secret=_secret(settings.x_access_token_secret),
        user_id=settings.x_user_id,
        clock=context.clock,
    )


def _build_bluesky(settings: Settings, context: SourceContext) -> Source:
    from bot.sources.bluesky import BlueskySource

    assert settings.bluesky_handle is not None
    assert settings.bluesky_app_password is not None
    return BlueskySource(
        api_url=settings.bluesky_api_url,
        handle=settings.bluesky_handle,
        app_password=settings.bluesky_app_password.get_secret_value(),
        sessions=context.sessions,
        clock=context.clock,
    )


def _build_mastodon(settings: Settings, context: SourceContext) -> Source:
    from bot.sources.mastodon import MastodonSource

    assert settings.mastodon_api_base_url is not None
    assert settings.mastodon_access_token is not None
    return MastodonSource(
        api_base_url=settings.mastodon_api_base_url,
        access_token=settings.mastodon_access_token.get_secret_value(),
        clock=context.clock,
    )


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


NETWORKS: tuple[NetworkSpec, ...] = (
    NetworkSpec(
        key="x",
        variables=(
            "X_BEARER_TOKEN",
            "X_API_KEY",
            "X_API_SECRET",
            "X_ACCESS_TOKEN",
            "X_ACCESS_TOKEN_SECRET",
        ),
        enabled=lambda s: s.x_enabled,
        build=_build_x,
    ),
    NetworkSpec(
        key="bluesky",
        variables=("BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD"),
        enabled=lambda s: s.bluesky_enabled,
        build=_build_bluesky,
    ),
    NetworkSpec(
        key="mastodon",
        variables=("MASTODON_API_BASE_URL", "MASTODON_ACCESS_TOKEN"),
        enabled=lambda s: s.mastodon_enabled,
        build=_build_mastodon,
    ),
)
_BY_KEY = {spec.key: spec for spec in NETWORKS}


def network_spec(network: str) -> NetworkSpec | None:
    """Return the spec of `network`, or None for a network Carebot does not know."""
    return _BY_KEY.get(network.lower())


@dataclass(slots=True)
class SourceRegistry:
    """The configured sources, keyed by network."""

    _sources: dict[str, Source] = field(default_factory=dict)

    @classmethod
    def of(cls, sources: Iterable[Source]) -> SourceRegistry:
        """Return a registry holding `sources` (one per network)."""
        registry = cls()
        for source in sources:
            if source.network in registry._sources:
                raise ValueError(f"two sources for the network {source.network!r}")
            registry._sources[source.network] = source
        return registry

    def get(self, network: str) -> Source | None:
        """Return the source of `network`, or None when it is not configured."""
        return self._sources.get(network)

    def require(self, network: str) -> Source:
        """Return the source of `network`, or raise SourceError naming what to configure."""
        source = self._sources.get(network)
        if source is not None:
            return source
        spec = network_spec(network)
        if spec is None:
            raise SourceError(f"Carebot has no adapter for the network {network!r}.")
        raise SourceError(
            f"Carebot has no {spec.label} credentials configured, so it cannot reply there "
            f"(set {' and '.join(spec.variables[:2])})."
        )

    @property
    def networks(self) -> list[str]:
        """Return the configured networks, in registry order."""
        return list(self._sources)

    def __iter__(self) -> Iterator[Source]:
        return iter(list(self._sources.values()))

    def __len__(self) -> int:
        return len(self._sources)

    def __bool__(self) -> bool:
        return bool(self._sources)

    async def start(self) -> None:
        """Start every source (inside the running loop); on a failure, close those started."""
        started: list[Source] = []
        try:
            for source in self._sources.values():
                await source.start()
                started.append(source)
        except BaseException:
            for source in started:
                await source.close()
            raise

    async def close(self) -> None:
        """Close every source."""
        for source in self._sources.values():
            await source.close()


def build_sources(settings: Settings, context: SourceContext | None = None) -> SourceRegistry:
    """Return a registry with a source for every network the settings turn on."""
    context = context or SourceContext()
    return SourceRegistry.of(
        spec.build(settings, context) for spec in NETWORKS if spec.enabled(settings)
    )
