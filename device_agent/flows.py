"""Flows: the YAML a QA engineer writes for one test case (docs/flows.md), read into plain steps.

Reading is strict: a file that does not parse, an unknown action, an unknown key, a value of the wrong
kind or an undefined ${VARIABLE} is refused with the file, the line and the reason, because a flow that
silently skips a misspelt step records a different test case than the one its author meant. `run_flow`
and `repeat` are expanded here, so a flow becomes one flat list of steps numbered 1..N: the numbers in a
run's timeline and on its events are the same in every run of the flow. No Django here (the agent and
`trackreplay play` read flows too)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PLATFORMS = ("web", "android", "ios")
# What each platform's driver can look elements up by: `id` is the DOM id (web) or the resource-id (Android);
# `accessibility_id` the aria-label, content-desc or XCUI name; `class_chain` and `predicate` are XCUITest's own.
PLATFORM_LOCATORS = {
    "web": ("id", "text", "accessibility_id", "xpath", "css", "point"),
    "android": ("id", "text", "accessibility_id", "xpath", "point"),
    "ios": ("accessibility_id", "text", "class_chain", "predicate", "xpath", "point"),
}
LOCATOR_KINDS = ("id", "text", "accessibility_id", "xpath", "css", "class_chain", "predicate", "point")
PLATFORM_NAMES = {"web": "the web", "android": "Android", "ios": "iOS"}
COMMON_KEYS = ("optional", "timeout", "retry", "label")
DIRECTIONS = ("down", "up", "left", "right")
MAX_STEPS = 5000  # after expansion: a repeat of a repeat should not turn into a million steps by accident
MAX_FLOW_BYTES = 1024 * 1024
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\$")
_POINT = re.compile(r"^\s*(\d+(?:\.\d+)?)(%?)\s*,\s*(\d+(?:\.\d+)?)(%?)\s*$")


class FlowError(ValueError):
    """A flow that cannot be run, with where and why: str() reads 'login.yaml:12: tap: unknown key ...'."""

    def __init__(self, file: str, line: int | None, reason: str):
        self.file, self.line, self.reason = file, line, reason
        super().__init__(f"{file}:{line}: {reason}" if line else f"{file}: {reason}")


@dataclass(frozen=True)
class Point:
    """A screen position, in pixels or as a fraction of the screen (percent given as 50% -> 0.5)."""

    x: float
    y: float
    relative_x: bool
    relative_y: bool

    @classmethod
    def parse(cls, text: str) -> Point:
        match = _POINT.match(str(text))
        if not match:
            raise ValueError(f"{text!r} is not a point: write 'x,y' in pixels or percent, e.g. '50%,12%'")
        x, px, y, py = match.groups()
        point = cls(float(x) / 100 if px else float(x), float(y) / 100 if py else float(y), bool(px), bool(py))
        if (px and point.x > 1) or (py and point.y > 1):
            raise ValueError(f"{text!r}: a percentage cannot be over 100%")
        return point

    def resolve(self, width: float, height: float) -> tuple[float, float]:
        return (self.x * width if self.relative_x else self.x, self.y * height if self.relative_y else self.y)

    def __str__(self) -> str:
        def part(value, relative):
            return f"{value * 100:g}%" if relative else f"{value:g}"
        return f"{part(self.x, self.relative_x)},{part(self.y, self.relative_y)}"


@dataclass(frozen=True)
class Locator:
    kind: str  # one of LOCATOR_KINDS
    value: str | Point

    def __str__(self) -> str:
        return f"{self.kind}={self.value}"


@dataclass
class Step:
    """One flat step. `params` holds the action's own arguments (text, from/to, seconds, ...)."""

    action: str
    params: dict[str, Any] = field(default_factory=dict)
    target: list[Locator] = field(default_factory=list)
    optional: bool = False
    timeout: float | None = None
    retry: int = 0
    label: str = ""
    file: str = ""
    line: int | None = None
    written: dict[str, str] = field(default_factory=dict)  # params as written, where they used ${VARIABLES}
    # Per-platform locator lists as written (target: {android: [...], ios: [...]}); `target` is the chosen
    # platform's list, or the locators written for every platform.
    targets: dict[str, list[Locator]] = field(default_factory=dict)

    def shown_params(self) -> dict:
        """The params for people to read: a value that came from a variable is shown as the variable, so a
        password passed as ${PASSWORD} never appears in timelines, reports or the console."""
        return {**self.params, **self.written}

    def describe(self) -> str:
        if self.label:
            return self.label
        words = [self.action]
        if self.target:
            words.append(" or ".join(str(locator) for locator in self.target))
        shown = self.shown_params()
        for key in ("text", "seconds", "equals", "contains", "from", "to", "direction", "file", "function"):
            if key in shown:
                words.append(f"{key}={shown[key]}")
        return " ".join(words)


@dataclass
class Flow:
    name: str
    app: str
    env: dict[str, str]
    steps: list[Step]
    file: str
    platform: str | None = None  # the platform the flow was read for (its locators were checked against)


# -- what each action accepts ---------------------------------------------------------------------------
# key -> kind checker; "target" means the action finds an element (locator keys or a target list).

def _bool(value):
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _seconds(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value > 3600:
        raise ValueError("must be a number of seconds between 0 and 3600")
    return float(value)


def _count(low, high):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return value
    return check


def _text(value):
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("must be a string")
    return str(value)


def _point(value):
    return Point.parse(_text(value))


def _direction(value):
    if value not in DIRECTIONS:
        raise ValueError(f"must be one of {', '.join(DIRECTIONS)}")
    return value


ACTIONS: dict[str, dict] = {
    "launch": {"keys": {"clear_state": _bool}, "target": False},
    "tap": {"keys": {}, "target": True},
    "long_press": {"keys": {"duration": _seconds}, "target": True},
    "input": {"keys": {"text": _text, "clear": _bool}, "target": "optional", "required": ("text",)},
    "swipe": {"keys": {"from": _point, "to": _point, "duration": _seconds}, "target": False,
              "required": ("from", "to")},
    "scroll_until_visible": {"keys": {"direction": _direction, "max_scrolls": _count(1, 200)}, "target": True},
    "back": {"keys": {}, "target": False},
    "wait": {"keys": {"seconds": _seconds}, "target": False, "required": ("seconds",), "scalar": "seconds"},
    "assert_visible": {"keys": {}, "target": True},
    "assert_not_visible": {"keys": {}, "target": True},
    "assert_text": {"keys": {"equals": _text, "contains": _text}, "target": True, "one_of": ("equals", "contains")},
    "run_flow": {"keys": {"file": _text, "env": None}, "target": False, "required": ("file",), "scalar": "file"},
    "repeat": {"keys": {"times": _count(1, 1000), "steps": None}, "target": False, "required": ("times", "steps")},
    "python": {"keys": {"file": _text, "function": _text}, "target": False, "required": ("file",),
               "scalar": "file"},
}
COMMON = {"optional": _bool, "timeout": _seconds, "retry": _count(0, 20), "label": _text}
TOP_KEYS = ("name", "app", "env", "apps", "steps")


# -- reading --------------------------------------------------------------------------------------------

class _Reader:
    def __init__(self, file: str, variables: dict[str, str], stack: tuple[str, ...], base: Path | None,
                 sources: Mapping[str, str] | None = None, platform: str | None = None):
        self.file = file
        self.platform = platform
        self.variables = variables
        self.stack = stack
        self.base = base
        self.sources = sources
        self.lenient = False
        self.steps: list[Step] = []

    def sibling(self, name: str) -> str:
        """A file named by run_flow or python, as a key of `sources` (relative to the including file)."""
        return posixpath.normpath(posixpath.join(posixpath.dirname(self.file), name))

    def fail(self, node, reason: str) -> FlowError:
        line = node.start_mark.line + 1 if node is not None else None
        return FlowError(self.file, line, reason)

    def scalar(self, node):
        """A scalar node's Python value (YAML 1.1 resolution: 1.5 float, true bool), ${VAR} substituted."""
        value = yaml.safe_load(yaml.serialize(node)) if node.tag != "tag:yaml.org,2002:str" else node.value
        return self.substitute(node, value) if isinstance(value, str) else value

    def substitute(self, node, text: str) -> str:
        def replace(match):
            if match.group(0) == "$$":
                return "$"
            name = match.group(1)
            if name not in self.variables and self.lenient:
                return match.group(0)
            if name not in self.variables:
                raise self.fail(node, f"${{{name}}} is not defined: add it under env: or pass --env {name}=...")
            return self.variables[name]
        return _VARIABLE.sub(replace, text)

    def key(self, node) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, "a key must be a plain word")
        return str(node.value)

    def mapping(self, node, what: str) -> list[tuple[str, Any, Any]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping (key: value)")
        seen = set()
        pairs = []
        for key_node, value_node in node.value:
            key = self.key(key_node)
            if key in seen:
                raise self.fail(key_node, f"{what}: {key!r} is given twice")
            seen.add(key)
            pairs.append((key, key_node, value_node))
        return pairs

    # steps

    def read_steps(self, node) -> None:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, "steps must be a list (each item starts with '- ')")
        for item in node.value:
            self.read_step(item)

    def read_step(self, node) -> None:
        if isinstance(node, yaml.ScalarNode):
            action, key_node, args = self.scalar(node), node, None
        elif isinstance(node, yaml.MappingNode):
            pairs = self.mapping(node, "a step")
            if len(pairs) != 1:
                names = ", ".join(key for key, _, _ in pairs)
                raise self.fail(node, f"a step has exactly one action; this one has {len(pairs)} keys ({names}): "
                                      f"put options inside the action, e.g. '- tap: {{text: OK, optional: true}}'")
            action, key_node, args = pairs[0]
        else:
            raise self.fail(node, "a step is an action name or 'action: arguments'")
        if not isinstance(action, str) or action not in ACTIONS:
            raise self.fail(key_node, f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
        spec = ACTIONS[action]
        step = Step(action=action, file=self.file, line=node.start_mark.line + 1)
        extra: dict[str, Any] = {}
        if args is None or (isinstance(args, yaml.ScalarNode) and args.tag == "tag:yaml.org,2002:null"):
            pass
        elif isinstance(args, yaml.MappingNode):
            self.read_arguments(step, spec, args, extra)
        elif isinstance(args, yaml.ScalarNode) and spec.get("scalar"):
            self.set_param(step, spec, spec["scalar"], args, extra)
        else:
            raise self.fail(args, f"{action}: expected a mapping of options"
                                  + (f" or a {spec['scalar']}" if spec.get("scalar") else ""))
        for key in spec.get("required", ()):
            if key not in step.params and key not in extra:
                raise self.fail(node, f"{action}: {key!r} is required")
        if spec.get("one_of") and not any(key in step.params for key in spec["one_of"]):
            raise self.fail(node, f"{action}: give one of {', '.join(spec['one_of'])}")
        if spec["target"] is True and not step.target and not step.targets:
            raise self.fail(node, f"{action}: say which element, with a locator ({', '.join(self.kinds())}) "
                                  f"or a target list")
        if step.targets and self.platform is not None:
            if self.platform not in step.targets:
                raise self.fail(node, f"{action}: no locator for {PLATFORM_NAMES[self.platform]} (target has "
                                      f"{', '.join(step.targets)}): add '{self.platform}: [...]' under target")
            step.target = list(step.targets[self.platform])
        if action == "python":
            self.locate_script(step, node)
        if action == "run_flow":
            self.include(step, node, extra)
        elif action == "repeat":
            for _ in range(step.params["times"]):
                self.read_steps(extra["steps"])
        else:
            self.append(step, node)

    def read_arguments(self, step: Step, spec: dict, node, extra: dict) -> None:
        locator_pairs = []
        for key, key_node, value_node in self.mapping(node, step.action):
            if key in spec["keys"]:  # before locators: input's `text` is what to type, not a locator
                self.set_param(step, spec, key, value_node, extra)
            elif key in LOCATOR_KINDS:
                if spec["target"] is False:
                    raise self.fail(key_node, f"{step.action} takes no locator ({key!r})")
                locator_pairs.append((key, key_node, value_node))
            elif key == "target":
                if spec["target"] is False:
                    raise self.fail(key_node, f"{step.action} takes no target")
                if self.per_platform(value_node):
                    step.targets = self.read_platform_targets(value_node, step.action)
                else:
                    step.target.extend(self.read_target(value_node, step.action))
            elif key in COMMON:
                try:
                    value = COMMON[key](self.scalar(value_node) if isinstance(value_node, yaml.ScalarNode) else None)
                except ValueError as exc:
                    raise self.fail(value_node, f"{step.action}: {key} {exc}") from None
                setattr(step, key, value)
            else:
                known = [*spec["keys"], *COMMON] + (["target", *self.kinds()] if spec["target"] else [])
                raise self.fail(key_node, f"{step.action}: unknown key {key!r}; known: {', '.join(known)}")
        if locator_pairs:
            if step.target or step.targets:
                raise self.fail(node, f"{step.action}: give either a locator or target:, not both")
            if len(locator_pairs) > 1:
                raise self.fail(node, f"{step.action}: one locator per element ("
                                      f"{', '.join(k for k, _, _ in locator_pairs)} given); list alternatives "
                                      f"under target: [...] and they are tried in order")
            step.target.append(self.locator(*locator_pairs[0]))

    def set_param(self, step: Step, spec: dict, key: str, node, extra: dict) -> None:
        check = spec["keys"][key]
        if check is None:  # structured values (run_flow env, repeat steps) are read by their action
            extra[key] = node
            return
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, f"{step.action}: {key} must be a single value")
        try:
            step.params[key] = check(self.scalar(node))
        except ValueError as exc:
            raise self.fail(node, f"{step.action}: {key} {exc}") from None
        if "${" in str(node.value):
            step.written[key] = str(node.value)

    def kinds(self, platform: str | None = None) -> tuple[str, ...]:
        platform = platform or self.platform
        return PLATFORM_LOCATORS[platform] if platform else LOCATOR_KINDS

    @staticmethod
    def per_platform(node) -> bool:
        """target: {android: [...], ios: [...]} rather than target: {id: buy} or a list."""
        return (isinstance(node, yaml.MappingNode) and bool(node.value)
                and all(isinstance(k, yaml.ScalarNode) and k.value in PLATFORMS for k, _ in node.value))

    def read_platform_targets(self, node, action: str) -> dict[str, list[Locator]]:
        targets = {}
        for platform, _, value_node in self.mapping(node, f"{action}: target"):
            # Another platform's locators are checked but may use variables only its app defines (apps:).
            self.lenient = self.platform is not None and platform != self.platform
            try:
                targets[platform] = self.read_target(value_node, f"{action}: {platform}", platform)
            finally:
                self.lenient = False
        return targets

    def read_target(self, node, action: str, platform: str | None = None) -> list[Locator]:
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        if not items:
            raise self.fail(node, f"{action}: target is an empty list")
        locators = []
        for item in items:
            pairs = self.mapping(item, f"{action}: a target")
            if len(pairs) != 1:
                raise self.fail(item, f"{action}: each target is one locator such as {{id: buy}}; "
                                      f"got {', '.join(k for k, _, _ in pairs) or 'nothing'}")
            locators.append(self.locator(*pairs[0], platform=platform))
        return locators

    def locator(self, kind: str, key_node, value_node, platform: str | None = None) -> Locator:
        if kind not in LOCATOR_KINDS:
            raise self.fail(key_node, f"unknown locator {kind!r}; known: {', '.join(self.kinds(platform))}")
        platform = platform or self.platform
        if platform is not None and kind not in PLATFORM_LOCATORS[platform]:
            raise self.fail(key_node, f"{kind} is not a locator on {PLATFORM_NAMES[platform]}; it takes "
                                      f"{', '.join(PLATFORM_LOCATORS[platform])} (list each platform's own under "
                                      f"target: {{web: [...], android: [...], ios: [...]}})")
        if not isinstance(value_node, yaml.ScalarNode):
            raise self.fail(value_node, f"locator {kind} must be a single value")
        value = self.scalar(value_node)
        if value is None or value == "":
            raise self.fail(value_node, f"locator {kind} is empty")
        try:
            return Locator(kind, Point.parse(str(value)) if kind == "point" else str(value))
        except ValueError as exc:
            raise self.fail(value_node, str(exc)) from None

    def locate_script(self, step: Step, node) -> None:
        step.params.setdefault("function", "run")
        if self.sources is not None:
            key = self.sibling(step.params["file"])
            if not key.endswith(".py") or key not in self.sources:
                raise self.fail(node, f"python: no script {step.params['file']!r} in this project")
            step.params["file"] = key
            return
        path = Path(step.params["file"])
        if not path.is_absolute():
            if self.base is None:
                raise self.fail(node, "python: give an absolute path, or read the flow from a file")
            path = self.base / path
        if path.suffix != ".py" or not path.is_file():
            raise self.fail(node, f"python: {step.params['file']}: no such .py file (looked in {path.parent})")
        step.params["file"] = str(path.resolve())

    def append(self, step: Step, node) -> None:
        if len(self.steps) >= MAX_STEPS:
            raise self.fail(node, f"the flow expands to more than {MAX_STEPS} steps (check repeat counts)")
        self.steps.append(step)

    def include(self, step: Step, node, extra: dict) -> None:
        name = step.params["file"]
        if self.sources is not None:
            key = self.sibling(name)
            if key not in self.sources:
                known = ", ".join(sorted(k for k in self.sources if not k.endswith(".py"))) or "none"
                raise self.fail(node, f"run_flow: no flow {name!r} in this project (flows: {known})")
            where, text = key, self.sources[key]
        elif self.base is None:
            raise self.fail(node, "run_flow needs the flow to be read from a file (its folder is where "
                                  "included flows are looked for)")
        else:
            path = (self.base / name).resolve()
            if not path.is_file():
                raise self.fail(node, f"run_flow: {name}: no such file (looked in {self.base})")
            where, text = str(path), None
        if where in self.stack:
            chain = " -> ".join(Path(p).name for p in (*self.stack, where))
            raise self.fail(node, f"run_flow includes itself: {chain}")
        variables = dict(self.variables)
        if "env" in extra:
            for key, key_node, value_node in self.mapping(extra["env"], "run_flow env"):
                variables[key] = _env_value(self, key, value_node)
        if text is None:
            text = _read_text(Path(where), self.file, step.line)
        base = Path(where).parent if self.sources is None else None
        inner = _read(text, where, variables, (*self.stack, where), base, included=True, sources=self.sources,
                      platform=self.platform)
        for inner_step in inner:
            self.append(inner_step, node)


def _env_value(reader: _Reader, key: str, node) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise reader.fail(node, f"env: {key} must be a single value")
    value = reader.scalar(node)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _read_text(path: Path, parent: str, line: int | None) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FlowError(parent, line, f"{path}: {exc.strerror}") from None
    if len(data) > MAX_FLOW_BYTES:
        raise FlowError(str(path), None, f"over {MAX_FLOW_BYTES} bytes: is this a flow?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FlowError(str(path), None, f"not UTF-8 text (byte {exc.start})") from None


def _compose(text: str, file: str):
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise FlowError(file, mark.line + 1 if mark else None,
                        f"not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise FlowError(file, None, f"not valid YAML: {exc}") from None


def _read(text: str, file: str, overrides: dict[str, str], stack: tuple[str, ...], base: Path | None, *,
          included: bool = False, app: str | None = None, header: dict | None = None,
          sources: Mapping[str, str] | None = None, platform: str | None = None) -> list[Step]:
    root = _compose(text, file)
    if root is None:
        raise FlowError(file, None, "the file is empty")
    reader = _Reader(file, {}, stack, base, sources, platform)
    if isinstance(root, yaml.SequenceNode):  # a bare list of steps: handy for included flows
        pairs = [("steps", root, root)]
    else:
        pairs = reader.mapping(root, "a flow")
    nodes = {}
    for key, key_node, value_node in pairs:
        if key not in TOP_KEYS:
            raise reader.fail(key_node, f"unknown key {key!r} at the top of a flow; known: {', '.join(TOP_KEYS)}")
        nodes[key] = value_node
    # Variables: the flow's env, then the chosen app's, then what the caller passed (--env, run_flow env).
    variables: dict[str, str] = {}
    if "env" in nodes:
        for key, _, value_node in reader.mapping(nodes["env"], "env"):
            variables[key] = _env_value(reader, key, value_node)
    # The app is read with the flow's env and the caller's overrides (app: ${SHOP}); it then picks its own
    # variables under apps:, which the caller's overrides still beat.
    reader.variables = {**variables, **overrides}
    app_node = nodes.get("app")
    if isinstance(app_node, yaml.MappingNode):  # app: {web: URL, android: package, ios: bundle id}
        apps = {}
        for name, key_node, value_node in reader.mapping(app_node, "app"):
            if name not in PLATFORMS:
                raise reader.fail(key_node, f"app: {name!r} is not a platform; per-platform apps are keyed by "
                                            f"{', '.join(PLATFORMS)}")
            value = reader.scalar(value_node) if isinstance(value_node, yaml.ScalarNode) else None
            if not isinstance(value, str) or not value:
                raise reader.fail(value_node, f"app: {name} must be a start URL, package name or bundle id")
            apps[name] = value
        if platform is not None and platform not in apps and not app:
            raise reader.fail(app_node, f"app: no app for {PLATFORM_NAMES[platform]} (the flow names one for "
                                        f"{', '.join(apps)})")
        app_node = None
        flow_app = apps.get(platform) if platform else next(iter(apps.values()))
        # Read for no platform in particular (checking a saved flow): every platform's app picks its variables.
        picked = {flow_app} if platform else set(apps.values())
    else:
        flow_app = reader.scalar(app_node) if isinstance(app_node, yaml.ScalarNode) else None
        picked = {flow_app}
    if app_node is not None and not isinstance(flow_app, str):
        raise reader.fail(app_node, "app must be a start URL (web), a package name (Android) or a bundle id (iOS), "
                                    "or one of each: {web: ..., android: ..., ios: ...}")
    chosen_app = app or flow_app
    if app:
        picked = {app}
    if "apps" in nodes:
        for name, key_node, value_node in reader.mapping(nodes["apps"], "apps"):
            values = {key: _env_value(reader, key, node) for key, _, node in reader.mapping(value_node, f"apps.{name}")}
            if name in picked:
                variables.update(values)
    variables.update(overrides)  # --env, or the including flow's variables over the included flow's defaults
    reader.variables = variables
    if header is not None:
        name_node = nodes.get("name")
        header["name"] = _text(reader.scalar(name_node)) if isinstance(name_node, yaml.ScalarNode) else ""
        header["app"] = chosen_app or ""
        header["env"] = variables
    if "steps" not in nodes:
        raise FlowError(file, None, "a flow needs steps:")
    reader.read_steps(nodes["steps"])
    if not reader.steps and not included:
        raise reader.fail(nodes["steps"], "steps: is empty")
    return reader.steps


def parse_flow(text: str, *, file: str = "<flow>", env: dict[str, str] | None = None, app: str | None = None,
               base: Path | None = None, sources: Mapping[str, str] | None = None, require_app: bool = True,
               platform: str | None = None) -> Flow:
    """Read a flow from text. `env` overrides the flow's variables (--env K=V); `app` picks the app (and its
    variables under apps:) instead of the flow's own; run_flow and python files are looked up in `sources`
    (file name -> text, the platform's scripts) or else in the folder `base`. `require_app=False` reads a
    flow meant to be included, which may have no app of its own. `platform` reads the flow for one platform:
    its locators are checked against that platform's and per-platform targets and apps pick its own; without
    it every platform's locators are checked against their platform."""
    if platform is not None and platform not in PLATFORMS:
        raise FlowError(file, None, f"no platform {platform!r}; known: {', '.join(PLATFORMS)}")
    header: dict = {}
    if sources is not None:
        stack: tuple[str, ...] = (file,)
    else:
        stack = (str((base / Path(file).name).resolve()),) if base is not None else ()
    steps = _read(text, file, dict(env or {}), stack, base, app=app, header=header, sources=sources,
                  platform=platform)
    if not header["app"] and require_app:  # a flow only ever included (login.yaml) may leave it to its includer
        raise FlowError(file, None, "app: is missing (the start URL, Android package or iOS bundle id)")
    return Flow(name=header["name"] or Path(file).stem, app=header["app"], env=header["env"], steps=steps, file=file,
                platform=platform)


def load_flow(path: str | Path, *, env: dict[str, str] | None = None, app: str | None = None,
              platform: str | None = None) -> Flow:
    path = Path(path)
    if not path.is_file():
        raise FlowError(str(path), None, "no such file")
    text = _read_text(path, str(path), None)
    return parse_flow(text, file=str(path), env=env, app=app, base=path.resolve().parent, platform=platform)


def parse_env_pairs(pairs: list[str] | None) -> dict[str, str]:
    """--env K=V options as a dict; a pair without '=' is refused with its text."""
    result = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ValueError(f"--env {pair!r}: write NAME=value")
        result[key] = value
    return result
