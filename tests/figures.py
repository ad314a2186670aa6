"""Figures a test measured, printed at the end of the run (pytest shows a passing test's own output to nobody)."""

from __future__ import annotations

reported: list[str] = []


def report(text: str) -> None:
    """Print `text` now (with -s) and again in the run's closing summary, after every test."""
    print(text)
    reported.append(text)
