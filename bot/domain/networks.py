"""The networks Carebot speaks, by name: how people write each one and the emoji that marks its
cards. The sources registry builds its specs from these, and the builders render them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NetworkMark:
    """How a network is shown: its name as people write it and a standard Slack emoji."""

    label: str
    icon: str


MARKS: dict[str, NetworkMark] = {
    "x": NetworkMark(label="X", icon=":bird:"),
    "bluesky": NetworkMark(label="Bluesky", icon=":butterfly:"),
    "mastodon": NetworkMark(label="Mastodon", icon=":elephant:"),
}
# Older rows and people still say Twitter.
_ALIASES = {"twitter": "x"}


def network_mark(network: str) -> NetworkMark | None:
    """Return the network's mark, or None for a network Carebot does not know."""
    key = network.lower()
    return MARKS.get(_ALIASES.get(key, key))


def network_label(network: str) -> str:
    """Return the network's name as people write it (`x` → `X`)."""
    mark = network_mark(network)
    return mark.label if mark is not None else network.title()


def network_icon(network: str) -> str:
    """Return the network's emoji (`x` → `:bird:`), or '' for one Carebot does not know."""
    mark = network_mark(network)
    return mark.icon if mark is not None else ""
