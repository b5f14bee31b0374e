"""The demo's cast and script: the agents and lead, the customers on X, Bluesky and Mastodon, each
mention in the stream and what the team does about it, and the response targets (seconds, so nags
happen while it runs)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import ResolveReason

# Targets in seconds rather than minutes, so the nag ladder (a warning at 75% of the target, the
# breach at 100%) plays out for the mention nobody answers while the rest of the script runs.
# Every other case is handled within a few seconds of its card, well inside 75% of its target.
TARGETS = {
    "poll_interval": "1s",
    "sla_first_response": "16s",
    "sla_urgent": "10s",
    "sla_check_interval": "1s",
    "urgent_followers": "10000",
    "business_hours": "24/7",
}
# The environment names of TARGETS, printed with --keep so another bot can be run the same way.
TARGET_VARIABLES = {
    "poll_interval": "CAREBOT_POLL_INTERVAL",
    "sla_first_response": "CAREBOT_SLA_FIRST_RESPONSE",
    "sla_urgent": "CAREBOT_SLA_URGENT",
    "sla_check_interval": "CAREBOT_SLA_CHECK_INTERVAL",
    "urgent_followers": "CAREBOT_URGENT_FOLLOWERS",
    "business_hours": "CAREBOT_BUSINESS_HOURS",
}


# -- the cast ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Agent:
    """A Slack user who works the queue (or, for a lead, asks for the digest)."""

    user_id: str
    name: str
    real_name: str


@dataclass(frozen=True, slots=True)
class Customer:
    """An account on `network` that mentions the brand (`handle` as that network writes it)."""

    handle: str
    name: str
    followers: int
    network: str = "x"


ANA = Agent("U0ANA", "Ana", "Ana Ruiz")
BEN = Agent("U0BEN", "Ben", "Ben Okafor")
CHLOE = Agent("U0CHLOE", "Chloe", "Chloe Martin")
PRIYA = Agent("U0PRIYA", "Priya", "Priya Shah")
AGENTS = (ANA, BEN, CHLOE)
LEAD = PRIYA

DANA = Customer("dana_k", "Dana K", 310)
KIM = Customer("kim-w.bsky.social", "Kim W", 85, network="bluesky")
SAM = Customer("sam_asks@social.example", "Sam Patel", 120, network="mastodon")
LEE = Customer("ops_lee", "Lee (Ops)", 890)
MO = Customer("mo_reads", "Mo", 42)
TECH = Customer("techdaily", "Tech Daily", 48_200)
RAJ = Customer("raj_p@social.example", "Raj P", 230, network="mastodon")
JLO = Customer("jlo-travels.bsky.social", "J. Lopez", 610, network="bluesky")
GURU = Customer("growth_guru", "Growth Guru", 12)
MARTA = Customer("marta-b.bsky.social", "Marta B", 150, network="bluesky")
OLA = Customer("ola_n", "Ola N", 95)


# -- the script -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """The agent presses Claim on the card."""

    agent: Agent


@dataclass(frozen=True, slots=True)
class LateClaim:
    """The agent presses Claim on the card as their Slack first drew it, after someone else won."""

    agent: Agent


@dataclass(frozen=True, slots=True)
class Release:
    """The agent presses Release: the case goes back to the queue."""

    agent: Agent


@dataclass(frozen=True, slots=True)
class Reopen:
    """The agent presses Reopen on a resolved case."""

    agent: Agent


@dataclass(frozen=True, slots=True)
class Reply:
    """The agent presses Reply, types `text` and presses Send (`resolve`: leave the box ticked).

    `draft`: what they type first, too long for X; the modal says so under the box, the draft
    stays there, and they cut it down to `text`.
    """

    agent: Agent
    text: str
    resolve: bool = True
    draft: str | None = None


@dataclass(frozen=True, slots=True)
class Resolve:
    """The agent presses Resolve and picks a reason."""

    agent: Agent
    reason: ResolveReason


Step = Claim | LateClaim | Release | Reopen | Reply | Resolve


@dataclass(frozen=True, slots=True)
class Command:
    """Someone types `/care <text>` in the channel."""

    person: Agent
    text: str


@dataclass(frozen=True, slots=True)
class TakeOver:
    """After its breach, the agent finally claims the case nobody answered."""

    agent: Agent
    customer: Customer


@dataclass(frozen=True, slots=True)
class OpenHome:
    """Someone opens Carebot's App Home tab."""

    person: Agent


@dataclass(frozen=True, slots=True)
class Post:
    """One mention in the stream and what the team does about it (nothing: nobody answers it).

    `follow_up` makes it a reply to the brand's latest answer to the same customer, so it lands
    in that conversation's case instead of opening a new one. `visibility` is Mastodon's: a
    `direct` post reaches only the accounts it mentions, and so does the brand's answer.
    """

    customer: Customer
    text: str
    steps: tuple[Step, ...] = ()
    follow_up: bool = False
    visibility: str = "public"


SCRIPT: tuple[Post, ...] = (
    Post(
        DANA,
        "@acmehelp my order #4411 still hasn't arrived, it's been 2 weeks. Any update?",
        (
            Claim(ANA),
            LateClaim(BEN),
            Reply(
                ANA,
                "Hi Dana, so sorry for the wait! #4411 was stuck at our depot; it left this "
                "morning and we've refunded the shipping. Tracking link is in your DMs.",
                resolve=False,
            ),
        ),
    ),
    Post(KIM, "@acme.bsky.social the app keeps logging me out on Android, every single day"),
    Post(
        SAM,
        "@acme do you ship to Canada? Thinking of ordering the blue kettle",
        (
            Claim(BEN),
            Reply(
                BEN,
                "Hi Sam! Yes, we ship to Canada: 3-5 business days, duties included.",
                resolve=False,
            ),
        ),
    ),
    Post(
        LEE,
        "@acmehelp is the app down? outage for our whole team, nobody can log in",
        (
            Claim(CHLOE),
            Reply(
                CHLOE,
                "Hi Lee, yes: logins are failing since 14:05 and the team is on it. Updates "
                "every 15 minutes on status.acme.example, and we'll reply here when it's fixed.",
                resolve=False,
            ),
        ),
    ),
    Post(
        MO,
        "@acmehelp love the new dark mode, thank you!",
        (
            Resolve(ANA, ResolveReason.PRAISE),
            # Praise from a fan deserves a public thank-you after all.
            Reopen(ANA),
            Reply(ANA, "Thank you, Mo! The team that built it will be very happy to hear that."),
        ),
    ),
    Post(
        TECH,
        "Checkout on @acmehelp has been crawling for an hour. Anyone else seeing this?",
        (
            Claim(BEN),
            Reply(
                BEN,
                "Thanks for flagging! Checkout was slowed by the login incident; it's back to "
                "normal speed now. Sorry to everyone who waited.",
                resolve=False,
            ),
        ),
    ),
    Post(
        DANA,
        "@acmehelp got the tracking link, thanks! It says Thursday now",
        (Reply(ANA, "Great to hear, Dana! Enjoy, and ping us if Thursday slips."),),
        follow_up=True,
    ),
    Post(
        SAM,
        "@acme great, and is the blue kettle in stock?",
        (Reply(BEN, "It is, Sam: the blue one ships tomorrow if you order today."),),
        follow_up=True,
    ),
    Post(
        RAJ,
        "@acme I was charged twice for order #5120, please fix this",
        (
            Claim(CHLOE),
            Reply(
                CHLOE,
                "Sorry Raj! The second charge was a pre-authorisation; we've released it and "
                "it will disappear from your statement within 3 days.",
            ),
        ),
        # Card details stay out of public view: Chloe's answer goes to Raj alone.
        visibility="direct",
    ),
    Post(
        JLO,
        "@acme.bsky.social can I change the delivery address after ordering?",
        (
            Claim(ANA),
            Reply(
                ANA,
                "Hi! Yes, until the order ships: Orders > Change address, or DM us the order "
                "number and we'll do it.",
                resolve=False,
            ),
        ),
    ),
    Post(
        GURU,
        "@acmehelp Get 10K followers in 24h!!! DM me for the secret",
        (Resolve(BEN, ResolveReason.SPAM),),
    ),
    Post(
        MARTA,
        "@acme.bsky.social shout-out to your support team, my return was sorted in 5 minutes",
        (Claim(BEN), Release(BEN), Resolve(CHLOE, ResolveReason.PRAISE)),
    ),
    Post(
        OLA,
        "@acmehelp where do I find the invoice for my last order?",
        (
            Reply(
                BEN,
                "Hi Ola! Account > Orders > pick the order > Invoice (PDF).",
                draft="Hi Ola! Thanks so much for reaching out, and sorry you had to look for it. "
                "You can find every invoice in your account: open the app or the website, sign "
                "in, go to Account, then Orders, pick the order you need and press Invoice; it "
                "downloads as a PDF you can print or forward to your accounts team. Anything "
                "else, just ask!",
            ),
        ),
    ),
    Post(
        JLO,
        "done, thanks! The new address shows on the order now",
        (Reply(ANA, "Perfect, it will go to the new address. Safe travels!"),),
        follow_up=True,
    ),
)
# After the stream: the team looks at its queue, its own cases and the App Home.
CLOSING: tuple[TakeOver | Command | OpenHome, ...] = (
    Command(LEAD, "queue"),
    TakeOver(CHLOE, KIM),
    Command(CHLOE, "mine"),
    OpenHome(CHLOE),
)
