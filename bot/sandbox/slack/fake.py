"""`FakeSlack`: the sandbox Slack served on 127.0.0.1, and the request plumbing of its Web API.

It answers the Web API methods Carebot uses with the response shapes Slack documents, keeps
messages, threads, ephemerals, views and response_url posts in memory, validates every Block Kit
payload (see `bot.sandbox.blockkit`), and has knobs for the failures real Slack produces. This
module reads a call (query, JSON or form; bearer or form token), applies outages, injected
failures and auth in Slack's order, runs the method and records the call; the methods live in
their families (`chat`, `views`, `conversations`, `files`), the state in `state`. It serves
`carebot demo`, the end-to-end tests and the ingest benchmark, so the per-call path is O(1).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from aiohttp import web

from bot.sandbox.loopback import LoopbackServer
from bot.sandbox.slack.chat import ChatMethods
from bot.sandbox.slack.conversations import ConversationMethods
from bot.sandbox.slack.files import FakeFiles
from bot.sandbox.slack.records import JSON, ApiHandler, SlackApiFailure, SlackCall
from bot.sandbox.slack.views import ViewMethods
from bot.sandbox.socket_mode import APP_TOKEN, LINK_PATH, FakeSocketMode

# Fields slack_sdk sends as JSON strings in form bodies, and the error Slack gives when one is bad.
_JSON_FIELDS = {
    "blocks": "invalid_blocks_format",
    "attachments": "invalid_attachments",
    "metadata": "invalid_metadata_format",
    "view": "invalid_arguments",
}


class FakeSlack(ChatMethods, ViewMethods, ConversationMethods, LoopbackServer):
    """A fake Slack Web API server with recording, inspection and failure knobs."""

    # aiohttp's default, as before: open Socket Mode links are closed before the runner stops.
    shutdown_timeout = 60.0

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-sandbox",
        signing_secret: str = "sandbox-signing-secret",
        team_id: str = "T0SANDBOX",
        bot_user_id: str = "U0CAREBOT",
        clock: Callable[[], float] = time.monotonic,
        app_token: str = APP_TOKEN,
    ) -> None:
        super().__init__(
            bot_token=bot_token,
            signing_secret=signing_secret,
            team_id=team_id,
            bot_user_id=bot_user_id,
            clock=clock,
        )
        self._methods: dict[str, ApiHandler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "usergroups.users.list": self._usergroups_users_list,
        }
        self.uploads = FakeFiles(self)
        self._methods.update(self.uploads.methods())
        # apps.connections.open and the WebSocket behind it (bot.sandbox.socket_mode).
        self.socket_mode = FakeSocketMode(self, app_token=app_token, clock=clock)

    # -- lifecycle ---------------------------------------------------------------------------

    def app(self) -> web.Application:
        """Return the aiohttp application: the Web API, response_urls, uploads, Socket Mode."""
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response/{response_id}", self._handle_response_url)
        self.uploads.routes(app)
        app.router.add_get(LINK_PATH, self.socket_mode.handle_link)
        return app

    async def stop(self) -> None:
        """Close the Socket Mode links, stop serving and release the port."""
        if self.running:
            await self.socket_mode.close_all()
        await super().stop()

    @property
    def api_url(self) -> str:
        """Return the Web API base URL a bot puts in CAREBOT_SLACK_API_URL."""
        return f"{self.base_url}/api/"

    # -- HTTP plumbing -----------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args, token, bad_field = await self._read_args(request)
        from_header = request.headers.get("Authorization", "").startswith("Bearer ")
        try:
            body = self._dispatch(method, args, token, bad_field, from_header=from_header)
            status, headers = 200, {}
        except SlackApiFailure as failure:
            body = {"ok": False, "error": failure.error, **failure.extra}
            status, headers = failure.status, failure.headers
        call = SlackCall(
            method=method,
            args=args,
            status=status,
            ok=bool(body.get("ok")),
            error=body.get("error"),
            at=self.clock(),
        )
        self.calls.append(call)
        self._calls_by_method.setdefault(method, []).append(call)
        return web.json_response(body, status=status, headers=headers)

    async def _read_args(self, request: web.Request) -> tuple[JSON, str | None, str | None]:
        """Merge query, JSON or form arguments; decode JSON-string fields; pull out the token."""
        args: JSON = dict(request.query)
        bad_field: str | None = None
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except json.JSONDecodeError:
                    body = None
                if isinstance(body, dict):
                    args.update(body)
                else:
                    bad_field = "invalid_json"
            else:
                form = await request.post()
                args.update({k: v for k, v in form.items() if isinstance(v, str)})
        for name, error in _JSON_FIELDS.items():
            if isinstance(args.get(name), str):
                try:
                    args[name] = json.loads(args[name])
                except json.JSONDecodeError:
                    bad_field = bad_field or error
        token = args.pop("token", None)
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth.removeprefix("Bearer ").strip()
        return args, token if isinstance(token, str) else None, bad_field

    def _dispatch(
        self,
        method: str,
        args: JSON,
        token: str | None,
        bad_field: str | None,
        *,
        from_header: bool = True,
    ) -> JSON:
        """Apply outages, injected failures, auth and rate limits, then run the method."""
        now = self.clock()
        if self._outage_until is not None:
            if now < self._outage_until:
                raise SlackApiFailure("service_unavailable", status=503)
            self._outage_until = None
        self._raise_injected_failure(method)
        if method == "apps.connections.open":
            # The one method that takes the app-level token, not the bot token.
            return {"ok": True, **self.socket_mode.connections_open(token, from_header=from_header)}
        handler = self._methods.get(method)
        if handler is None:
            raise SlackApiFailure("unknown_method")
        if token is None:
            raise SlackApiFailure("not_authed")
        if token not in self.valid_tokens:
            raise SlackApiFailure("invalid_auth")
        if bad_field is not None:
            raise SlackApiFailure(bad_field)
        return {"ok": True, **handler(args)}

    # -- auth.* ------------------------------------------------------------------------------

    def _auth_test(self, args: JSON) -> JSON:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": "Sandbox",
            "user": self.users[self.bot_user_id].name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }
