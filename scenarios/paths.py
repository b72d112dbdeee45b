"""Property paths: `a.b` walks into objects, `items[]` is every element of an array, `items[].id` the `id`
of every element. The same syntax addresses fields of API responses (`data.items[].name`).

A key that itself contains a dot or brackets is written in quotes: `"a.b".c`."""

from __future__ import annotations

import json
import re
from functools import lru_cache

EACH = None  # the `[]` segment
MISSING = type("Missing", (), {"__repr__": lambda self: "MISSING", "__bool__": lambda self: False})()

_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|([^.\[\]"]+)|(\[\])|(\.)')


class PathError(ValueError):
    pass


@lru_cache(maxsize=4096)
def parse(path: str) -> tuple:
    """'items[].id' -> ('items', EACH, 'id'). Raises PathError naming the position of a bad character."""
    if not path:
        raise PathError("empty property path")
    segments: list = []
    position = 0
    expect_key = True
    while position < len(path):
        match = _TOKEN.match(path, position)
        if not match:
            raise PathError(f"bad character {path[position]!r} at position {position} of path {path!r}")
        quoted, bare, each, dot = match.groups()
        if each:
            if expect_key and segments == []:
                raise PathError(f"path {path!r} starts with []")
            segments.append(EACH)
            expect_key = False
        elif dot:
            if expect_key:
                raise PathError(f"empty key at position {position} of path {path!r}")
            expect_key = True
        else:
            if not expect_key:
                raise PathError(f"missing '.' before position {position} of path {path!r}")
            segments.append(json.loads(f'"{quoted}"') if quoted is not None else bare)
            expect_key = False
        position = match.end()
    if expect_key:
        raise PathError(f"path {path!r} ends with '.'")
    return tuple(segments)


def format_key(key: str) -> str:
    return key if key and not re.search(r'[.\[\]"]', key) else json.dumps(key, ensure_ascii=False)


def join(prefix: str, key: str) -> str:
    return f"{prefix}.{format_key(key)}" if prefix else format_key(key)


def values(document, segments: tuple, prefix: str = "") -> list[tuple[str, object]]:
    """Every (concrete path, value) the path reaches: `items[2].id` for the third element. A key absent on
    the way yields MISSING at the full concrete path; an array that is absent or not an array yields
    nothing below it (the array's own rules say what is wrong with it)."""
    found: list[tuple[str, object]] = []
    _walk(document, segments, 0, prefix, found)
    return found


def _walk(node, segments, position, path, found):
    if position == len(segments):
        found.append((path, node))
        return
    segment = segments[position]
    if segment is EACH:
        if node.__class__ is list:
            for index, element in enumerate(node):
                _walk(element, segments, position + 1, f"{path}[{index}]", found)
        return
    child = node.get(segment, MISSING) if node.__class__ is dict else MISSING
    if child is MISSING:
        rest = segments[position:]
        if EACH not in rest:
            for key in rest:
                path = join(path, key)
            found.append((path, MISSING))
        return
    _walk(child, segments, position + 1, join(path, segment), found)


def simple(segments: tuple) -> bool:
    return EACH not in segments
