"""X's weighted character count (twitter-text v3), so replies are measured the way X measures them.

X counts NFC code points: most Latin, Greek, Cyrillic, Hebrew, Arabic and general punctuation weigh
1, everything else (CJK, most symbols, astral characters) weighs 2, every link weighs 23 however
long it is, and a whole emoji sequence (ZWJ family, skin tone, flag, keycap, tag flag) weighs 2.
Link and emoji recognition follow twitter-text closely but with compact rules instead of its full
TLD list and emoji table; where they differ it is at the fringes (rare TLDs, newest emoji).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["X_REPLY_LIMIT", "X_URL_WEIGHT", "url_spans", "x_weighted_length"]

X_REPLY_LIMIT = 280
X_URL_WEIGHT = 23
_DEFAULT_WEIGHT = 2

# twitter-text v3 config: code point ranges (inclusive) that weigh 1.
_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))

# Extended_Pictographic (Unicode emoji-data), condensed to ranges. Text-default symbols that weigh
# 1 on their own (© ®) are left out: they only become an emoji with U+FE0F, handled below.
_PICTO = (
    "\u203c\u2049\u2122\u2139\u2194-\u2199\u21a9\u21aa\u231a\u231b\u2328\u2388\u23cf"
    "\u23e9-\u23f3\u23f8-\u23fa\u24c2\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe\u2600-\u2605"
    "\u2607-\u2612\u2614-\u2685\u2690-\u2705\u2708-\u2712\u2714\u2716\u271d\u2721\u2728"
    "\u2733\u2734\u2744\u2747\u274c\u274e\u2753-\u2755\u2757\u2763-\u2767\u2795-\u2797"
    "\u27a1\u27b0\u27bf\u2934\u2935\u2b05-\u2b07\u2b1b\u2b1c\u2b50\u2b55\u3030\u303d"
    "\u3297\u3299\U0001f000-\U0001f0ff\U0001f10d-\U0001f10f\U0001f12f\U0001f16c-\U0001f171"
    "\U0001f17e\U0001f17f\U0001f18e\U0001f191-\U0001f19a\U0001f1ad-\U0001f1e5"
    "\U0001f201-\U0001f20f\U0001f21a\U0001f22f\U0001f232-\U0001f23a\U0001f23c-\U0001f23f"
    "\U0001f249-\U0001f3fa\U0001f400-\U0001f53d\U0001f546-\U0001f64f\U0001f680-\U0001f6ff"
    "\U0001f774-\U0001f77f\U0001f7d5-\U0001f7ff\U0001f80c-\U0001f80f\U0001f848-\U0001f84f"
    "\U0001f85a-\U0001f85f\U0001f888-\U0001f88f\U0001f8ae-\U0001f8ff\U0001f90c-\U0001f93a"
    "\U0001f93c-\U0001f945\U0001f947-\U0001faff\U0001fc00-\U0001fffd"
)
_EMOJI_ELEMENT = (
    rf"(?:[{_PICTO}][\ufe0e\ufe0f]?[\U0001f3fb-\U0001f3ff]?"
    r"|[\u00a9\u00ae]\ufe0f"
    r"|[#*0-9]\ufe0f?\u20e3)"
)
_EMOJI = re.compile(
    r"[\U0001f1e6-\U0001f1ff]{2}"  # a flag is a pair of regional indicators
    r"|\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f"  # subdivision flags (England, Scotland)
    rf"|{_EMOJI_ELEMENT}(?:\u200d{_EMOJI_ELEMENT})*"
)

# Generic TLDs twitter-text links without a scheme; two-letter TLDs are treated as country codes.
_GENERIC_TLDS = frozenset(
    [
        "academy",
        "aero",
        "agency",
        "app",
        "art",
        "asia",
        "bank",
        "bar",
        "biz",
        "blog",
        "build",
        "business",
        "buzz",
        "cafe",
        "capital",
        "care",
        "cat",
        "center",
        "city",
        "click",
        "cloud",
        "club",
        "codes",
        "com",
        "company",
        "consulting",
        "coop",
        "design",
        "dev",
        "digital",
        "email",
        "events",
        "fashion",
        "finance",
        "fun",
        "fund",
        "game",
        "games",
        "gallery",
        "global",
        "gmbh",
        "gov",
        "group",
        "guru",
        "health",
        "help",
        "host",
        "icu",
        "inc",
        "info",
        "int",
        "jobs",
        "life",
        "link",
        "live",
        "llc",
        "lol",
        "love",
        "ltd",
        "media",
        "mil",
        "mobi",
        "money",
        "museum",
        "name",
        "net",
        "network",
        "news",
        "ninja",
        "one",
        "online",
        "org",
        "page",
        "photo",
        "photography",
        "pics",
        "pizza",
        "plus",
        "post",
        "pro",
        "rocks",
        "run",
        "science",
        "services",
        "shop",
        "site",
        "social",
        "software",
        "solutions",
        "space",
        "store",
        "studio",
        "support",
        "systems",
        "team",
        "tech",
        "technology",
        "tel",
        "today",
        "tools",
        "top",
        "travel",
        "tube",
        "video",
        "vip",
        "watch",
        "website",
        "wiki",
        "work",
        "works",
        "world",
        "wtf",
        "xxx",
        "xyz",
        "zone",
    ]
)
_LABEL = r"[^\W_](?:[\w-]*[^\W_])?"
_URL = re.compile(
    r"(?<![\w@\uff20$#\uff03\u202a-\u202e./-])"
    r"(?P<scheme>https?://)?"
    rf"(?P<host>(?:{_LABEL}\.)+{_LABEL}|\d{{1,3}}(?:\.\d{{1,3}}){{3}})"
    r"(?![\w@+-])"
    r"(?::\d{1,5})?"
    r"(?P<path>[/?#][^\s\"<>]*)?",
    re.IGNORECASE,
)
_ASCII_HOST = re.compile(r"[a-z0-9.-]+", re.IGNORECASE)
_TRAILING = ".,:;!?'*"
_CLOSERS = {")": "(", "]": "["}


def x_weighted_length(text: str) -> int:
    """Return the length of `text` as X counts it against the 280 limit."""
    normalized = unicodedata.normalize("NFC", text)
    total = 0
    position = 0
    for start, end in url_spans(normalized):
        total += _plain_weight(normalized[position:start]) + X_URL_WEIGHT
        position = end
    return total + _plain_weight(normalized[position:])


def url_spans(text: str) -> list[tuple[int, int]]:
    """Return the (start, end) of every link in NFC `text`, as twitter-text finds them."""
    spans: list[tuple[int, int]] = []
    for match in _URL.finditer(text):
        host = match["host"]
        if not _valid_host(
            host, with_scheme=match["scheme"] is not None, has_path=bool(match["path"])
        ):
            continue
        end = match.start() + len(_trim_url(match[0]))
        spans.append((match.start(), end))
    return spans


def _valid_host(host: str, *, with_scheme: bool, has_path: bool) -> bool:
    labels = host.split(".")
    if any(len(label) > 63 for label in labels):
        return False
    if all(label.isdigit() for label in labels):
        return with_scheme and all(int(label) <= 255 for label in labels)
    tld = labels[-1].lower()
    if not tld.isalpha():
        return False
    if with_scheme:
        return True
    # Without a scheme twitter-text only links ASCII domains with a TLD it knows, and not a bare
    # "name.cc" (too often a typo or an abbreviation) unless a path follows; t.co is the exception.
    if not _ASCII_HOST.fullmatch(host) or "_" in host:
        return False
    if len(tld) == 2:
        return has_path or len(labels) > 2 or host.lower() == "t.co"
    return tld in _GENERIC_TLDS


def _trim_url(url: str) -> str:
    """Drop trailing punctuation and unbalanced closing brackets, as twitter-text does."""
    while url:
        last = url[-1]
        if last in _TRAILING or (last in _CLOSERS and url.count(last) > url.count(_CLOSERS[last])):
            url = url[:-1]
        else:
            break
    return url


def _plain_weight(segment: str) -> int:
    total = 0
    position = 0
    for match in _EMOJI.finditer(segment):
        total += _chars_weight(segment[position : match.start()]) + _DEFAULT_WEIGHT
        position = match.end()
    return total + _chars_weight(segment[position:])


def _chars_weight(chars: str) -> int:
    return sum(_char_weight(ord(char)) for char in chars)


def _char_weight(code_point: int) -> int:
    for low, high in _LIGHT_RANGES:
        if low <= code_point <= high:
            return 1
    return _DEFAULT_WEIGHT
