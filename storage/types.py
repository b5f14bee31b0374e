"""Column types shared by the models: timezone-aware UTC datetimes on SQLite and PostgreSQL, and
text from social networks, unbounded wherever the database would enforce a length."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, String, Text
from sqlalchemy.types import TypeDecorator, TypeEngine


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware datetimes as UTC and always hand back aware UTC (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC, dropping the zone on SQLite where it would be stored as text."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return aware UTC."""
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def network_text(length: int) -> TypeEngine[str]:
    """Return a column type for text a network (or a person) wrote: TEXT on PostgreSQL, which
    enforces lengths (30 ZWJ family emoji are a 210-character display name); SQLite never
    enforces a VARCHAR length, so its declared type stays as first migrated."""
    return String(length).with_variant(Text(), "postgresql")
