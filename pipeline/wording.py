"""Counts as people read them: ``1 row``, ``2 rows``; one rule for every message."""

from __future__ import annotations


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 row``, ``2 rows`` (``words`` for an irregular plural)."""
    return f"{count} {word if count == 1 else words or word + 's'}"
