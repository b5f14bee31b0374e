"""X's weighted character count (twitter-text 3.1.0), so replies are measured the way X measures
them, checked against twitter-text's own conformance cases (tests/data/twitter-text/).

twitter-text's `parseTweet` with its v3 configuration: the text is NFC-normalised first; every
link weighs 23 however long it is; a whole emoji sequence (ZWJ family, skin tone, flag, keycap,
tag flag) weighs 2; any other code point weighs 1 in the ranges below (most Latin, Greek,
Cyrillic, Hebrew, Arabic, general punctuation) and 2 elsewhere (CJK, most symbols). Links are
found with a port of twitter-text's `extractUrlsWithIndices`, with its regexes and its list of
top-level domains (`bot.sources.x_tlds`). Emoji are recognised with compact rules equivalent to
twemoji's for the emoji Unicode has defined; a future emoji may count per code point until added.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Final

from bot.sources.x_tlds import COUNTRY_TLDS, GENERIC_TLDS

__all__ = ["X_REPLY_LIMIT", "X_URL_WEIGHT", "url_spans", "x_weighted_length"]

X_REPLY_LIMIT = 280
X_URL_WEIGHT = 23
_DEFAULT_WEIGHT = 2

# twitter-text v3 config: code point ranges (inclusive) that weigh 1.
_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))

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

# -- twitter-text's URL regexes (js/src/regexp/*.js), in Python's syntax ------------------------
_DIRECTIONAL = "\u202a-\u202e\u061c\u200e\u200f\u2066\u2067\u2068\u2069"
_INVALID = "\ufffe\ufeff\uffff"
_SPACES = "\x09-\x0d\x20\x85\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_PUNCT = r"""!'#%&'()*+,\\\-./:;<=>?@\[\]^_{|}~$"""
_LATIN_ACCENTS = (
    "\xc0-\xd6\xd8-\xf6\xf8-\xff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263\u0268"
    "\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_CYRILLIC = "\u0400-\u04ff"
_PRECEDING = rf"(?:[^A-Za-z0-9@\uff20$#\uff03{_INVALID}]|[{_DIRECTIONAL}]|^)"
_DOMAIN_CHAR = rf"[^{_PUNCT}{_SPACES}{_INVALID}{_DIRECTIONAL}]"
_SUBDOMAIN = rf"(?:(?:{_DOMAIN_CHAR}(?:[_-]|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\.)"
_DOMAIN_NAME = rf"(?:(?:{_DOMAIN_CHAR}(?:-|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\.)"
_TLD_END = r"(?=[^0-9a-zA-Z@+-]|$)"


def _trie_pattern(names: tuple[str, ...]) -> str:
    """Return a regex matching any of `names`, longest first, as a trie.

    Equivalent to twitter-text's plain alternation (two names can only both match at one place
    if one starts with the other, and its lists put the longer first), but a failed attempt
    costs a few steps instead of one per name: a long chain of dotted labels that never reaches
    a known TLD made the plain form take seconds.
    """
    trie: dict[str, Any] = {}
    for name in names:
        node = trie
        for char in name.lower():
            node = node.setdefault(char, {})
        node[""] = {}

    def pattern(node: dict[str, Any]) -> str:
        ends = "" in node
        branches = [re.escape(char) + pattern(child) for char, child in node.items() if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if ends:
            return f"(?:{body})?"
        return body

    return pattern(trie)


_GTLD = rf"(?:{_trie_pattern(GENERIC_TLDS)}{_TLD_END})"
_CCTLD = rf"(?:{_trie_pattern(COUNTRY_TLDS)}{_TLD_END})"
_PUNYCODE = r"(?:xn--[\-0-9a-z]+)"
# twitter-text leaves the number of labels open; DNS allows 127, and the bound keeps a long chain
# of dotted words from costing seconds of backtracking.
_DOMAIN = rf"(?:{_SUBDOMAIN}{{0,126}}{_DOMAIN_NAME}(?:{_GTLD}|{_CCTLD}|{_PUNYCODE}))"
_PATH_CHAR = rf"[a-z{_CYRILLIC}0-9!*';:=+,.$/%#\[\]\-\u2013_~@|&{_LATIN_ACCENTS}]"
_BALANCED_PARENS = rf"\((?:{_PATH_CHAR}+|(?:{_PATH_CHAR}*\({_PATH_CHAR}+\){_PATH_CHAR}*))\)"
_PATH_END = rf"(?:[+\-a-z{_CYRILLIC}0-9=_#/{_LATIN_ACCENTS}]|(?:{_BALANCED_PARENS}))"
_PATH = (
    rf"(?:(?:{_PATH_CHAR}*(?:{_BALANCED_PARENS}{_PATH_CHAR}*)*{_PATH_END})"
    rf"|(?:@{_PATH_CHAR}+/))"
)
_QUERY_CHAR = r"[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]"
_QUERY_END = r"[a-z0-9\-_&=#/]"
_EXTRACT_URL = re.compile(
    rf"(?P<before>{_PRECEDING})"
    r"(?P<url>"
    r"(?P<protocol>https?://)?"
    rf"(?P<domain>{_DOMAIN})"
    r"(?::(?P<port>[0-9]+))?"
    rf"(?P<path>/{_PATH}*)?"
    rf"(?P<query>\?{_QUERY_CHAR}*{_QUERY_END})?"
    r")",
    re.IGNORECASE,
)
_ASCII_DOMAIN = re.compile(
    rf"(?:(?:[\-a-z0-9{_LATIN_ACCENTS}]+)\.)+(?:{_GTLD}|{_CCTLD}|{_PUNYCODE})", re.IGNORECASE
)
# A link never spans a space, and its domain ends in ".<known TLD>": words without one are skipped
# before the costly expression is tried on them.
_WORD = re.compile(rf"[^{_SPACES}]+")
_ENDS_A_DOMAIN = re.compile(rf"\.(?:{_GTLD}|{_CCTLD}|{_PUNYCODE})", re.IGNORECASE)
_INVALID_BEFORE_BARE_URL = re.compile(r"[-_./]$")
_TCO_URL = re.compile(rf"^https?://t\.co/([a-z0-9]+)(?:\?{_QUERY_CHAR}*{_QUERY_END})?", re.I)
_MAX_URL_LENGTH: Final = 4096
_MAX_TCO_SLUG_LENGTH: Final = 40
_MAX_LABEL_LENGTH: Final = 63


def x_weighted_length(text: str, *, emoji_sequences: bool = True) -> int:
    """Return the length of `text` as X counts it against the 280 limit.

    `emoji_sequences=False` is twitter-text's older v2 configuration (each code point of an emoji
    weighs 2), kept to check the count against both sets of published cases.
    """
    normalized = unicodedata.normalize("NFC", text)
    weigh = _plain_weight if emoji_sequences else _chars_weight
    total = 0
    position = 0
    for start, end in url_spans(normalized):
        total += weigh(normalized[position:start]) + X_URL_WEIGHT
        position = end
    return total + weigh(normalized[position:])


def url_spans(text: str) -> list[tuple[int, int]]:
    """Return the (start, end) of every link in NFC `text`, as twitter-text finds them."""
    spans: list[tuple[int, int]] = []
    if "." not in text:
        return spans
    for word in _WORD.finditer(text):
        if _ENDS_A_DOMAIN.search(word[0]) is not None:
            spans += _word_url_spans(word[0], word.start())
    return spans


def _word_url_spans(word: str, offset: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for match in _EXTRACT_URL.finditer(word):
        url, protocol, domain = match["url"], match["protocol"], match["domain"]
        start, end = offset + match.start("url"), offset + match.end("url")
        if not _valid_url(url, protocol or "https://", domain):
            continue
        if protocol:
            tco = _TCO_URL.match(url)
            if tco is not None:
                if len(tco[1]) > _MAX_TCO_SLUG_LENGTH:
                    continue
                end = start + len(tco[0])
            spans.append((start, end))
            continue
        if _INVALID_BEFORE_BARE_URL.search(match["before"]):
            continue
        # Without a scheme only the ASCII (and Latin-accented) domains inside the match link.
        found = [(start + m.start(), start + m.end()) for m in _ASCII_DOMAIN.finditer(domain)]
        if not found:
            continue
        if match["path"]:
            found[-1] = (found[-1][0], end)
        spans.extend(found)
    return spans


def _valid_url(url: str, protocol: str, domain: str) -> bool:
    """twitter-text's isValidUrl: the domain converts to ASCII, and the URL is not too long."""
    ascii_domain = _to_ascii(domain)
    if not ascii_domain:
        return False
    return len(protocol) + len(url) + len(ascii_domain) - len(domain) <= _MAX_URL_LENGTH


def _to_ascii(domain: str) -> str | None:
    """Punycode each label as twitter-text's idna.toAscii does; None when a label is unusable."""
    if domain[:4].lower() == "xn--" and not _ASCII_DOMAIN.search(domain):
        return None
    labels: list[str] = []
    for label in domain.split("."):
        try:
            encoded = label if label.isascii() else "xn--" + label.encode("punycode").decode()
        except UnicodeError:
            return None
        if not 1 <= len(encoded) <= _MAX_LABEL_LENGTH:
            return None
        labels.append(encoded)
    return ".".join(labels)


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
