"""X's weighted length: twitter-text's published conformance cases (vendored unchanged under
tests/data/twitter-text/), a few more known lengths, and properties."""

from __future__ import annotations

import string
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bot.sources.x_text import X_REPLY_LIMIT, url_spans, x_weighted_length

CONFORMANCE = Path(__file__).resolve().parents[1] / "data" / "twitter-text"


def _cases(file: str, *groups: str) -> list[Any]:
    tests = yaml.safe_load((CONFORMANCE / file).read_text(encoding="utf-8"))["tests"]
    return [
        pytest.param(case, id=f"{group}: {case['description']}")
        for group in groups
        for case in tests[group]
    ]


@pytest.mark.parametrize(
    "case",
    _cases(
        "validate.yml",
        "WeightedTweetsWithDiscountedEmojiCounterTest",
        "UnicodeDirectionalMarkerCounterTest",
    ),
)
def test_weighted_length_conformance_v3(case: dict[str, Any]) -> None:
    assert x_weighted_length(case["text"]) == case["expected"]["weightedLength"]


@pytest.mark.parametrize("case", _cases("validate.yml", "WeightedTweetsCounterTest"))
def test_weighted_length_conformance_v2_config(case: dict[str, Any]) -> None:
    # The same counter with emoji sequences not discounted: twitter-text's v2 configuration.
    expected = case["expected"]["weightedLength"]
    assert x_weighted_length(case["text"], emoji_sequences=False) == expected


@pytest.mark.parametrize(
    "case",
    _cases("extract.yml", "urls", "tco_urls_with_params"),
)
def test_links_found_as_twitter_text_extracts_them(case: dict[str, Any]) -> None:
    text = unicodedata.normalize("NFC", case["text"])
    assert [text[start:end] for start, end in url_spans(text)] == case["expected"]


@pytest.mark.parametrize(
    "case", _cases("extract.yml", "urls_with_indices", "urls_with_directional_markers")
)
def test_link_positions_conformance(case: dict[str, Any]) -> None:
    expected = [(entity["url"], tuple(entity["indices"])) for entity in case["expected"]]
    text = case["text"]
    assert [(text[start:end], (start, end)) for start, end in url_spans(text)] == expected


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
    # twitter-text 3.x links a bare name.cc too (older versions did not without a path).
    ("foo.jp", 23),
    ("a.co", 23),
    ("étest.io/x", 24),  # the link starts after the é, which twitter-text leaves out of it
    ("你test.io/x", 25),
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


def test_long_chains_of_dotted_words_are_not_links() -> None:
    # No label is a known TLD, so none of it links (and it is skipped without backtracking).
    assert x_weighted_length("a." * 1500) == 3000
    assert x_weighted_length("a." * 100 + "com") == 23
