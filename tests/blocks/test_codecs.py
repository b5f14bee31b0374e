"""The payload codecs: every value round-trips exactly, and anything else (old shapes, tampered
values, garbage) is refused with StaleRequest and a message the user can act on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.blocks.codecs import CaseButton, ModalMetadata, ShareButton, StaleRequest
from bot.domain import Period
from bot.errors import CarebotError

ids = st.integers(min_value=1, max_value=10**17)
versions = st.none() | st.integers(min_value=0, max_value=10**17)
# Naive bounds, as hypothesis wants them; every instant drawn is aware UTC.
instants = st.datetimes(
    min_value=datetime(1970, 1, 1),  # noqa: DTZ001
    max_value=datetime(9999, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@given(ids, versions)
def test_case_buttons_round_trip(case_id: int, version: int | None) -> None:
    button = CaseButton(case_id, version)
    assert CaseButton.parse(button.encode()) == button


@given(ids, versions)
def test_modal_metadata_round_trips(case_id: int, seen: int | None) -> None:
    metadata = ModalMetadata(case_id, seen)
    assert ModalMetadata.parse(metadata.encode()) == metadata


@given(st.sampled_from(Period), instants)
def test_share_buttons_round_trip_to_the_microsecond(period: Period, at: datetime) -> None:
    button = ShareButton(period, at)
    assert ShareButton.parse(button.encode()) == button


def test_the_shapes_slack_already_holds_still_parse() -> None:
    assert CaseButton.parse("42") == CaseButton(42, None)
    assert CaseButton.parse("42:7") == CaseButton(42, 7)
    assert ModalMetadata.parse('{"case_id":42}') == ModalMetadata(42)
    assert ModalMetadata.parse('{"case_id":42,"seen":3}') == ModalMetadata(42, 3)
    assert ShareButton.parse("7d@1700000000000001") == ShareButton(
        Period.WEEK, datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=1700000000000001)
    )


@pytest.mark.parametrize(
    "value", [None, "", 42, "0", "-1", "42:", ":7", "42:x", "4 2", "42:7:1", "²", "1" * 30, "٤٢"]
)
def test_a_tampered_case_button_is_stale(value: object) -> None:
    with pytest.raises(StaleRequest) as caught:
        CaseButton.parse(value)
    assert caught.value.user_message == "That button is out of date; use the latest card."


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "not json",
        "[1]",
        '{"case_id":"7"}',
        '{"case_id":true}',
        '{"case_id":0}',
        '{"case_id":7,"seen":-1}',
        '{"case_id":7,"seen":"3"}',
        '{"case_id":7,"seen":false}',
    ],
)
def test_tampered_metadata_is_stale(value: object) -> None:
    with pytest.raises(StaleRequest) as caught:
        ModalMetadata.parse(value)
    assert "out of date" in caught.value.user_message
    assert isinstance(caught.value, CarebotError)


@pytest.mark.parametrize("value", ["7d@" + "9" * 20, "yearly@1", "7D@1", "7d@1.5", "@1"])
def test_a_tampered_share_button_is_stale(value: str) -> None:
    with pytest.raises(StaleRequest, match="run /care digest again"):
        ShareButton.parse(value)


@given(st.text(max_size=40))
def test_any_text_parses_to_a_value_or_is_stale(raw: str) -> None:
    """No input makes a parser fail any other way; what it accepts encodes back to itself."""
    for codec in (CaseButton, ModalMetadata, ShareButton):
        try:
            value = codec.parse(raw)
        except StaleRequest:
            continue
        assert codec.parse(value.encode()) == value
