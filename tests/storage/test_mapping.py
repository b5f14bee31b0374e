"""Rows become domain values with every field the value has, its enums typed."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

from sqlalchemy import select

from bot.domain import Case as CaseValue
from bot.domain import CaseStatus, Priority, ResolveReason
from storage.engine import SessionFactory
from storage.mapping import case_value
from storage.models import Case

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


async def test_a_stored_case_maps_field_for_field(sessions: SessionFactory) -> None:
    async with sessions() as s, s.begin():
        s.add(
            Case(
                network="bluesky",
                external_id="at://did:plc:x/app.bsky.feed.post/1",
                conversation_id="c1",
                author_id="did:plc:x",
                author_handle="dana.bsky.social",
                author_name="Dana",
                text="hi",
                url="https://bsky.app/profile/dana/post/1",
                posted_at=AT,
                ingested_at=AT,
                last_customer_at=AT,
                priority=Priority.URGENT,
                status=CaseStatus.RESOLVED,
                resolve_reason=ResolveReason.DUPLICATE,
                resolve_note="see the other one",
            )
        )
    async with sessions() as s:
        row = (await s.execute(select(Case))).scalar_one()
    value = case_value(row)
    assert isinstance(value, CaseValue)
    for field in fields(CaseValue):
        assert getattr(value, field.name) == getattr(row, field.name), field.name
    assert type(value.status) is CaseStatus
    assert type(value.priority) is Priority
    assert value.resolve_reason is ResolveReason.DUPLICATE
    assert value.state_version == 1
