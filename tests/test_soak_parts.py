"""The chaos soak's pure parts (bench/soak/): its options, how it finds a button on a card and a
reply on any network. The soak itself runs real replicas for minutes: CI runs it from .ci/run."""

from __future__ import annotations

from types import SimpleNamespace

from bench.soak.people import REPLY_MARKER, has_button
from bench.soak.run import QUIET_SECONDS, _parse
from bot.blocks.ids import ActionId


def test_short_runs_get_a_small_storm_and_keep_a_quiet_minute() -> None:
    args = _parse(["--minutes", "3", "--seed", "14"])
    assert (args.seed, args.storm) == (14, 60)
    assert args.fault_seconds == 3 * 60 - QUIET_SECONDS


def test_long_runs_get_the_issue_s_storm_and_an_unset_seed_is_drawn() -> None:
    args = _parse(["--minutes", "30"])
    assert args.storm == 500
    assert isinstance(args.seed, int)


def testhas_button_looks_in_actions_and_accessories() -> None:
    actions = {"type": "actions", "elements": [{"type": "button", "action_id": ActionId.CLAIM}]}
    accessory = {"type": "section", "accessory": {"type": "button", "action_id": ActionId.REPLY}}
    card = SimpleNamespace(blocks=[{"type": "section", "text": {}}, actions, accessory])
    assert has_button(card, ActionId.CLAIM)
    assert has_button(card, ActionId.REPLY)
    assert not has_button(card, ActionId.RESOLVE)


def test_the_reply_marker_survives_a_network_s_prefix() -> None:
    text = "@soak_customer_7@soak.example Soak reply 12: sorry about that, we're on it."
    found = REPLY_MARKER.search(text)
    assert found is not None
    assert found.group() == "Soak reply 12:"
