"""The Bluesky session kept in the database, so a restart reuses it instead of spending
`createSession`'s limit (30 per 5 minutes, 300 a day): loaded at login, saved whenever atproto
creates or refreshes it, forgotten when Bluesky no longer takes it.
"""

from __future__ import annotations

from typing import Any

from atproto import SessionEvent

from bot.clock import Clock
from storage import intake
from storage.engine import SessionFactory

__all__ = ["SavedSession"]


class SavedSession:
    """One account's exported atproto session, stored under `key` (none without a database)."""

    def __init__(self, sessions: SessionFactory | None, *, key: str, clock: Clock) -> None:
        self._sessions = sessions
        self._key = key
        self._clock = clock

    async def load(self) -> str | None:
        """Return the saved session string, if any."""
        if self._sessions is None:
            return None
        async with self._sessions() as s:
            return await intake.get_source_session(s, network=self._key)

    async def save(self, event: Any, session: Any) -> None:
        """Store the session atproto just created or refreshed (its `on_session_change` hook)."""
        if self._sessions is None or event not in (SessionEvent.CREATE, SessionEvent.REFRESH):
            return
        async with self._sessions() as s, s.begin():
            await intake.save_source_session(
                s, network=self._key, data=session.export(), now=self._clock()
            )

    async def forget(self) -> None:
        """Delete the saved session (Bluesky revoked it or its refresh token ran out)."""
        if self._sessions is None:
            return
        async with self._sessions() as s, s.begin():
            await intake.delete_source_session(s, network=self._key)
