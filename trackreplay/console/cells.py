"""Values that the console renders in a form of their own (kept apart from views.py so pages.py can use them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Code:
    """Text shown with line numbers (a flow's source), so an error's line can be found at a glance."""

    text: str
