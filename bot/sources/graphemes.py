"""Counting user-perceived characters (grapheme clusters), as Bluesky limits posts to 300 of them.

A compact take on Unicode's extended grapheme cluster rules (UAX #29) for what posts contain:
combining marks, variation selectors, emoji modifiers, zero-width-joiner sequences, emoji tag
sequences, regional-indicator flag pairs, CR LF and Hangul syllable jamo. One emoji family
(👨‍👩‍👧) counts 1, a flag 1, `é` written as e + U+0301 counts 1.
"""

from __future__ import annotations

import unicodedata

_ZWJ = 0x200D


def _extends(code: int) -> bool:
    if 0xFE00 <= code <= 0xFE0F or 0xE0020 <= code <= 0xE007F or 0x1F3FB <= code <= 0x1F3FF:
        return True
    return unicodedata.category(chr(code)) in {"Mn", "Me", "Mc"}


def _regional(code: int) -> bool:
    return 0x1F1E6 <= code <= 0x1F1FF


def _jamo_kind(code: int) -> str:
    if 0x1100 <= code <= 0x115F or 0xA960 <= code <= 0xA97C:
        return "L"
    if 0x1160 <= code <= 0x11A7 or 0xD7B0 <= code <= 0xD7C6:
        return "V"
    if 0x11A8 <= code <= 0x11FF or 0xD7CB <= code <= 0xD7FB:
        return "T"
    return ""


def grapheme_length(text: str) -> int:
    """Return how many grapheme clusters `text` has."""
    count = 0
    previous: int | None = None
    regional_run = 0
    for char in text:
        code = ord(char)
        joins = previous is not None and (
            _extends(code)
            or code == _ZWJ
            or previous == _ZWJ
            or (previous == 0x0D and code == 0x0A)
            or (_regional(code) and _regional(previous) and regional_run % 2 == 1)
            or (_jamo_kind(previous) == "L" and _jamo_kind(code) in {"L", "V"})
            or (_jamo_kind(previous) in {"V", "T"} and _jamo_kind(code) in {"V", "T"})
        )
        regional_run = regional_run + 1 if _regional(code) else 0
        if not joins:
            count += 1
        previous = code
    return count
