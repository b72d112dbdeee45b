"""The fake WDA's element queries (tests/fakes/xcui.py): the subsets of predicate strings, class chains, link
text and xpath it claims, answered as WDA answers them, and everything outside refused with the part named."""

import pytest

from tests.fakes import xcui
from tests.fakes.app import Element, FakeApp, FakePhone


class Screen(FakeApp):
    package = "com.example.screen"
    label = "Screen"

    def screen(self, ctx):
        return [
            Element("navigation_bar", id="bar", bounds=(0, 0, 390, 44), children=[
                Element("button", accessibility_id="BackButton", text="Back", bounds=(0, 0, 80, 44), action="back"),
                Element("text", text="Settings", bounds=(150, 0, 240, 44))]),
            Element("button", id="save", accessibility_id="save", text="Save changes", bounds=(0, 50, 195, 100),
                    action="save"),
            Element("button", text="Cancel", enabled=False, bounds=(195, 50, 390, 100), action="cancel"),
            Element("input", id="email", accessibility_id="Email", text="ann@example.com", bounds=(0, 100, 390, 150)),
            Element("list", id="rows", bounds=(0, 150, 390, 844), children=[
                Element("view", accessibility_id=f"row{i}", bounds=(0, 150 + 100 * i, 390, 250 + 100 * i),
                        action=f"row:{i}", children=[
                            Element("text", text=f"Row {i}", bounds=(0, 150 + 100 * i, 390, 250 + 100 * i))])
                for i in range(3)]),
            Element("text", text="Below the screen", bounds=(0, 900, 390, 950)),
        ]


@pytest.fixture
def root():
    phone = FakePhone("00008110-000A1C2E0E91801E", platform="ios", model="iPhone 14", os_version="16.7",
                      width=390, height=844)
    phone.install(Screen())
    phone.start_app(Screen.package)
    return xcui.snapshot(phone)


def names(nodes):
    return [node.name for node in nodes]


def test_the_source_is_xcui_xml_with_the_attributes_wda_writes(root):
    xml = xcui.source_xml(root)
    assert xml.startswith("<?xml version='1.0' encoding='UTF-8'?>\n<XCUIElementTypeApplication ")
    assert ('<XCUIElementTypeButton type="XCUIElementTypeButton" name="save" label="Save changes" enabled="true" '
            'visible="true" x="0" y="50" width="195" height="50" index="1"/>') in xml
    # a text field's label is its accessibility label and what was typed is its value
    assert 'name="Email" label="Email" value="ann@example.com"' in xml
    assert '<XCUIElementTypeCell type="XCUIElementTypeCell" name="row0"' in xml
    assert ('name="Below the screen" label="Below the screen" value="Below the screen" enabled="true" '
            'visible="false"') in xml


def test_accessibility_id_is_the_name_which_falls_back_to_the_label(root):
    assert names(xcui.find(root, "accessibility id", "save")) == ["save"]
    assert names(xcui.find(root, "accessibility id", "Cancel")) == ["Cancel"]  # no identifier: the label
    assert xcui.find(root, "accessibility id", "Save changes") == []


def test_link_text_forms(root):
    assert names(xcui.find(root, "link text", "label=Save changes")) == ["save"]
    assert names(xcui.find(root, "partial link text", "label=Row")) == ["Row 0", "Row 1", "Row 2"]
    assert names(xcui.find(root, "link text", "value=ann@example.com")) == ["Email"]
    with pytest.raises(xcui.InvalidSelector, match="must read 'label=...'"):
        xcui.find(root, "link text", "Save changes")


@pytest.mark.parametrize("predicate, expected", [
    ('label == "Save changes"', ["save"]),
    ("label == 'Save changes'", ["save"]),
    ('label BEGINSWITH "Row" AND name != "Row 1"', ["Row 0", "Row 2"]),
    ('label ENDSWITH "changes" OR label CONTAINS "anc"', ["save", "Cancel"]),
    ('type == "XCUIElementTypeButton" AND enabled == false', ["Cancel"]),
    ('type == "XCUIElementTypeStaticText" AND visible == 0', ["Below the screen"]),
    ('value CONTAINS[c] "ANN@"', ["Email"]),
    ('NOT (type != "XCUIElementTypeCell") && wdName BEGINSWITH "row"', ["row0", "row1", "row2"]),
    ('label == "nothing"', []),
])
def test_predicate_strings(root, predicate, expected):
    assert names(xcui.find(root, "predicate string", predicate)) == expected


@pytest.mark.parametrize("predicate, refused", [
    ('label MATCHES "S.*"', "unsupported operator 'MATCHES'"),
    ('label LIKE "S*"', "unsupported operator 'LIKE'"),
    ('label IN {"a", "b"}', "unsupported operator 'IN'"),
    ("rect.x < 10", "unsupported attribute 'rect.x'"),
    ('label ==[d] "x"', r"unsupported modifier \[d\]"),
    ("label == nil", "unsupported value 'nil'"),
    ("label == $name", r"variables \(\$name\)"),
    ('ANY children.label == "x"', "ANY is not supported"),
    ('visible == "yes"', "visible compares with true/false"),
    ('enabled CONTAINS true', "CONTAINS needs a text attribute"),
    ('(label == "x"', "ends too early"),
    ('label == "x" label', "unexpected 'label'"),
    ("", "the predicate is empty"),
])
def test_predicates_outside_the_subset_are_refused_naming_the_part(root, predicate, refused):
    with pytest.raises(xcui.InvalidSelector, match=refused):
        xcui.find(root, "predicate string", predicate)


@pytest.mark.parametrize("chain, expected", [
    ('**/XCUIElementTypeButton[`label == "Save changes"`]', ["save"]),
    ("**/XCUIElementTypeNavigationBar/XCUIElementTypeButton[1]", ["BackButton"]),
    ("**/XCUIElementTypeCell[2]", ["row1"]),
    ("**/XCUIElementTypeCell[-1]/XCUIElementTypeStaticText", ["Row 2"]),
    ("**/XCUIElementTypeCell[`name BEGINSWITH 'row'`][-2]", ["row1"]),
    ("XCUIElementTypeWindow/XCUIElementTypeButton", ["save", "Cancel"]),
    ("XCUIElementTypeWindow/*[`type == 'XCUIElementTypeTextField'`]", ["Email"]),
    ("XCUIElementTypeButton", []),  # not a child of the application
    ("**/XCUIElementTypeCell[9]", []),
])
def test_class_chains(root, chain, expected):
    assert names(xcui.find(root, "class chain", chain)) == expected


@pytest.mark.parametrize("chain, refused", [
    ('**/XCUIElementTypeCell[$name == "x"$]', r"descendant predicates \(\[\$...\$\]\)"),
    ("**/Button", "expected '\\*\\*', '\\*' or an XCUIElementType name at 3"),
    ("**/XCUIElementTypeCell[0]", "unsupported filter '\\[0\\]'"),
    ("**/XCUIElementTypeCell[`name == 'x'", "is not closed"),
    ("**/XCUIElementTypeCell[`name MATCHES 'x'`]", "unsupported operator 'MATCHES'"),
    ("**", "ends with '\\*\\*'"),
    ("**/**/XCUIElementTypeCell", "'\\*\\*/\\*\\*'"),
    ("XCUIElementTypeWindow//XCUIElementTypeButton", "expected '\\*\\*', '\\*' or an XCUIElementType name"),
])
def test_class_chains_outside_the_subset_are_refused_naming_the_part(root, chain, refused):
    with pytest.raises(xcui.InvalidSelector, match=refused):
        xcui.find(root, "class chain", chain)


def test_xpath_runs_on_the_source_and_must_select_elements(root):
    assert names(xcui.find(root, "xpath", '//XCUIElementTypeButton[@enabled="false"]')) == ["Cancel"]
    assert names(xcui.find(root, "xpath", "//XCUIElementTypeCell[last()]/*")) == ["Row 2"]
    assert xcui.find(root, "xpath", "/XCUIElementTypeApplication") == []  # the application itself is not found
    with pytest.raises(xcui.InvalidSelector, match="does not select elements"):
        xcui.find(root, "xpath", "count(//XCUIElementTypeCell)")
    with pytest.raises(xcui.InvalidSelector, match="invalid xpath"):
        xcui.find(root, "xpath", "//XCUIElementTypeCell[")


def test_class_name_and_unknown_strategies(root):
    assert names(xcui.find(root, "class name", "XCUIElementTypeTextField")) == ["Email"]
    with pytest.raises(xcui.InvalidSelector, match="Invalid locator requested: css selector"):
        xcui.find(root, "css selector", "#save")


def test_an_element_is_told_again_in_a_later_snapshot(root):
    phone_root = root
    node = xcui.find(phone_root, "accessibility id", "row1")[0]
    assert xcui.find_key(phone_root, node.key) is node
