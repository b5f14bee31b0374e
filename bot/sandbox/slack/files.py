"""The sandbox Slack's file uploads, as Slack's current flow documents them.

1. `files.getUploadURLExternal` (filename, length in bytes, optional alt_txt ≤ 1,000 characters)
   answers an `upload_url` and a `file_id`.
2. A POST of the bytes to that URL (raw, or multipart form-encoded) answers HTTP 200 `OK - <size>`;
   anything but exactly `length` bytes is refused with a non-200, as is an unknown URL.
3. `files.completeUploadExternal` (files: a JSON array of {id, title}; optional channel_id,
   initial_comment, thread_ts) finishes it once: with a channel the file is shared there in a
   message from the bot (in the thread of `thread_ts`), without one it stays private. A file id
   that was never issued, never uploaded or already completed is `file_not_found`.

The bytes are kept so tests (and the sandbox page) can look at what the bot uploaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.sandbox.slack.records import SlackApiFailure

if TYPE_CHECKING:
    from bot.sandbox.slack.fake import FakeSlack
    from bot.sandbox.slack.records import JSON

ALT_TEXT_LIMIT = 1000
MAX_UPLOAD_BYTES = 1024 * 1024 * 1024
MIME_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif"}


@dataclass
class FakeFile:
    """A file as the sandbox holds it, from its upload URL to its share."""

    id: str
    filename: str
    length: int
    alt_txt: str
    title: str = ""
    data: bytes | None = None
    completed: bool = False
    channel: str | None = None

    @property
    def mimetype(self) -> str:
        """Return the MIME type Slack infers from the file name."""
        extension = self.filename.rsplit(".", 1)[-1].lower() if "." in self.filename else ""
        return MIME_TYPES.get(extension, "application/octet-stream")

    def as_dict(self, base_url: str) -> JSON:
        """Render the file object as Slack's APIs show it."""
        return {
            "id": self.id,
            "name": self.filename,
            "title": self.title or self.filename,
            "mimetype": self.mimetype,
            "filetype": self.filename.rsplit(".", 1)[-1].lower() if "." in self.filename else "",
            "size": len(self.data or b""),
            "alt_txt": self.alt_txt,
            "url_private": f"{base_url}/files/{self.id}/{self.filename}",
            "is_public": self.channel is not None,
        }


class FakeFiles:
    """The upload methods and the upload URL of one FakeSlack."""

    def __init__(self, slack: FakeSlack) -> None:
        self.slack = slack
        self.files: dict[str, FakeFile] = {}

    def methods(self) -> dict[str, Any]:
        """Return the Web API methods this adds, by name."""
        return {
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
        }

    def routes(self, app: web.Application) -> None:
        """Serve the upload URLs and, for looking at them, the files' bytes."""
        app.router.add_post("/upload/v1/{file_id}", self._upload)
        app.router.add_get("/files/{file_id}/{name}", self._download)

    # -- Web API methods -------------------------------------------------------------------

    def _get_upload_url(self, args: JSON) -> JSON:

        filename = args.get("filename")
        if not isinstance(filename, str) or not filename.strip():
            raise SlackApiFailure("invalid_arguments")
        try:
            length = int(str(args.get("length")))
        except ValueError:
            raise SlackApiFailure("invalid_arguments") from None
        if length <= 0:
            raise SlackApiFailure("invalid_arguments")
        if length > MAX_UPLOAD_BYTES:
            raise SlackApiFailure("file_upload_size_restricted")
        alt_txt = str(args.get("alt_txt") or "")
        if len(alt_txt) > ALT_TEXT_LIMIT:
            raise SlackApiFailure("alt_txt_too_large")
        file_id = self.slack._next_id("F")
        self.files[file_id] = FakeFile(
            id=file_id, filename=filename, length=length, alt_txt=alt_txt
        )
        return {"upload_url": f"{self.slack.base_url}/upload/v1/{file_id}", "file_id": file_id}

    def _complete_upload(self, args: JSON) -> JSON:

        listed = args.get("files")
        if isinstance(listed, str):
            try:
                listed = json.loads(listed)
            except json.JSONDecodeError:
                raise SlackApiFailure("invalid_arguments") from None
        if not isinstance(listed, list) or not listed:
            raise SlackApiFailure("invalid_arguments")
        chosen: list[FakeFile] = []
        for item in listed:
            file = self.files.get(str(item.get("id"))) if isinstance(item, dict) else None
            if file is None or file.data is None or file.completed:
                raise SlackApiFailure("file_not_found")
            chosen.append(file)
        channel_id = args.get("channel_id") or None
        thread_ts = args.get("thread_ts") or None
        channel = self.slack._resolve_channel(channel_id) if channel_id else None
        if channel is not None and self.slack.bot_user_id not in self.slack._members(channel):
            raise SlackApiFailure("not_in_channel")
        if thread_ts is not None and channel is None:
            raise SlackApiFailure("invalid_arguments")
        for item, file in zip(listed, chosen, strict=True):
            file.title = str(item.get("title") or file.filename)
            file.completed = True
            file.channel = channel.id if channel is not None else None
        if channel is not None:
            message = self.slack._store_message(
                channel,
                text=str(args.get("initial_comment") or ""),
                blocks=[],
                user=self.slack.bot_user_id,
                thread_ts=str(thread_ts) if thread_ts else None,
                from_bot=True,
            )
            message.files = [f.as_dict(self.slack.base_url) for f in chosen]
        return {"files": [{"id": f.id, "title": f.title} for f in chosen]}

    # -- HTTP --------------------------------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.Response:
        file = self.files.get(request.match_info["file_id"])
        if file is None or file.completed:
            return web.Response(status=404, text="no such upload")
        if request.content_type.startswith("multipart/"):
            data = b""
            async for part in await request.multipart():
                if getattr(part, "filename", None) or getattr(part, "name", "") == "file":
                    data = await part.read()  # type: ignore[union-attr]
                    break
        else:
            data = await request.read()
        if len(data) != file.length:
            return web.Response(
                status=400, text=f"expected {file.length} bytes, received {len(data)}"
            )
        file.data = data
        return web.Response(text=f"OK - {len(data)}")

    async def _download(self, request: web.Request) -> web.Response:
        file = self.files.get(request.match_info["file_id"])
        if file is None or file.data is None:
            return web.Response(status=404, text="no such file")
        return web.Response(body=file.data, content_type=file.mimetype)
