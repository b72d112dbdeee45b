"""Values that the console renders in a form of their own (kept apart from views.py so pages.py can use them)."""

from __future__ import annotations

from dataclasses import dataclass

from test_records.models import HealthFlag


@dataclass(frozen=True)
class Code:
    """Text shown with line numbers (a flow's source), so an error's line can be found at a glance."""

    text: str


@dataclass(frozen=True)
class Flags:
    """A record's health flags, shown as red and yellow badges."""

    flags: tuple | list

    def badges(self) -> list[tuple[str, str]]:
        labels = dict(HealthFlag.choices)
        return [(labels.get(flag, flag), HealthFlag.severity(flag)) for flag in self.flags]


@dataclass(frozen=True)
class PostButton:
    """A button that POSTs (with the CSRF token) to url; rendered in a table cell."""

    url: str
    label: str
