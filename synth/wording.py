"""Counts in user-facing lines: "1 problem", "2 problems", "1 turn" (never "1 problems")."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """``n`` and the word, singular for exactly one: plural(1, "topic") == "1 topic"."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"
