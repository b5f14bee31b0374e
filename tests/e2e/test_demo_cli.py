"""`carebot demo` as a user runs it: `python -m bot demo` in a subprocess, with and without
`--http` and `--keep`, checking exit codes, the transcript, that what `--keep` prints lets another
client (and the sandbox page) use the still-running stack, and that nothing is left running or on
disk once it stops."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import aiohttp
import pytest

from bot.demo import ANA, LEAD
from bot.demo.render import EMOJI
from bot.sandbox.stack import BOT_TOKEN
from bot.sources.registry import network_spec
from tests.e2e.demo_helpers import (
    DEMO_BOUND,
    NETWORKS,
    SERVERS,
    STOP_BOUND,
    assert_transcript_tells_the_story,
    environment,
    exists,
    header_value,
    label,
    new_cards,
    nothing_answers,
)


async def start_demo(cwd: Path, *args: str) -> asyncio.subprocess.Process:
    """Start `python -m bot demo` as a user would, with its output piped to the test."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "demo",
        *args,
        cwd=cwd,
        env=environment(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.mark.parametrize("args", [(), ("--http",)], ids=["socket-mode", "http"])
async def test_carebot_demo_exits_0_and_leaves_nothing_behind(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    proc = await start_demo(tmp_path, *args)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), DEMO_BOUND)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    transcript, errors = out.decode(), err.decode()
    assert proc.returncode == 0, transcript[-3000:] + errors
    assert "Traceback" not in errors, errors
    assert " ERROR " not in errors, errors
    assert_transcript_tells_the_story(transcript)
    assert "\nDemo finished in " in transcript
    assert not exists(Path(header_value(transcript, "database")).parent)
    for name in SERVERS:
        assert await nothing_answers(header_value(transcript, name)), name


async def read_until(stream: asyncio.StreamReader, marker: str, seen: list[str]) -> None:
    """Collect lines from `stream` into `seen` until one starts with `marker`."""
    while True:
        line = (await stream.readline()).decode()
        if not line:
            raise AssertionError(f"output ended before {marker!r}:\n{''.join(seen)[-3000:]}")
        seen.append(line)
        if line.startswith(marker):
            return


def database(env: Mapping[str, str]) -> Path:
    """Return the SQLite file a DATABASE_URL names."""
    return Path(env["DATABASE_URL"].split(":///", 1)[1])


def env_lines(transcript: str) -> Mapping[str, str]:
    return dict(
        line.split("=", 1) for line in transcript.splitlines() if re.match(r"^[A-Z_]+=", line)
    )


async def test_keep_leaves_everything_up_until_ctrl_c(tmp_path: Path) -> None:
    proc = await start_demo(tmp_path, "--keep")
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        await asyncio.wait_for(
            read_until(proc.stdout, "# The transcript goes on below", seen), DEMO_BOUND
        )
        printed = env_lines("".join(seen))
        # What --keep prints is enough for another client: the sandbox and the bot still answer.
        assert printed["SLACK_BOT_TOKEN"] == BOT_TOKEN
        async with aiohttp.ClientSession() as http:
            async with http.post(
                printed["CAREBOT_SLACK_API_URL"] + "auth.test",
                headers={"Authorization": f"Bearer {printed['SLACK_BOT_TOKEN']}"},
            ) as response:
                assert (await response.json())["ok"] is True
            health_line = next(line for line in seen if line.startswith("# Health: GET "))
            health = health_line.removeprefix("# Health: GET ").strip()
            async with http.get(health) as response:
                assert response.status == 200
        assert exists(database(printed))
        # The page that shows the channel and lets a person act in it.
        watch = next(line for line in seen if line.startswith("Watch it: "))
        page = watch.split()[2]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", page), watch
        async with aiohttp.ClientSession() as http:
            async with http.get(page) as response:
                assert response.status == 200
                assert "<title>Carebot sandbox</title>" in await response.text()
            async with http.get(f"{page}api/state?user={LEAD.user_id}") as response:
                state = await response.json()
        assert state["user"] == LEAD.user_id
        assert sum(1 for m in state["messages"] if m["blocks"]) >= len(new_cards())
        # The page offers a mention on every network, and each one typed there becomes a card.
        assert [(n["id"], n["label"]) for n in state["networks"]] == [
            (n, label(n)) for n in NETWORKS
        ]
        handles = {"x": "pat_new", "bluesky": "pat-new.bsky.social", "mastodon": "pat@new.example"}
        async with aiohttp.ClientSession() as http:
            for network, handle in handles.items():
                form = {"user": ANA.user_id, "network": network, "handle": handle}
                form |= {"name": "Pat", "followers": "7", "text": f"hello from {network}"}
                async with http.post(f"{page}api/mentions", json=form) as response:
                    assert response.status == 200, await response.text()
            deadline = time.monotonic() + STOP_BOUND
            while True:
                async with http.get(f"{page}api/state?user={ANA.user_id}") as response:
                    shown = str((await response.json())["messages"])
                if all(f"hello from {n}" in shown for n in NETWORKS):
                    break
                assert time.monotonic() < deadline, shown[-2000:]
                await asyncio.sleep(0.2)

        proc.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = await asyncio.wait_for(proc.communicate(), STOP_BOUND)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    transcript = "".join(seen) + out.decode()
    assert proc.returncode == 0, transcript[-3000:] + err.decode()
    assert "Traceback" not in err.decode(), err.decode()
    # The script's story is told before --keep waits; the page's three mentions come after it.
    assert_transcript_tells_the_story("".join(seen))
    after = out.decode()
    for network, handle in handles.items():
        spec = network_spec(network)
        assert spec is not None
        head = f"│ {EMOJI[spec.icon.strip(':')]} {spec.label} · Pat @{handle} · 7 followers"
        assert head in after, network
    assert "\nDemo stopped in " in transcript
    assert not exists(database(printed).parent)
    assert await nothing_answers(printed["CAREBOT_SLACK_API_URL"] + "auth.test")
    assert await nothing_answers(printed["CAREBOT_X_API_URL"] + "/2/users/me")
    assert await nothing_answers(health)
    assert await nothing_answers(page)
