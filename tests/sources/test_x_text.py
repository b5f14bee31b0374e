"""X's weighted length: twitter-text v3 conformance examples and properties."""

from __future__ import annotations

import string
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.sources.x_text import X_REPLY_LIMIT, x_weighted_length

# Expected values from twitter-text's conformance suite (validate.yml, v3 config) where it has them.
KNOWN = [
    ("", 0),
    ("This is a test.", 15),
    ("Hi http://test.co", 26),
    ("http://test.co", 23),
    ("285 chars-" + "xxxxxxxxxx-" * 25, 285),
    ("https://www.twitter.com/aloha " * 10, 240),
    ("Test https://test.com test https://test.com test.com test", 86),
    ("H🐱☺👨\u200d👩\u200d👧\u200d👦", 7),
    ("😷👾😡🔥💩", 10),
    ("🙋🏽👨\u200d🎤", 4),
    ("1\u20e3", 2),
    ("Unicode 9.0 emoji: 🤠; 💃; 💃🏾", 29),
    (
        "Unicode 10.0 emoji: 🤪; 🧕; 🧕🏾; "
        "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
        34,
    ),
    ("🇺🇸🇯🇵", 4),
    ("❤️", 2),
    ("©", 1),
    ("©\ufe0f", 2),
    ("故人西辞黄鹤楼", 14),
    ("저찀쯿쿿", 8),
    ("\U00010000\U0010ffff", 4),
    ("A\u0301B", 2),  # NFC composes A + combining acute into one character
    ("\u2000\u2014\u2032", 3),  # general punctuation ranges weigh 1
    ("example.com", 23),
    ("foo.co.jp", 23),
    ("t.co", 23),
    ("foo.jp", 6),  # a bare name.cc is not linked without a path
    ("acme.io/pricing.", 24),  # trailing full stop is not part of the link
    ("mail joe@example.com", 20),  # an e-mail address is not a link
    ("randomurl" * 7 + "s.com", 68),  # a 64-character label is not a domain
    ("https://example.com/" + "a" * 500, 23),
    ("See http://en.wikipedia.org/wiki/Foo_(bar) ok", 30),
]


@pytest.mark.parametrize(("text", "expected"), KNOWN)
def test_known_lengths(text: str, expected: int) -> None:
    assert x_weighted_length(text) == expected


def test_limit_is_280() -> None:
    assert X_REPLY_LIMIT == 280
    assert x_weighted_length("a" * 280) == X_REPLY_LIMIT
    assert x_weighted_length("の" * 140) == X_REPLY_LIMIT


NO_URL_ASCII = st.text(
    alphabet=st.sampled_from(string.ascii_letters + string.digits + " !?,;'\"()-_@#\n"),
    max_size=300,
)
# Letters, digits and spaces from every script, with no link syntax and no sequence-forming marks.
SIMPLE = st.text(
    alphabet=st.characters(categories=["L", "N", "Zs"], exclude_characters="\u200d"), max_size=80
)


@given(NO_URL_ASCII)
def test_ascii_without_links_counts_characters(text: str) -> None:
    assert x_weighted_length(text) == len(text)


@given(SIMPLE, SIMPLE)
def test_appending_never_shrinks(head: str, tail: str) -> None:
    assert x_weighted_length(head + tail) >= x_weighted_length(head)


@given(SIMPLE)
def test_each_character_weighs_one_or_two(text: str) -> None:
    characters = len(unicodedata.normalize("NFC", text))
    assert characters <= x_weighted_length(text) <= 2 * characters


@given(st.text(max_size=60), st.text(max_size=60))
def test_a_space_separates_counts(head: str, tail: str) -> None:
    combined = x_weighted_length(head + " " + tail)
    assert combined == x_weighted_length(head) + 1 + x_weighted_length(tail)


@given(st.text(alphabet=string.ascii_lowercase + string.digits + "/-_", max_size=400))
def test_any_link_counts_23(path: str) -> None:
    assert x_weighted_length(f"https://example.com/{path}") == 23
