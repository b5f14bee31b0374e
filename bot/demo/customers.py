"""The customers' side of the demo: each scripted mention posted on its network's fake (a
follow-up as a reply to the brand's latest answer), and the wait for its card or thread line."""

from __future__ import annotations

import copy

from bot.demo.script import Customer, Post
from bot.demo.stage import DemoFailed, Stage
from bot.sandbox.slack import StoredMessage
from bot.sandbox.x import FakeTweet


class Customers(Stage):
    """Posts the script's mentions as their customers, and finds what the bot made of them."""

    async def _post(self, number: int, post: Post) -> None:
        x = self.sandbox.x
        customer = post.customer
        in_reply_to: str | None = None
        if post.follow_up:
            in_reply_to = self._latest_answer_to(customer)
            where = f"@{customer.handle} on X, answering @{x.brand.username}"
        else:
            where = f"@{customer.handle} on X ({customer.followers:,} followers)"
        self.transcript.say(f"\n{where}: “{post.text}”")
        tweet = x.add_mention(
            post.text,
            author_handle=customer.handle,
            author_name=customer.name,
            followers=customer.followers,
            in_reply_to=in_reply_to,
        )
        self.tweets[number] = tweet
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
        await self._until(lambda: self._find_card(tweet) is not None, f"a card for {where}")
        found = self._find_card(tweet)
        assert found is not None
        # The card as every client first drew it: a late Claim presses this copy's button.
        self.cards[number] = copy.deepcopy(found)

    def _find_card(self, tweet: FakeTweet) -> StoredMessage | None:
        stack = self.sandbox
        for message in stack.slack.channel_messages(stack.channel):
            # The card links to the post, and the post's id is in that link.
            if message.metadata and f"/status/{tweet.id}" in str(message.blocks):
                return message
        return None

    def _latest_answer_to(self, customer: Customer) -> str:
        """Return the id of the brand's latest reply to `customer`, as X recorded it."""
        x = self.sandbox.x
        for posted in reversed(x.posted_replies):
            parent = x.tweets.get(posted["in_reply_to_tweet_id"] or "")
            if parent is not None and x.users[parent.author_id].username == customer.handle:
                return posted["id"]
        raise DemoFailed(
            f"a follow-up from @{customer.handle} needs an answer from the brand first"
        )
