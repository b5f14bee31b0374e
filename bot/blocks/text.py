"""Safe mrkdwn: escaping of untrusted social text, clean truncation, and the Slack tokens Carebot
emits (dates, user mentions, links). Every string a customer wrote passes through `escape_mrkdwn`
before it reaches a mrkdwn field, so `<!channel>` or a crafted link typed on X renders inert."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from bot.clock import ensure_utc

DEFAULT_DATE_FORMAT = "{date_short_pretty} at {time}"

# Slack decodes only these three entities, so only these three are escaped.
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# Anything that looks like an HTML entity is kept whole by `truncate`, not just the three above,
# because text may arrive already escaped by the network.
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,9});")
_ENTITY_MAX = 12
_WORD_WINDOW = 30
_ZWJ = "\u200d"
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_URL_SCHEME = re.compile(r"^https?://", re.IGNORECASE)
# Characters that would end or split a `<url|label>` token are percent-encoded instead.
_URL_UNSAFE = re.compile(r"[\s<>|]")


def escape_mrkdwn(text: str) -> str:
    """Escape `&`, `<` and `>` so the text renders literally in mrkdwn."""
    return text.translate(_ESCAPES)


def _extends_previous(char: str) -> bool:
    """Tell whether `char` belongs to the grapheme before it (marks, joiners, modifiers)."""
    code = ord(char)
    return (
        unicodedata.category(char) in {"Mn", "Me", "Mc"}
        or char == _ZWJ
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # skin-tone modifiers
        or 0xE0020 <= code <= 0xE007F  # emoji tag sequences (flags of regions)
        or 0xE0100 <= code <= 0xE01EF
        or 0xDC00 <= code <= 0xDFFF  # low half of a surrogate pair left in the string
    )


def _is_regional_indicator(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _safe_cut(text: str, cut: int) -> int:
    """Move `cut` left until it splits neither an entity nor a grapheme."""
    while 0 < cut < len(text):
        before = cut
        window = _ENTITY.finditer(
            text, max(0, cut - _ENTITY_MAX), min(len(text), cut + _ENTITY_MAX)
        )
        for match in window:
            if match.start() < cut < match.end():
                cut = match.start()
                break
        if 0 < cut < len(text) and (_extends_previous(text[cut]) or text[cut - 1] == _ZWJ):
            cut -= 1
        elif 0 < cut < len(text) and _is_regional_indicator(text[cut]):
            # Flags are pairs of regional indicators: an odd run before the cut means a split pair.
            run = 0
            while run < cut and _is_regional_indicator(text[cut - 1 - run]):
                run += 1
            if run % 2:
                cut -= 1
        if cut == before:
            break
    return max(cut, 0)


def _word_cut(text: str, cut: int) -> int:
    """Pull `cut` back to a nearby word boundary, dropping the whitespace before it."""
    if cut < len(text) and not text[cut].isspace() and not text[cut - 1].isspace():
        floor = max(0, cut - min(_WORD_WINDOW, cut // 4))
        for index in range(cut - 1, floor - 1, -1):
            if text[index].isspace():
                cut = index
                break
    while cut > 0 and text[cut - 1].isspace():
        cut -= 1
    return cut


def truncate(text: str, limit: int, *, suffix: str = "…") -> str:
    """Cut `text` to at most `limit` characters at a clean point, marking the cut with `suffix`."""
    if limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")
    if len(text) <= limit:
        return text
    if len(suffix) >= limit:
        # No room for the marker: a clean prefix alone is the most honest answer.
        return text[: _safe_cut(text, limit)]
    budget = limit - len(suffix)
    cut = _safe_cut(text, _word_cut(text, budget))
    if cut == 0:
        cut = _safe_cut(text, budget)
    return text[:cut] + suffix


def slack_date(dt: datetime, fmt: str = DEFAULT_DATE_FORMAT, *, fallback: str | None = None) -> str:
    """Return a `<!date^…>` token shown in each reader's time zone, with a UTC fallback."""
    if any(char in fmt for char in "^|<>"):
        raise ValueError(f"date format {fmt!r} must not contain ^, |, < or >")
    moment = ensure_utc(dt)
    if fallback is None:
        fallback = f"{moment:%a} {moment.day} {moment:%b %Y} at {moment:%H:%M} UTC"
    return f"<!date^{int(moment.timestamp())}^{fmt}|{escape_mrkdwn(fallback)}>"


def user_mention(user_id: str) -> str:
    """Return the `<@U…>` token for a Slack user id, refusing anything that is not one."""
    if not _USER_ID.match(user_id):
        raise ValueError(f"{user_id!r} is not a Slack user id")
    return f"<@{user_id}>"


def link(url: str, label: str | None = None) -> str:
    """Return a `<url|label>` link with the label escaped; non-web URLs render as plain text."""
    text = escape_mrkdwn(label if label is not None else url)
    if not _URL_SCHEME.match(url):
        return text
    safe_url = _URL_UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", url.strip())
    return f"<{safe_url.replace('&', '&amp;')}|{text}>"


def compact_number(value: int) -> str:
    """Render a count the way social profiles do: `950`, `12.4k`, `3M`."""
    if abs(value) < 1000:
        return str(value)
    for threshold, unit in ((1_000, "k"), (1_000_000, "M"), (1_000_000_000, "B")):
        scaled = value / threshold
        shown = f"{scaled:.1f}" if abs(scaled) < 99.95 else f"{scaled:.0f}"
        if abs(float(shown)) < 1000 or unit == "B":
            return shown.removesuffix(".0") + unit
    raise AssertionError("unreachable: the last unit always returns")


def quote(text: str) -> str:
    """Return already-escaped text as a mrkdwn block quote, one `>` per line."""
    return "\n".join(f">{line}" for line in text.split("\n"))


NETWORK_LABELS = {"x": "X", "twitter": "X", "bluesky": "Bluesky", "mastodon": "Mastodon"}


def network_label(network: str) -> str:
    """Return the network's name as people write it (`x` → `X`)."""
    return NETWORK_LABELS.get(network.lower(), network.title())
