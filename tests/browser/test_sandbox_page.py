"""The sandbox page in a real browser (Debian's Chromium, driven by Playwright): the real bot
between the sandbox Slack and X, and people clicking in the page as agents and a lead.

Each test saves screenshots in its temporary folder. Without /usr/bin/chromium the tests are
skipped, except on CI (`CI` set), where `.ci/run` installs it and a missing browser is a failure.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, Route, async_playwright, expect

from bot.sandbox.simulator import SlackSimulator
from bot.sandbox.stack import Sandbox, running_bot, sandbox
from bot.sandbox.web import Person, SandboxWeb, x_sink

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ANA = Person("U0ANA", "Ana", "agent")
BEN = Person("U0BEN", "Ben", "agent")
PRIYA = Person("U0PRIYA", "Priya", "lead")
PEOPLE = (ANA, BEN, PRIYA)
# Playwright's own waits (expect, locators) bound each step; generous for a loaded machine.
STEP_MS = 20_000

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium package")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)


@dataclass
class World:
    stack: Sandbox
    web: SandboxWeb
    browser: Browser
    shots: Path

    async def open_as(self, person: Person) -> Page:
        """Open the page in a browser window of its own, acting as `person`."""
        context = await self.browser.new_context(
            viewport={"width": 1400, "height": 900}, timezone_id="UTC", locale="en-GB"
        )
        page = await context.new_page()
        page.set_default_timeout(STEP_MS)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("dialog", lambda dialog: errors.append(f"a dialog opened: {dialog.message}"))
        self.page_errors.append(errors)
        await page.goto(f"{self.web.url}?as={person.user_id}")
        await expect(page.locator("#live")).to_have_text("● live")
        await expect(page.locator("#acting")).to_have_value(person.user_id)
        return page

    async def shot(self, page: Page, name: str) -> None:
        await page.screenshot(path=self.shots / f"{name}.png")

    page_errors: list[list[str]]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_world(tmp_path) as world:
        yield world


@asynccontextmanager
async def running_world(tmp_path: Path, **settings: str) -> AsyncIterator[World]:
    """Run the sandbox, the bot (with `settings` over the defaults), the page and a browser."""
    async with sandbox() as stack:
        for person in PEOPLE:
            stack.slack.add_user(person.user_id, name=person.name.lower(), display_name=person.name)
        configured = stack.settings(
            f"sqlite+aiosqlite:///{tmp_path / 'page.db'}",
            poll_interval="1s",
            agents=f"{ANA.user_id},{BEN.user_id}",
            leads=PRIYA.user_id,
            **settings,
        )
        async with (
            running_bot(configured, pacing_per_second=None) as bot,
            SlackSimulator(
                stack.slack, events_url=bot.events_url, signing_secret=stack.slack.signing_secret
            ) as sim,
            async_playwright() as playwright,
        ):
            web = SandboxWeb(
                slack=stack.slack,
                sim=sim,
                channel=stack.channel,
                people=PEOPLE,
                networks={"x": x_sink(stack.x)},
            )
            await web.start()
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
            )
            shots = tmp_path / "screenshots"
            shots.mkdir()
            world = World(stack=stack, web=web, browser=browser, shots=shots, page_errors=[])
            try:
                yield world
            finally:
                await browser.close()
                await web.stop()
            assert [e for errors in world.page_errors for e in errors] == []
            assert stack.slack.violations == []


def card(page: Page, handle: str) -> Locator:
    """Return the card for the mention by @handle in the channel (not a thread's copy of it)."""
    return page.locator(
        "#messages article.msg:not(.ephemeral)",
        has=page.locator('[data-block="card_head"]', has_text=f"@{handle}"),
    )


async def test_cards_appear_as_mentions_arrive_and_hostile_text_stays_text(world: World) -> None:
    page = await world.open_as(ANA)
    await expect(page.locator("#messages")).to_contain_text("No messages yet")

    # One mention arrives on X by itself, one is typed into the page's form.
    world.stack.x.add_mention("@acmehelp my order #4411 never arrived", author_handle="dana_k")
    await expect(page.locator("#messages article.msg")).to_have_count(1)
    await expect(page.locator("#messages")).to_contain_text("my order #4411 never arrived")

    hostile = '<img src=x onerror="window.pwned=1"> <script>window.pwned=2</script> & co'
    form = page.locator("#new-mention")
    await form.get_by_label("Handle").fill("mallory")
    await form.get_by_label("Name").fill("<b>Mallory</b>")
    await form.get_by_label("Post").fill(hostile)
    await form.get_by_role("button", name="Post mention", exact=True).click()
    await expect(page.locator("#mention-note")).to_contain_text("Posted")
    await expect(page.locator("#messages article.msg")).to_have_count(2)
    mallory = page.locator("#messages article.msg", has_text="@mallory")
    # Shown exactly as typed, markup and all; nothing in it ran or became an element.
    await expect(mallory).to_contain_text(hostile)
    await expect(mallory).to_contain_text("<b>Mallory</b>")
    assert await page.evaluate("window.pwned") is None
    assert await mallory.locator("img, script").count() == 0
    # The bot bolds the name; the customer's own <b> tags are characters inside that bold.
    assert "<b>Mallory</b>" in await mallory.locator("b").all_inner_texts()

    # A bad form says why and posts nothing.
    before = len(world.stack.x.tweets)
    await form.get_by_label("Handle").fill("not a handle!")
    await form.get_by_role("button", name="Post mention", exact=True).click()
    await expect(page.locator("#toasts")).to_contain_text("An X handle is 1 to 15 letters")
    assert len(world.stack.x.tweets) == before
    await world.shot(page, "cards")


async def test_claim_shows_the_owner_and_a_second_claim_is_told_who_owns_it(
    world: World,
) -> None:
    world.stack.x.add_mention("@acmehelp is the app down?", author_handle="ops_lee")
    ana = await world.open_as(ANA)
    ben = await world.open_as(BEN)
    for page in (ana, ben):
        await expect(
            card(page, "ops_lee").get_by_role("button", name="Claim", exact=True)
        ).to_be_visible()

    # Ben's Slack has not redrawn the card yet: his window hears no news until he looks again.
    frozen = True

    async def hold(route: Route) -> None:
        if frozen:
            await route.abort()
        else:
            await route.continue_()

    await ben.route("**/api/state*", hold)

    await card(ana, "ops_lee").get_by_role("button", name="Claim", exact=True).click()
    ana_card = card(ana, "ops_lee")
    await expect(ana_card.locator(".b-field", has_text="Owner")).to_contain_text("@Ana")
    await expect(ana_card.get_by_role("button", name="Claim", exact=True)).to_have_count(0)
    await expect(ana_card.get_by_role("button", name="Release", exact=True)).to_be_visible()
    await expect(ana_card).to_contain_text("1 reply")
    await ana_card.get_by_role("button", name="1 reply", exact=True).click()
    await expect(ana.locator("#thread")).to_contain_text("@Ana claimed this.")
    await world.shot(ana, "claimed")

    await card(ben, "ops_lee").get_by_role("button", name="Claim", exact=True).click()
    frozen = False
    await ben.reload()
    notice = ben.locator("#messages article.msg.ephemeral")
    await expect(notice).to_contain_text("Only visible to you")
    await expect(notice).to_contain_text("@Ana already owns this case")
    await expect(card(ben, "ops_lee").locator(".b-field", has_text="Owner")).to_contain_text("@Ana")
    # Only Ben sees it; Ana's channel has no such line.
    await expect(ana.locator("#messages article.msg.ephemeral")).to_have_count(0)
    await world.shot(ben, "told-who-owns-it")


async def test_reply_modal_keeps_an_over_long_reply_and_sends_a_good_one(world: World) -> None:
    world.stack.x.add_mention("@acmehelp do you ship to Canada?", author_handle="sam_asks")
    page = await world.open_as(BEN)
    await card(page, "sam_asks").get_by_role("button", name="Reply", exact=True).click()
    modal = page.get_by_role("dialog")
    await expect(modal).to_be_visible()
    await expect(modal.locator("#modal-title")).to_have_text("Reply on X")
    await expect(modal).to_contain_text("do you ship to Canada?")
    box = modal.get_by_label("Your reply")

    too_long = "Yes! " + "We ship everywhere. " * 20
    await box.fill(too_long)
    await modal.get_by_role("button", name="Send", exact=True).click()
    under_the_box = modal.locator(".b-input:has(textarea) .input-error")
    await expect(under_the_box).to_have_text(
        f"Your reply is {len(too_long.strip())} characters; the limit is 280."
    )
    await expect(box).to_have_value(too_long)
    assert world.stack.x.posted_replies == []
    await world.shot(page, "reply-too-long")

    good = "Hi Sam! Yes, we ship to Canada: 3-5 business days, duties included."
    await box.fill(good)
    await modal.get_by_label("Resolve after sending").uncheck()
    await modal.get_by_role("button", name="Send", exact=True).click()
    await expect(modal).to_contain_text("Reply sent to @sam_asks.")
    # The confirmation is drawn from the bot's answer, which comes after X took the post.
    (posted,) = world.stack.x.posted_replies
    assert posted["text"].endswith(good)
    await modal.get_by_role("button", name="Done", exact=True).click()
    await expect(modal).to_be_hidden()

    sam = card(page, "sam_asks")
    await expect(sam.locator(".b-field", has_text="Status")).to_contain_text("Replied by @Ben")
    await expect(sam).to_contain_text("(edited)")
    await sam.locator(".open-thread").click()
    thread = page.locator("#thread")
    # Reply on an unclaimed case claimed it, and the thread says both.
    await expect(thread).to_contain_text("@Ben claimed this.")
    await expect(thread).to_contain_text("@Ben replied on X:")
    await expect(thread).to_contain_text(good)
    await world.shot(page, "replied")


async def test_care_digest_as_the_lead_and_share_it(world: World) -> None:
    world.stack.x.add_mention("@acmehelp where is my invoice?", author_handle="ola_n")
    page = await world.open_as(ANA)
    await expect(card(page, "ola_n")).to_be_visible()
    await page.locator("#acting").select_option(PRIYA.user_id)
    await expect(page).to_have_url(f"{world.web.url}?as={PRIYA.user_id}")

    await page.get_by_label("Message").fill("/care digest")
    await page.get_by_label("Message").press("Enter")
    digest = page.locator("#messages article.msg.ephemeral", has_text="Care digest")
    await expect(digest).to_contain_text("Only visible to you")
    await expect(digest.locator(".b-field", has_text="Received")).to_contain_text("1")
    await expect(digest.locator(".b-field", has_text="Still open")).to_contain_text("1")
    await world.shot(page, "digest")

    await digest.get_by_role("button", name="Share to channel", exact=True).click()
    shared = page.locator("#messages article.msg:not(.ephemeral)", has_text="Care digest")
    await expect(shared).to_contain_text("Shared by @Priya")
    # Then the charts, uploaded as a PNG with Slack's upload flow and drawn in the channel.
    charts = page.locator("#messages article.msg", has_text="Charts for this digest")
    picture = charts.locator("figure.b-image img")
    await expect(picture).to_be_visible()
    await expect(charts).to_contain_text("Care digest charts: Last 24 hours")
    assert await picture.evaluate("img => img.complete && img.naturalWidth") == 1200
    await world.shot(page, "shared-digest")

    # An agent asking for the digest is refused, privately, in plain words.
    await page.locator("#acting").select_option(ANA.user_id)
    await page.get_by_label("Message").fill("/care digest")
    await page.get_by_label("Message").press("Enter")
    await expect(page.locator("#messages article.msg.ephemeral")).to_contain_text(
        "digests are for Carebot leads"
    )


async def test_app_home_and_the_queue(world: World) -> None:
    world.stack.x.add_mention("@acmehelp the app logs me out daily", author_handle="kim_w")
    page = await world.open_as(ANA)
    await card(page, "kim_w").get_by_role("button", name="Claim", exact=True).click()
    await expect(card(page, "kim_w").locator(".b-field", has_text="Owner")).to_contain_text("@Ana")
    await page.get_by_role("button", name="Carebot · Home").click()
    home = page.locator("#home")
    await expect(home).to_contain_text("Your open cases (1)")
    await expect(home).to_contain_text("@kim_w")
    await world.shot(page, "home")

    await page.get_by_role("button", name="# social-care", exact=True).click()
    await page.get_by_label("Message").fill("/care mine")
    await page.get_by_label("Message").press("Enter")
    await expect(page.locator("#messages article.msg.ephemeral")).to_contain_text("@kim_w")
    await page.get_by_label("Message").fill("hello")
    await page.get_by_label("Message").press("Enter")
    await expect(page.locator("#toasts")).to_contain_text("Only slash commands")


async def test_resolve_with_a_reason_release_and_reopen(world: World) -> None:
    x = world.stack.x
    x.add_mention("@acmehelp my order #4411 still hasn't arrived", author_handle="dana_k")
    x.add_mention(
        "Checkout on @acmehelp has been crawling for an hour",
        author_handle="techdaily",
        author_name="Tech Daily",
        followers=48_200,
    )
    x.add_mention("@acmehelp love the new dark mode, thank you!", author_handle="mo_reads")
    page = await world.open_as(ANA)
    await expect(page.locator("#messages article.msg")).to_have_count(3)

    # Release: Ana claims a case and gives it back; the thread says both.
    dana = card(page, "dana_k")
    await dana.get_by_role("button", name="Claim", exact=True).click()
    await dana.get_by_role("button", name="Release", exact=True).click()
    await expect(dana.locator(".b-field", has_text="Owner")).to_contain_text("Unclaimed")
    await dana.locator(".open-thread").click()
    await expect(page.locator("#thread")).to_contain_text("@Ana released this; it is unclaimed.")

    # Resolve with a reason picked in the modal's select; then Reopen puts it back.
    mo = card(page, "mo_reads")
    await mo.get_by_role("button", name="Resolve", exact=True).click()
    modal = page.get_by_role("dialog")
    await modal.get_by_label("Reason").select_option(label="Praise")
    await modal.get_by_role("button", name="Resolve", exact=True).click()
    await expect(modal).to_be_hidden()
    await expect(mo.locator(".b-field", has_text="Status")).to_contain_text("Resolved by @Ana")
    await mo.get_by_role("button", name="Reopen", exact=True).click()
    await expect(mo.locator(".b-field", has_text="Status")).to_contain_text("Open")
    await mo.locator(".open-thread").click()
    await expect(page.locator("#thread")).to_contain_text("@Ana resolved this: Praise")
    await expect(page.locator("#thread")).to_contain_text("@Ana reopened this.")

    # The picture in the README: the urgent card claimed and answered, its thread open.
    tech = card(page, "techdaily")
    await tech.get_by_role("button", name="Claim", exact=True).click()
    await tech.get_by_role("button", name="Reply", exact=True).click()
    await modal.get_by_label("Your reply").fill(
        "Thanks for flagging! Checkout is back to normal speed now. Sorry to everyone who waited."
    )
    await modal.get_by_label("Resolve after sending").uncheck()
    await modal.get_by_role("button", name="Send", exact=True).click()
    await modal.get_by_role("button", name="Done", exact=True).click()
    await expect(tech.locator(".b-field", has_text="Status")).to_contain_text("Replied by @Ana")
    await tech.locator(".open-thread").click()
    await expect(page.locator("#thread")).to_contain_text("@Ana replied on X:")
    await page.locator("#messages").evaluate("list => { list.scrollTop = 0; }")
    await world.shot(page, "page")


async def test_a_breach_is_broadcast_to_the_channel_and_leads_to_its_thread(
    tmp_path: Path,
) -> None:
    # Targets of seconds, so the nag ladder runs while the page watches.
    async with running_world(
        # The warning comes 25% before the target: 2 s here, twice the check interval, so a busy
        # machine cannot skip it.
        tmp_path,
        sla_first_response="8s",
        sla_check_interval="1s",
        business_hours="24/7",
    ) as world:
        world.stack.x.add_mention("@acmehelp the app keeps logging me out", author_handle="kim_w")
        page = await world.open_as(PRIYA)
        broadcast = page.locator("#messages article.msg", has_text="replied to a thread")
        await expect(broadcast).to_contain_text("@Priya Nobody has claimed this", timeout=30_000)
        await expect(
            card(page, "kim_w").locator(".b-field", has_text="Respond by")
        ).to_contain_text("Overdue")
        await broadcast.get_by_role("button", name="view thread", exact=True).click()
        thread = page.locator("#thread")
        await expect(thread).to_contain_text("Also sent to the channel")
        await expect(thread).to_contain_text("Nobody has claimed this yet")
        await world.shot(page, "breach")


async def test_mrkdwn_is_drawn_safely_and_as_slack_shows_it(world: World) -> None:
    page = await world.open_as(ANA)

    async def html(source: str) -> str:
        drawn: str = await page.evaluate(
            "([text, users]) => Mrkdwn.toHtml(text, {users, self: 'U0ANA'})",
            [source, {"U0ANA": "Ana", "U0BEN": "<b>Ben</b>"}],
        )
        return drawn

    # What Slack escapes stands for the character; tags typed by a customer stay text.
    assert await html("a &lt;b&gt; &amp;lt; c") == "a &lt;b&gt; &amp;lt; c"
    # Raw <…> is a Slack token (the bot escapes what customers type); one that is no link
    # shows as its text, escaped.
    assert await html('<img src=x onerror="alert(1)">') == (
        "img src=x onerror=&quot;alert(1)&quot;"
    )
    # Mentions show names (escaped), yourself highlighted; links keep only http(s) and mailto.
    assert await html("<@U0BEN> and <@U0ANA>") == (
        '<span class="mention" data-user="U0BEN">@&lt;b&gt;Ben&lt;/b&gt;</span> and '
        '<span class="mention self" data-user="U0ANA">@Ana</span>'
    )
    assert await html("<https://x.com/a?b=1&amp;c=2|View on X>") == (
        '<a href="https://x.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">'
        "View on X</a>"
    )
    assert await html("<javascript:alert(1)|click>") == "click"
    assert await html('<https://a.example/"onmouseover="x|y>') == (
        '<a href="https://a.example/&quot;onmouseover=&quot;x" target="_blank" '
        'rel="noopener noreferrer">y</a>'
    )
    # Formatting, quotes, code (nothing formatted inside it), emoji shortcodes.
    assert await html("*bold* _it_ ~gone~ `a *b*` :tada:") == (
        "<b>bold</b> <i>it</i> <s>gone</s> <code>a *b*</code> 🎉"
    )
    assert await html(">quoted\n>twice\nafter") == "<blockquote>quoted<br>twice</blockquote>after"
    assert await html("dana_k and some_thing_else") == "dana_k and some_thing_else"
    # A date token in the reader's time; an unknown format falls back to the text Slack sends.
    assert await html("<!date^0^{date_num} {time}|fallback>") == (
        '<time title="fallback">1970-01-01 00:00</time>'  # the browser runs in UTC
    )
    assert await html("<!date^0^{nonsense}|Thu 1 Jan 1970>") == (
        '<time title="Thu 1 Jan 1970">Thu 1 Jan 1970</time>'
    )
