"""The customers' side of the demo: each scripted mention posted on its network's fake (X, Bluesky
or Mastodon; a follow-up as a reply to the brand's latest answer there), and the wait for its card
or its line in the card's thread."""

from __future__ import annotations

import copy

from bot.demo.script import Customer, Post
from bot.demo.stage import DemoFailed, Stage
from bot.domain.networks import network_label
from bot.sandbox.bluesky import BskyPost
from bot.sandbox.mastodon import MastoStatus
from bot.sandbox.slack import StoredMessage


class Customers(Stage):
    """Posts the script's mentions as their customers, and finds what the bot made of them."""

    async def _post(self, number: int, post: Post) -> None:
        customer = post.customer
        on = f"@{customer.handle} on {network_label(customer.network)}"
        if post.follow_up:
            where = f"{on}, answering {self.brand(customer.network)}"
        else:
            where = f"{on} ({customer.followers:,} followers)"
        if post.visibility == "direct":
            where += ", in a direct message"
        self.transcript.say(f"\n{where}: “{post.text}”")
        self.links[number] = self._publish(number, post)
        if post.follow_up:
            # A follow-up has no card of its own: it shows in the thread of its case's card.
            card = self._card_of(customer)
            self.cards[number] = card
            await self._until(
                lambda: any(
                    post.text in m.text for m in self.sandbox.slack.thread(card.channel, card.ts)
                ),
                f"the follow-up from @{customer.handle} in its card's thread",
            )
            return
        await self._until(lambda: self._find_card(number) is not None, f"a card for {where}")
        found = self._find_card(number)
        assert found is not None
        # The card as every client first drew it: a late Claim presses this copy's button.
        self.cards[number] = copy.deepcopy(found)

    def brand(self, network: str) -> str:
        """Return the brand's account on `network` as its customers write it."""
        stack = self.sandbox
        if network == "bluesky":
            return f"@{stack.bluesky.brand.handle}"
        if network == "mastodon":
            return f"@{stack.mastodon.brand.username}"
        return f"@{stack.x.brand.username}"

    def _publish(self, number: int, post: Post) -> str:
        """Store the post on its network's fake; return what the link to it contains."""
        stack, customer = self.sandbox, post.customer
        if customer.network == "bluesky":
            created = stack.bluesky.add_post(
                post.text,
                author_handle=customer.handle,
                followers=customer.followers,
                display_name=customer.name,
                reply_to=self._bluesky_answer_to(customer) if post.follow_up else None,
            )
            return f"/post/{created.rkey}"
        if customer.network == "mastodon":
            status = stack.mastodon.add_status(
                post.text,
                author=customer.handle,
                followers=customer.followers,
                display_name=customer.name,
                visibility=post.visibility,
                in_reply_to=self._mastodon_answer_to(customer) if post.follow_up else None,
            )
            return f"/{status.id}"
        tweet = stack.x.add_mention(
            post.text,
            author_handle=customer.handle,
            author_name=customer.name,
            followers=customer.followers,
            in_reply_to=self._x_answer_to(customer) if post.follow_up else None,
        )
        self.tweets[number] = tweet
        return f"/status/{tweet.id}"

    def _find_card(self, number: int) -> StoredMessage | None:
        stack = self.sandbox
        for message in stack.slack.channel_messages(stack.channel):
            # The card links to the post, and the post's id is in that link.
            if message.metadata and self.links[number] in str(message.blocks):
                return message
        return None

    def _x_answer_to(self, customer: Customer) -> str:
        """Return the id of the brand's latest reply to `customer`, as X recorded it."""
        x = self.sandbox.x
        for posted in reversed(x.posted_replies):
            parent = x.tweets.get(posted["in_reply_to_tweet_id"] or "")
            if parent is not None and x.users[parent.author_id].username == customer.handle:
                return posted["id"]
        raise _no_answer(customer)

    def _bluesky_answer_to(self, customer: Customer) -> BskyPost:
        """Return the brand's latest Bluesky post answering `customer`."""
        bsky = self.sandbox.bluesky
        for post in reversed(list(bsky.posts.values())):
            parent = bsky.posts.get(post.record.get("reply", {}).get("parent", {}).get("uri", ""))
            if post.author is bsky.brand and parent and parent.author.handle == customer.handle:
                return post
        raise _no_answer(customer)

    def _mastodon_answer_to(self, customer: Customer) -> MastoStatus:
        """Return the brand's latest Mastodon status answering `customer`."""
        masto = self.sandbox.mastodon
        for status in reversed(list(masto.statuses.values())):
            parent = masto.statuses.get(status.in_reply_to_id or "")
            if (
                status.account is masto.brand
                and parent is not None
                and parent.account.acct(masto.domain) == customer.handle
            ):
                return status
        raise _no_answer(customer)


def _no_answer(customer: Customer) -> DemoFailed:
    return DemoFailed(f"a follow-up from @{customer.handle} needs an answer from the brand first")
