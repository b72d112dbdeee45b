"""Reading the offline CLI's inputs: test records as JSON Lines, a mock record's JSON responses from a HAR
file, and scenario files. Every error names the file and the line or entry."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from urllib.parse import urlsplit

import orjson

from sdk_bridge.capture_files import CaptureFileError, har_entries
from trackreplay.uploads import UploadRefused, check_count, env_limits, parse_json, read_file

from .engine import ApiResponse
from .rulebook import RuleError, ScenarioFile, load_scenario


class InputError(ValueError):
    """An input file that cannot be used; the message names the file and where in it."""


def read_record(path: str | Path) -> list[dict]:
    """Canonical events, one JSON object a line: {"event": str, "properties": {...}, "time", "distinct_id",
    "step", ...}. Blank lines are skipped; anything else malformed is an InputError with its line number."""
    path = Path(path)
    limits = env_limits()
    data = _read(path, limits)
    events = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            check_count(len(events) + 1, limits, f"events in {path}")
            event = parse_json(line, limits, what=f"{path} line {number}")
        except UploadRefused as exc:
            if exc.limit is not None:
                raise InputError(exc.reason) from None
            raise InputError(f"{path} line {number}: not valid JSON ({exc.reason})") from None
        if not isinstance(event, dict):
            raise InputError(f"{path} line {number}: expected a JSON object, got {type(event).__name__}")
        if not isinstance(event.get("event"), str) or not event["event"]:
            raise InputError(f"{path} line {number}: \"event\" must be a non-empty string")
        properties = event.get("properties", {})
        if properties is None:
            event["properties"] = {}
        elif not isinstance(properties, dict):
            raise InputError(f"{path} line {number}: \"properties\" must be an object")
        for key in ("time", "step"):
            value = event.get(key)
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
                raise InputError(f"{path} line {number}: \"{key}\" must be a number or null")
        event["line"] = number
        events.append(event)
    return events


def read_api_responses(path: str | Path) -> list[ApiResponse]:
    """The JSON responses of a HAR file, in entry order (non-JSON responses are skipped: no rule maps them)."""
    path = Path(path)
    try:
        entries = har_entries(path)
    except CaptureFileError as exc:
        raise InputError(str(exc)) from None
    responses = []
    for index, entry in enumerate(entries):
        try:
            request, content = entry["request"], entry["response"].get("content") or {}
            text = content.get("text")
            if text is None:
                continue
            raw = base64.b64decode(text) if content.get("encoding") == "base64" else text.encode("utf-8", "surrogatepass")
            url = urlsplit(request["url"])
        except (KeyError, TypeError, AttributeError, binascii.Error, ValueError) as exc:
            raise InputError(f"{path}: entry {index} is malformed ({type(exc).__name__}: {exc})") from None
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        responses.append(ApiResponse(request["method"], url.hostname or "", url.path or "/", body))
    return responses


def read_scenario(path: str | Path) -> ScenarioFile:
    path = Path(path)
    limits = env_limits()
    try:
        data = parse_json(_read(path, limits), limits, what=str(path))
    except UploadRefused as exc:
        raise InputError(exc.reason if exc.limit else f"{path}: not valid JSON ({exc.reason})") from None
    rules = data.get("rules") if isinstance(data, dict) else None
    try:
        check_count(len(rules) if isinstance(rules, list) else 0, limits, f"rules in {path}")
    except UploadRefused as exc:
        raise InputError(exc.reason) from None
    try:
        return load_scenario(data, str(path))
    except RuleError as exc:
        raise InputError(str(exc)) from None


def _read(path: Path, limits) -> bytes:
    """A whole input file, bounded like an upload (TRACKREPLAY_UPLOAD_MAX_*; gzipped files are read too)."""
    try:
        return read_file(path, limits)
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    except UploadRefused as exc:
        raise InputError(exc.reason) from None
