"""Can this value be stored? One answer for every path that stores what a user sent (the API's JSON bodies,
serializers' JSON fields, event ingestion, HAR and flow imports), so no bad value reaches the database and
comes back as a 500.

What the databases refuse, and so what is refused here with the path of the first bad value:
- NUL (U+0000) in a string or an object key: PostgreSQL cannot store it in text or jsonb;
- lone surrogates (U+D800..U+DFFF) in strings or keys: they are not encodable as UTF-8;
- integers outside signed 64 bits: SQLite's json and integer columns overflow (so do BigIntegerFields);
- floats that are NaN or infinite: not JSON, and PostgreSQL's jsonb refuses them;
- nesting deeper than the ingestion depth limit.

`first_bad_value` is plain Python (no Django), like the other pure cores; `check_instance` applies the same
rules, plus max_length and the column's integer range, to a model instance about to be saved.
"""

from __future__ import annotations

import json
import math

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
DEFAULT_MAX_DEPTH = 64

# Integer columns by Django internal type, at PostgreSQL's sizes (the strictest of the supported databases),
# so a value is refused the same way on SQLite as on PostgreSQL.
INTEGER_RANGES = {
    "SmallIntegerField": (-(2**15), 2**15 - 1),
    "PositiveSmallIntegerField": (0, 2**15 - 1),
    "IntegerField": (-(2**31), 2**31 - 1),
    "PositiveIntegerField": (0, 2**31 - 1),
    "BigIntegerField": (INT64_MIN, INT64_MAX),
    "PositiveBigIntegerField": (0, INT64_MAX),
    "AutoField": (1, 2**31 - 1),
    "BigAutoField": (1, INT64_MAX),
}

# Times as ms since the epoch that name a day of the Gregorian calendar as Python and PostgreSQL know it:
# 1970-01-01 up to 9999-12-31T23:59:59.999Z.
MAX_EPOCH_MS = 253_402_300_799_999


class BadValue(ValueError):
    """A value that cannot be stored: `path` says where (e.g. `events[3].properties.price`), `problem` what."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path else problem)


def key_path(path: str, key) -> str:
    """`path.key` for plain keys, `path["odd key"]` (ASCII-escaped, so the message itself is always storable
    and printable) for anything else."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if isinstance(key, str) and key.isascii() and key.isidentifier():
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(str(key))}]"


def string_problem(text: str) -> str | None:
    """Why a string cannot be stored, or None."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which cannot be stored"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            return (f"contains a lone surrogate (\\u{ord(text[exc.start]):04x}) at character {exc.start}, "
                    "which is not valid Unicode")
    return None


def number_problem(value) -> str | None:
    if value.__class__ is bool:
        return None
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            return "is an integer outside the signed 64-bit range (-2**63 to 2**63-1)"
    elif isinstance(value, float) and not math.isfinite(value):
        return "is not a finite number (NaN and Infinity are not JSON)"
    return None


def first_bad_value(value, path: str = "", *, max_depth: int = DEFAULT_MAX_DEPTH) -> BadValue | None:
    """The first value in a decoded JSON document that cannot be stored, as a BadValue naming its path; None
    when all of it can. Walks iteratively, so a deep document cannot exhaust the stack."""
    stack = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        kind = item.__class__
        if kind is str:
            problem = string_problem(item)
        elif kind is dict or kind is list or kind is tuple or isinstance(item, (dict, list, tuple)):
            if depth >= max_depth:
                return BadValue(where, f"is nested deeper than max_depth={max_depth}")
            children = []
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str):
                        return BadValue(where, f"has a key that is not a string ({type(key).__name__})")
                    problem = string_problem(key)
                    if problem:
                        return BadValue(key_path(where, key), f"the key {problem}")
                    children.append((child, key_path(where, key), depth + 1))
            else:
                children = [(child, f"{where}[{index}]", depth + 1) for index, child in enumerate(item)]
            stack.extend(reversed(children))  # depth first, in document order: the first bad value is named
            continue
        elif item is None or kind is bool:
            problem = None
        elif isinstance(item, (int, float)):
            problem = number_problem(item)
        else:
            problem = f"is not a JSON value ({type(item).__name__})"
        if problem:
            return BadValue(where, problem)
    return None


def check_value(value, path: str = "", *, max_depth: int = DEFAULT_MAX_DEPTH):
    """The value itself, or BadValue (see first_bad_value)."""
    bad = first_bad_value(value, path, max_depth=max_depth)
    if bad is not None:
        raise bad
    return value


def time_problem(value) -> str | None:
    """Why a time in ms since the epoch names no calendar day, or None."""
    if value.__class__ is bool or not isinstance(value, int):
        return "must be an integer (ms since the epoch)"
    if not 0 <= value <= MAX_EPOCH_MS:
        return f"{value} ms since the epoch is outside the calendar (0 to {MAX_EPOCH_MS}, the year 9999)"
    return None


# -- model instances about to be saved ------------------------------------------------------------------------

def instance_problems(instance, *, fields=None) -> dict[str, str]:
    """{field name: problem} for every concrete field of a model instance whose value cannot be stored: text
    longer than max_length, NUL or lone surrogates in text, integers outside the column's range, JSON
    that first_bad_value refuses, dates outside the calendar. `fields` limits the check to those names."""
    from django.db import models

    problems = {}
    for field in instance._meta.concrete_fields:
        if fields is not None and field.name not in fields:
            continue
        value = getattr(instance, field.attname, None)
        if value is None:
            continue
        problem = None
        if isinstance(field, models.JSONField):
            bad = first_bad_value(value)
            problem = str(bad) if bad is not None else None
        elif isinstance(value, str):
            problem = string_problem(value)
            if problem is None and field.max_length is not None and len(value) > field.max_length:
                problem = f"is {len(value)} characters long; at most {field.max_length} are allowed"
        elif isinstance(value, int) and not isinstance(value, bool):
            low, high = INTEGER_RANGES.get(field.get_internal_type(), (INT64_MIN, INT64_MAX))
            if not low <= value <= high:
                problem = f"{value} is outside the range this field stores ({low} to {high})"
        elif isinstance(value, float):
            problem = number_problem(value)
        if problem:
            problems[field.name] = problem
    return problems


def check_instance(instance, where: str = "", *, fields=None) -> None:
    """BadValue naming `where` and the first field that cannot be stored (see instance_problems)."""
    problems = instance_problems(instance, fields=fields)
    if problems:
        name, problem = next(iter(problems.items()))
        raise BadValue(key_path(where, name) if where else name, problem)
