"""The sandbox Slack's views.* methods, trigger ids and what a user does to a modal.

views.open (a modal, on a trigger_id that works once and expires after 3 s), views.update (by
view_id or external_id, with hash conflicts) and views.publish (App Home); closing a modal stack,
and applying a bot's answer to a view_submission (update, push, clear, errors) as Slack would.
"""

from __future__ import annotations

import secrets
from typing import Any

from bot.sandbox import blockkit
from bot.sandbox.slack.records import JSON, SlackApiFailure, StoredView, _Trigger
from bot.sandbox.slack.state import _USER_ID, SlackState

TRIGGER_TTL_SECONDS = 3.0
MAX_VIEW_STACK = 3


class ViewMethods(SlackState):
    """views.open, views.update, views.publish and the modal lifecycle around them."""

    def issue_trigger_id(self, user_id: str | None = None) -> str:
        """Issue a trigger_id as Slack does with an interaction; it expires 3 s later."""
        n = next(self._ids)
        trigger_id = f"{7_000_000_000_000 + n}.{7_000_000_000 + n}.{secrets.token_hex(16)}"
        self._triggers[trigger_id] = _Trigger(issued_at=self.clock(), user_id=user_id)
        return trigger_id

    def close_view(self, view_id: str) -> None:
        """Close a modal as its user's close button does: the whole stack it belongs to goes."""
        view = self.views[view_id]
        stack = self._view_stacks.get(view.user_id or "", [])
        for stacked in [*stack, view_id]:
            self.views[stacked].closed = True
        if view_id in stack:
            stack.clear()

    def view_submitted(self, view_id: str, response: Any) -> None:
        """Apply a bot's answer to a view_submission to the stored modal, as Slack would."""
        action = response.get("response_action") if isinstance(response, dict) else None
        view = self.views[view_id]
        stack = self._view_stacks.get(view.user_id or "", [])
        if action == "errors":
            return
        if action == "update" and isinstance(response, dict):
            errors = blockkit.validate_view(response.get("view"))
            if errors:
                self._record_violations("view_submission", errors)
                return
            view.payload = self._render_view(
                view.id,
                response["view"],
                root_view_id=view.payload["root_view_id"],
                previous_view_id=view.payload["previous_view_id"],
            )
        elif action == "push" and isinstance(response, dict):
            errors = blockkit.validate_view(response.get("view"))
            if errors:
                self._record_violations("view_submission", errors)
                return
            self._push_view(view.user_id, response["view"])
        elif action == "clear":
            for stacked in stack:
                self.views[stacked].closed = True
            stack.clear()
        else:
            view.closed = True
            if view_id in stack:
                stack.remove(view_id)

    # -- views.* -----------------------------------------------------------------------------

    def _render_view(
        self,
        view_id: str,
        view: JSON,
        *,
        root_view_id: str | None,
        previous_view_id: str | None,
    ) -> JSON:
        """Build the view object Slack returns and stores, with a fresh hash."""
        n = next(self._ids)
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "blocks": view.get("blocks") or [],
            "private_metadata": view.get("private_metadata") or "",
            "callback_id": view.get("callback_id") or "",
            "state": {"values": {}},
            "hash": f"{1_700_000_000 + n}.sb{n:06d}",
            "title": view.get("title"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": previous_view_id,
            "root_view_id": root_view_id or view_id,
            "app_id": self.app_id,
            "external_id": view.get("external_id") or "",
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }

    def _use_trigger(self, trigger_id: Any) -> _Trigger:
        trigger = self._triggers.get(trigger_id) if isinstance(trigger_id, str) else None
        if trigger is None:
            raise SlackApiFailure("invalid_trigger_id")
        if self.clock() - trigger.issued_at > TRIGGER_TTL_SECONDS:
            raise SlackApiFailure("expired_trigger_id")
        if trigger.used:
            raise SlackApiFailure("exchanged_trigger_id")
        trigger.used = True
        return trigger

    def _store_view(self, view_id: str, user_id: str | None, payload: JSON) -> StoredView:
        stored = StoredView(id=view_id, user_id=user_id, payload=payload)
        self.views[view_id] = stored
        if payload["external_id"]:
            self._external_ids[payload["external_id"]] = view_id
        return stored

    def _push_view(self, user_id: str | None, view: JSON) -> StoredView:
        stack = self._view_stacks.get(user_id or "")
        if not stack:
            raise SlackApiFailure("invalid_arguments")
        if len(stack) >= MAX_VIEW_STACK:
            raise SlackApiFailure("push_limit_reached")
        view_id = self._next_id("V")
        payload = self._render_view(
            view_id, view, root_view_id=stack[0], previous_view_id=stack[-1]
        )
        stack.append(view_id)
        return self._store_view(view_id, user_id, payload)

    def _views_open(self, args: JSON) -> JSON:
        if not args.get("trigger_id"):
            raise SlackApiFailure("invalid_arguments")
        view = self._check_view("views.open", args.get("view"))
        if view["type"] != "modal":
            raise SlackApiFailure("invalid_arguments")
        trigger = self._use_trigger(args["trigger_id"])
        view_id = self._next_id("V")
        payload = self._render_view(view_id, view, root_view_id=None, previous_view_id=None)
        self._view_stacks[trigger.user_id or ""] = [view_id]
        stored = self._store_view(view_id, trigger.user_id, payload)
        return {"view": stored.payload}

    def _views_update(self, args: JSON) -> JSON:
        view_id = args.get("view_id") or self._external_ids.get(str(args.get("external_id")))
        if not args.get("view_id") and not args.get("external_id"):
            raise SlackApiFailure("invalid_arguments")
        stored = self.views.get(str(view_id))
        if stored is None or stored.closed:
            raise SlackApiFailure("not_found")  # Slack forgets a view once the user closes it
        view = self._check_view("views.update", args.get("view"))
        if args.get("hash") and args["hash"] != stored.hash:
            raise SlackApiFailure("hash_conflict")
        # An update that omits external_id keeps the one the view was opened with.
        view = {"external_id": stored.payload["external_id"], **view}
        stored.payload = self._render_view(
            stored.id,
            view,
            root_view_id=stored.payload["root_view_id"],
            previous_view_id=stored.payload["previous_view_id"],
        )
        return {"view": stored.payload}

    def _views_publish(self, args: JSON) -> JSON:
        user_id = args.get("user_id")
        if not isinstance(user_id, str) or not _USER_ID.match(user_id):
            raise SlackApiFailure("invalid_arguments")
        view = self._check_view("views.publish", args.get("view"))
        if view["type"] != "home":
            raise SlackApiFailure("invalid_arguments")
        current = self.home_views.get(user_id)
        if current is not None and args.get("hash") and args["hash"] != current.hash:
            raise SlackApiFailure("hash_conflict")
        view_id = current.id if current is not None else self._next_id("V")
        payload = self._render_view(view_id, view, root_view_id=None, previous_view_id=None)
        stored = self._store_view(view_id, user_id, payload)
        self.home_views[user_id] = stored
        return {"view": stored.payload}
