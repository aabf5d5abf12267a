"""Final-number checks for math answers (GSM8K style).

Strict reads the number after `#### `, the format the prompts ask for. Flexible takes that number where it
exists and otherwise the last number in the answer, so every strict hit is also a flexible hit. Numbers are
compared as decimals after dropping `$`, thousands commas and a trailing `.`/`.0`.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# A thousands-grouped number (1,234.5) first, so "1,234" is one number; then plain ones (3.5, 42).
NUMBER = r"-?\$?\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_NUMBER_RE = re.compile(NUMBER)
_STRICT_RE = re.compile(r"####\s*(" + NUMBER + r")")


def normalize_number(text: str | int | float) -> str | None:
    """A canonical string for a number (`"$1,200.00"` -> `"1200"`), or None where it is not one."""
    raw = str(text).strip().replace(",", "").replace("$", "").replace(" ", "").rstrip(".")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def extract_strict(text: str) -> str | None:
    """The number after the first `####`, normalised; None when the answer has no such line."""
    match = _STRICT_RE.search(text)
    return normalize_number(match.group(1)) if match else None


def extract_flexible(text: str) -> str | None:
    """The `####` answer if there is one, else the last number in the text."""
    strict = extract_strict(text)
    if strict is not None:
        return strict
    numbers = _NUMBER_RE.findall(text)
    return normalize_number(numbers[-1]) if numbers else None


def same_number(found: str | None, reference: str | int | float) -> bool:
    expected = normalize_number(reference)
    return found is not None and expected is not None and Decimal(found) == Decimal(expected)


def match_strict(output: str, reference: str | int | float) -> bool:
    return same_number(extract_strict(output), reference)


def match_flexible(output: str, reference: str | int | float) -> bool:
    return same_number(extract_flexible(output), reference)
