"""A fake phone's screen as XCUITest sees it, and the element queries WebDriverAgent answers on it.

WDA describes the screen as a tree of XCUIElementType* elements with a handful of attributes (type, name,
label, value, enabled, visible and the frame, in points) and finds elements by several query languages. The
fake WDA server (tests/fakes/wda_server.py) renders a FakePhone's element tree here and runs the queries the
way WDA does, on a real subset of each language. What the subset does not parse is refused with WDA's
"invalid selector" error naming the part, never guessed at: a flow that only works on the fake would be worse
than one that fails on it.

- accessibility id / id / name: the XCUI `name` (the accessibility identifier, or the label when there is none)
- link text / partial link text: `label=Add to cart`, `name=...`, `value=...`, `type=...`, equal or contained
- class name: the full type, `XCUIElementTypeButton`
- predicate string: comparisons of name, label, value, type, visible, enabled (also their wd- forms) with
  ==, !=, BEGINSWITH, CONTAINS, ENDSWITH (optionally [c], case-insensitive) against a quoted string or
  true/false/YES/NO/1/0, joined by AND, OR, NOT (&&, ||, !) and parentheses. MATCHES, LIKE, IN, <, >,
  [d], nil, ANY/ALL and other attributes are refused.
- class chain: segments `**` (any depth) and `XCUIElementTypeX` or `*` (a direct child), each followed by
  [`predicate`] and [N] (1-based, negative counts from the end) filters. An index picks from all the matches
  of its segment so far, not per parent. `$...$` descendant predicates are refused.
- xpath: XPath 1.0 (lxml) over the same XML as /source; it must select elements."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from .app import Element, FakePhone

PREFIX = "XCUIElementType"
# FakePhone element kinds as XCUI types. A view inside a list is a table cell. "navigation_bar" is not one of
# the app model's kinds: tests that need iOS's navigation bar (its back button) draw an element of that kind.
TYPES = {"window": "Window", "view": "Other", "button": "Button", "text": "StaticText", "input": "TextField",
         "list": "Table", "image": "Image", "dialog": "Alert", "navigation_bar": "NavigationBar"}


class InvalidSelector(ValueError):
    """A query WDA would refuse (or this fake's subset does not know): answered as 'invalid selector'."""


@dataclass(eq=False)
class XNode:
    type: str
    name: str = ""
    label: str = ""
    value: str | None = None
    enabled: bool = True
    visible: bool = True
    rect: tuple[int, int, int, int] = (0, 0, 0, 0)  # x, y, width, height in points
    element: Element | None = None
    key: tuple = ()
    children: list[XNode] = field(default_factory=list)
    parent: XNode | None = None

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()

    def descendants(self):
        for child in self.children:
            yield from child.walk()

    def attribute(self, name: str):
        return {"name": self.name or None, "label": self.label or None, "value": self.value, "type": self.type,
                "visible": self.visible, "enabled": self.enabled}[name]

    def text(self) -> str:
        """What WDA's /text answers: the value, else the label."""
        return self.value or self.label or ""


def snapshot(phone: FakePhone, *, app_label: str | None = None) -> XNode:
    """The screen as an XCUI tree: the application, its window, the window's content. `key` tells an element
    again in a later snapshot (WDA's element ids outlive the snapshot they were found in)."""
    tree = phone.tree()
    with phone.lock:
        package = phone.foreground
        label = app_label or (phone.apps[package].label if package else "SpringBoard")
    width, height = phone.width, phone.height
    root = XNode(PREFIX + "Application", name=label, label=label, rect=(0, 0, width, height), key=("app", package))
    seen: dict[tuple, int] = {}

    def convert(element: Element, parent: XNode, in_list: bool) -> XNode:
        kind = "Cell" if in_list and element.kind == "view" else TYPES.get(element.kind, "Other")
        left, top, right, bottom = element.bounds
        rect = (left, top, max(0, right - left), max(0, bottom - top))
        if element.kind == "input":  # a text field's label is its accessibility label; what was typed is its value
            label, value = element.accessibility_id, element.text
        else:
            label, value = element.text, (element.text or None) if element.kind == "text" else None
        base = (kind, element.id, element.accessibility_id, label if element.kind != "input" else "")
        seen[base] = seen.get(base, 0) + 1
        visible = rect[2] > 0 and rect[3] > 0 and left < width and top < height and right > 0 and bottom > 0
        node = XNode(PREFIX + kind, name=element.accessibility_id or label, label=label, value=value,
                     enabled=element.enabled, visible=visible, rect=rect, element=element,
                     key=(*base, seen[base]), parent=parent)
        node.children = [convert(child, node, element.kind == "list") for child in element.children]
        return node

    window = convert(tree, root, False)
    root.children = [window]
    return root


def find_key(root: XNode, key: tuple) -> XNode | None:
    return next((node for node in root.walk() if node.key == key), None)


# -- XML (the /source answer, and what xpath runs on) ----------------------------------------------------------

def to_xml(root: XNode) -> tuple[etree._Element, dict]:
    """The lxml tree of the snapshot and a map from its elements back to the nodes."""
    nodes = {}

    def build(node: XNode, index: int):
        x, y, w, h = node.rect
        attrib = {"type": node.type}
        for key in ("name", "label", "value"):
            value = getattr(node, key)
            if value:
                attrib[key] = value
        attrib.update(enabled=_bool(node.enabled), visible=_bool(node.visible), x=str(x), y=str(y), width=str(w),
                      height=str(h), index=str(index))
        element = etree.Element(node.type, attrib)
        nodes[element] = node
        for i, child in enumerate(node.children):
            element.append(build(child, i))
        return element

    return build(root, 0), nodes


def source_xml(root: XNode) -> str:
    element, _ = to_xml(root)
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8", pretty_print=True).decode()


def _bool(value: bool) -> str:
    return "true" if value else "false"


# -- finding -------------------------------------------------------------------------------------------------

def find(root: XNode, using: str, value: str) -> list[XNode]:
    """The elements a WDA search by `using` finds, in document order (the application itself excluded)."""
    if not isinstance(value, str):
        raise InvalidSelector(f"the {using!r} value must be a string")
    if using in ("accessibility id", "id", "name"):
        return [node for node in root.descendants() if node.name == value]
    if using in ("link text", "partial link text"):
        prop, sep, wanted = value.partition("=")
        if not sep or prop not in ("name", "label", "value", "type"):
            raise InvalidSelector(f"{using} must read 'label=...', 'name=...', 'value=...' or 'type=...', "
                                  f"not {value!r}")
        partial = using == "partial link text"
        return [node for node in root.descendants()
                if (have := node.attribute(prop)) is not None and (wanted in have if partial else have == wanted)]
    if using == "class name":
        return [node for node in root.descendants() if node.type == value]
    if using == "predicate string":
        test = parse_predicate(value)
        return [node for node in root.descendants() if test(node)]
    if using == "class chain":
        return class_chain(root, value)
    if using == "xpath":
        return xpath(root, value)
    raise InvalidSelector(f"Invalid locator requested: {using}")


def xpath(root: XNode, query: str) -> list[XNode]:
    element, nodes = to_xml(root)
    try:
        found = etree.ElementTree(element).xpath(query)
    except (etree.XPathError, ValueError) as exc:
        raise InvalidSelector(f"invalid xpath {query!r}: {exc}") from None
    if not isinstance(found, list) or not all(isinstance(item, etree._Element) for item in found):
        raise InvalidSelector(f"the xpath {query!r} does not select elements")
    return [nodes[item] for item in found if nodes[item] is not root]


# -- predicate strings ---------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""\s*(?:(?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|(?P<op>==|!=|<>|<=|>=|=|<|>|&&|\|\||!)
                        |(?P<paren>[()])|(?P<modifier>\[[a-z]*\])|(?P<word>[A-Za-z_$][A-Za-z0-9_.]*)
                        |(?P<number>-?\d+(?:\.\d+)?)
                        |(?P<other>\S))""", re.VERBOSE)
ATTRIBUTES = {"name": "name", "wdname": "name", "label": "label", "wdlabel": "label", "value": "value",
              "wdvalue": "value", "type": "type", "wdtype": "type", "visible": "visible", "wdvisible": "visible",
              "enabled": "enabled", "wdenabled": "enabled"}
TEXT_OPERATORS = ("BEGINSWITH", "CONTAINS", "ENDSWITH")
BOOLEANS = {"true": True, "yes": True, "false": False, "no": False}


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        kind = match.lastgroup  # "other" (a brace, a comma...) is refused by the parser where it stands
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def parse_predicate(text: str):
    """A test node -> bool for an NSPredicate string in the subset the module docstring names."""
    tokens = _tokens(text)
    if not tokens:
        raise InvalidSelector("the predicate is empty")
    parser = _Predicate(tokens, text)
    test = parser.expression()
    if parser.position != len(tokens):
        raise InvalidSelector(f"unexpected {tokens[parser.position][1]!r} in predicate {text!r}")
    return test


class _Predicate:
    def __init__(self, tokens, text):
        self.tokens, self.text, self.position = tokens, text, 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.position] if self.position < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token[0] == "end":
            raise InvalidSelector(f"predicate {self.text!r} ends too early")
        self.position += 1
        return token

    def keyword(self, *words) -> bool:
        kind, value = self.peek()
        if (kind == "word" and value.upper() in words) or (kind == "op" and value in words):
            self.position += 1
            return True
        return False

    def expression(self):
        test = self.conjunction()
        while self.keyword("OR", "||"):
            left, right = test, self.conjunction()
            test = lambda node, left=left, right=right: left(node) or right(node)  # noqa: E731
        return test

    def conjunction(self):
        test = self.negation()
        while self.keyword("AND", "&&"):
            left, right = test, self.negation()
            test = lambda node, left=left, right=right: left(node) and right(node)  # noqa: E731
        return test

    def negation(self):
        if self.keyword("NOT", "!"):
            inner = self.negation()
            return lambda node: not inner(node)
        if self.peek() == ("paren", "("):
            self.take()
            inner = self.expression()
            if self.take() != ("paren", ")"):
                raise InvalidSelector(f"a parenthesis is not closed in predicate {self.text!r}")
            return inner
        return self.comparison()

    def comparison(self):
        kind, word = self.take()
        if kind != "word":
            raise InvalidSelector(f"expected an attribute, found {word!r} in predicate {self.text!r}")
        if word.upper() in ("ANY", "ALL", "NONE", "SOME", "TRUEPREDICATE", "FALSEPREDICATE", "SELF", "SUBQUERY"):
            raise InvalidSelector(f"{word} is not supported by this fake's predicate subset")
        attribute = ATTRIBUTES.get(word.lower())
        if attribute is None:
            raise InvalidSelector(f"unsupported attribute {word!r} in predicate {self.text!r} (this fake knows "
                                  f"name, label, value, type, visible, enabled)")
        kind, operator = self.take()
        operator = operator.upper() if kind == "word" else operator
        if operator in ("=", "=="):
            operator = "=="
        elif operator in ("!=", "<>"):
            operator = "!="
        elif operator not in TEXT_OPERATORS:
            raise InvalidSelector(f"unsupported operator {operator!r} in predicate {self.text!r} (this fake knows "
                                  f"==, !=, BEGINSWITH, CONTAINS, ENDSWITH)")
        folded = False
        if self.peek()[0] == "modifier":
            modifier = self.take()[1]
            if modifier != "[c]":
                raise InvalidSelector(f"unsupported modifier {modifier} in predicate {self.text!r} (only [c])")
            folded = True
        operand = self.operand()
        return _compare(attribute, operator, operand, folded, self.text)

    def operand(self):
        kind, value = self.take()
        if kind == "string":
            return re.sub(r"\\(.)", r"\1", value[1:-1])
        if kind == "word" and value.lower() in BOOLEANS:
            return BOOLEANS[value.lower()]
        if kind == "number" and value in ("0", "1"):
            return value == "1"
        if kind == "word" and value.startswith("$"):
            raise InvalidSelector(f"variables ({value}) are not supported in predicate {self.text!r}")
        raise InvalidSelector(f"unsupported value {value!r} in predicate {self.text!r} (write a quoted string, "
                              f"true/false, YES/NO or 1/0)")


def _compare(attribute: str, operator: str, operand, folded: bool, text: str):
    flag = attribute in ("visible", "enabled")
    if flag != isinstance(operand, bool):
        raise InvalidSelector(f"{attribute} compares with " + ("true/false" if flag else "a quoted string")
                              + f" in predicate {text!r}")
    if flag and operator in TEXT_OPERATORS:
        raise InvalidSelector(f"{operator} needs a text attribute, not {attribute}, in predicate {text!r}")

    def test(node: XNode) -> bool:
        have = node.attribute(attribute)
        if flag:
            return (have == operand) == (operator == "==")
        if have is None:
            return operator == "!="
        want = operand
        if folded:
            have, want = have.casefold(), want.casefold()
        if operator == "==":
            return have == want
        if operator == "!=":
            return have != want
        if operator == "BEGINSWITH":
            return have.startswith(want)
        if operator == "ENDSWITH":
            return have.endswith(want)
        return want in have

    return test


# -- class chains --------------------------------------------------------------------------------------------

_SEGMENT = re.compile(r"(\*\*|\*|XCUIElementType[A-Za-z]+)")


def parse_class_chain(text: str) -> list[tuple[bool, str, list]]:
    """[(any_depth, type or '*', [filters])]: a filter is ('predicate', test) or ('index', n)."""
    steps, position, deep = [], 0, False
    if not text:
        raise InvalidSelector("the class chain is empty")
    while True:
        match = _SEGMENT.match(text, position)
        if not match:
            raise InvalidSelector(f"expected '**', '*' or an XCUIElementType name at {position} in class chain "
                                  f"{text!r}, found {text[position:position + 20]!r}")
        position = match.end()
        if match.group(1) == "**":
            if deep:
                raise InvalidSelector(f"'**/**' in class chain {text!r}")
            deep = True
        else:
            filters = []
            while text.startswith("[", position):
                end, item = _filter(text, position)
                filters.append(item)
                position = end
            steps.append((deep, match.group(1), filters))
            deep = False
        if position == len(text):
            break
        if text[position] != "/":
            raise InvalidSelector(f"unexpected {text[position:position + 20]!r} at {position} in class chain {text!r}")
        position += 1
    if deep:
        raise InvalidSelector(f"class chain {text!r} ends with '**': say what to find below it")
    return steps


def _filter(text: str, position: int) -> tuple[int, tuple]:
    opener = text[position + 1:position + 2]
    if opener == "$":
        raise InvalidSelector("descendant predicates ([$...$]) are not supported by this fake's class chain subset")
    if opener == "`":
        end = text.find("`]", position + 2)
        if end < 0:
            raise InvalidSelector(f"a [`predicate`] is not closed in class chain {text!r}")
        return end + 2, ("predicate", parse_predicate(text[position + 2:end]))
    end = text.find("]", position)
    number = text[position + 1:end] if end > 0 else ""
    if not re.fullmatch(r"-?[1-9]\d*", number):
        raise InvalidSelector(f"unsupported filter {text[position:end + 1 if end > 0 else None]!r} in class chain "
                              f"{text!r} (write [`predicate`] or a 1-based [index])")
    return end + 1, ("index", int(number))


def class_chain(root: XNode, text: str) -> list[XNode]:
    current = [root]
    for deep, wanted, filters in parse_class_chain(text):
        found, seen = [], set()
        for node in current:
            for candidate in (node.descendants() if deep else node.children):
                if (wanted == "*" or candidate.type == wanted) and id(candidate) not in seen:
                    seen.add(id(candidate))
                    found.append(candidate)
        for kind, value in filters:
            if kind == "predicate":
                found = [node for node in found if value(node)]
            else:
                index = value - 1 if value > 0 else len(found) + value
                found = [found[index]] if 0 <= index < len(found) else []
        current = found
    return current
