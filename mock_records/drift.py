"""API change detection, pure: compare a recorded response with a live one by structure, not by value.
Each side becomes a shape: every key path with the JSON types seen there, arrays by their elements'
shape (`items[]`), so new prices or reordered lists are no change, but an added, removed or retyped key is.
The suggested update keeps the recorded values and takes the live response's structure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scenarios.paths import join

_TYPES = {str: "string", int: "number", float: "number", bool: "boolean", dict: "object", list: "array",
          type(None): "null"}


def shape(value, path: str = "", into: dict[str, set[str]] | None = None) -> dict[str, set[str]]:
    """{key path: JSON types seen there}; the root is "$"."""
    into = {} if into is None else into
    into.setdefault(path or "$", set()).add(_TYPES.get(value.__class__, "unknown"))
    if value.__class__ is dict:
        for key, child in value.items():
            shape(child, join(path, key), into)
    elif value.__class__ is list:
        for element in value:
            shape(element, f"{path}[]", into)
    return into


@dataclass(frozen=True)
class KeyChange:
    path: str
    kind: str  # "added", "removed", "retyped"
    recorded: tuple[str, ...]  # types at the path in the recording
    live: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "recorded": list(self.recorded), "live": list(self.live)}


def compare(recorded, live) -> list[KeyChange]:
    old, new = shape(recorded), shape(live)
    changes = []
    for path in sorted(set(old) | set(new)):
        if path not in new:
            if not _under_missing(path, new) and not _empty_array_above(path, new):  # said by the parent, or unknowable
                changes.append(KeyChange(path, "removed", tuple(sorted(old[path])), ()))
        elif path not in old:
            if not _under_missing(path, old) and not _empty_array_above(path, old):
                changes.append(KeyChange(path, "added", (), tuple(sorted(new[path]))))
        else:
            # null on one side only is no retyping (an optional value that happened to be empty)
            a, b = old[path] - {"null"}, new[path] - {"null"}
            if a and b and a != b:
                changes.append(KeyChange(path, "retyped", tuple(sorted(old[path])), tuple(sorted(new[path]))))
    return changes


def _empty_array_above(path: str, other: dict) -> bool:
    """An array that is empty on the other side says nothing about its elements' shape."""
    index = path.find("[]")
    while index != -1:
        prefix = path[:index]
        if prefix in other and f"{prefix}[]" not in other:
            return True
        index = path.find("[]", index + 2)
    return False


def _under_missing(path: str, other: dict) -> bool:
    parent = path
    while True:
        cut = max(parent.rfind("."), parent.rfind("[]"))
        if cut <= 0:
            return False
        parent = parent[:cut]
        if parent and parent not in other:
            return True


def suggest(recorded, live):
    """The live response's structure with the recording's values where both have them: what the mock
    record's exchange could become so the replay stays deterministic yet current."""
    if recorded.__class__ is dict and live.__class__ is dict:
        return {key: suggest(recorded[key], value) if key in recorded else value for key, value in live.items()}
    if recorded.__class__ is list and live.__class__ is list:
        if not recorded:
            return live
        return [suggest(recorded[i] if i < len(recorded) else recorded[-1], value) for i, value in enumerate(live)][
            : max(len(recorded), 1)] if live else []
    if _TYPES.get(recorded.__class__) == _TYPES.get(live.__class__):
        return recorded
    return live
