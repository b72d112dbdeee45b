"""Reading flows: the documented format reads into numbered steps; everything a flow can get wrong is refused
with the file, the line and the reason."""

import re

import pytest

from device_agent.flows import FlowError, Locator, Point, load_flow, parse_env_pairs, parse_flow

EXAMPLE = """\
name: Browse and add to cart          # optional
app: http://127.0.0.1:8765/
env: {KEYWORD: green tea}
apps: {com.shop.lite: {HOME: Start}}
steps:
  - launch
  - tap: {text: Fresh}
  - tap: {target: [{id: tab-fresh}, {text: Fresh}, {point: "50%,12%"}], timeout: 10, label: Fresh tab}
  - input: {target: {css: "#q"}, text: "${KEYWORD}"}
  - swipe: {from: "50%,80%", to: "50%,20%"}
  - scroll_until_visible: {target: {text: Green tea}, direction: down, max_scrolls: 10}
  - long_press: {text: Item 1}
  - back
  - wait: 1.5
  - assert_visible: {text: Added to cart}
  - assert_text: {target: {id: cart-count}, equals: "1"}
  - repeat: {times: 3, steps: [back, {wait: 0.5}]}
"""


def test_the_documented_example_reads_into_numbered_steps():
    flow = parse_flow(EXAMPLE, file="browse.yaml")
    assert flow.name == "Browse and add to cart" and flow.app == "http://127.0.0.1:8765/"
    assert [s.action for s in flow.steps] == [
        "launch", "tap", "tap", "input", "swipe", "scroll_until_visible", "long_press", "back", "wait",
        "assert_visible", "assert_text", "back", "wait", "back", "wait", "back", "wait"]
    fresh = flow.steps[2]
    assert fresh.target == [Locator("id", "tab-fresh"), Locator("text", "Fresh"),
                            Locator("point", Point(0.5, 0.12, True, True))]
    assert fresh.timeout == 10 and fresh.label == "Fresh tab" and fresh.line == 8
    assert flow.steps[3].params == {"text": "green tea"} and flow.steps[3].target == [Locator("css", "#q")]
    assert flow.steps[4].params["from"] == Point(0.5, 0.8, True, True)
    assert flow.steps[5].params == {"direction": "down", "max_scrolls": 10}
    assert flow.steps[8].params == {"seconds": 1.5}
    assert flow.steps[10].params == {"equals": "1"}
    assert [s.line for s in flow.steps[11:]] == [17] * 6


def test_env_overrides_and_per_app_variables():
    text = "app: com.shop\nenv: {A: one, B: two}\napps: {com.shop.lite: {B: lite}}\nsteps:\n  - input: {text: '${A}-${B}'}\n"
    assert parse_flow(text).steps[0].params["text"] == "one-two"
    assert parse_flow(text, app="com.shop.lite").steps[0].params["text"] == "one-lite"
    assert parse_flow(text, app="com.shop.lite", env={"B": "cli"}).steps[0].params["text"] == "one-cli"
    assert parse_flow(text, app="com.shop.lite").app == "com.shop.lite"
    assert parse_flow("app: x\nsteps:\n  - input: {text: 'cost $$5'}\n").steps[0].params["text"] == "cost $5"


@pytest.mark.parametrize("text,line,reason", [
    ("app: x\nsteps:\n  - launch\n  - tapp: {text: OK}\n", 4, "unknown action 'tapp'"),
    ("app: x\nsteps:\n  - tap: {txt: OK}\n", 3, "tap: unknown key 'txt'"),
    ("app: x\nsteps:\n  - tap: {text: OK\n", 4, "not valid YAML"),
    ("app: x\nsteps:\n  - input: {text: '${NOPE}'}\n", 3, "${NOPE} is not defined"),
    ("app: x\nsteps:\n  - tap\n", 3, "tap: say which element"),
    ("app: x\nsteps:\n  - tap: {text: A, id: b}\n", 3, "one locator per element"),
    ("app: x\nsteps:\n  - tap: {text: A, target: {id: b}}\n", 3, "either a locator or target"),
    ("app: x\nsteps:\n  - tap: {target: [{id: a, text: b}]}\n", 3, "each target is one locator"),
    ("app: x\nsteps:\n  - tap: {target: [{name: a}]}\n", 3, "unknown locator 'name'"),
    ("app: x\nsteps:\n  - tap: {point: '150%,2'}\n", 3, "cannot be over 100%"),
    ("app: x\nsteps:\n  - tap: {point: 'middle'}\n", 3, "is not a point"),
    ("app: x\nsteps:\n  - wait: soon\n", 3, "wait: seconds must be a number"),
    ("app: x\nsteps:\n  - tap: {text: A, timeout: -1}\n", 3, "timeout must be a number"),
    ("app: x\nsteps:\n  - tap: {text: A, retry: 99}\n", 3, "retry must be a whole number from 0 to 20"),
    ("app: x\nsteps:\n  - tap: {text: A, optional: maybe}\n", 3, "optional must be true or false"),
    ("app: x\nsteps:\n  - back: {text: A}\n", 3, "back takes no locator"),
    ("app: x\nsteps:\n  - swipe: {from: '1,1'}\n", 3, "swipe: 'to' is required"),
    ("app: x\nsteps:\n  - assert_text: {id: a}\n", 3, "give one of equals, contains"),
    ("app: x\nsteps:\n  - scroll_until_visible: {text: a, direction: sideways}\n", 3, "direction must be one of"),
    ("app: x\nsteps:\n  - {tap: {text: A}, wait: 1}\n", 3, "a step has exactly one action"),
    ("app: x\nsteps:\n  - repeat: {times: 0, steps: [back]}\n", 3, "times must be a whole number"),
    ("app: x\nsteps:\n  - repeat: {times: 1000, steps: [{repeat: {times: 1000, steps: [back]}}]}\n", 3,
     "more than 5000 steps"),
    ("app: x\nname: a\nname: b\nsteps: [launch]\n", 3, "'name' is given twice"),
    ("app: x\nstep:\n  - launch\n", 2, "unknown key 'step' at the top"),
    ("app: x\nsteps: []\n", 2, "steps: is empty"),
    ("steps: [launch]\n", None, "app: is missing"),
    ("", None, "the file is empty"),
])
def test_every_mistake_is_refused_with_file_line_and_reason(text, line, reason):
    with pytest.raises(FlowError) as caught:
        parse_flow(text, file="checkout.yaml")
    error = caught.value
    assert error.file == "checkout.yaml" and error.line == line, str(error)
    assert reason in error.reason, str(error)
    assert str(error).startswith(f"checkout.yaml:{line}: " if line else "checkout.yaml: ")


def test_run_flow_includes_files_with_their_own_variables(tmp_path):
    (tmp_path / "login.yaml").write_text("env: {USER: guest}\nsteps:\n  - input: {id: user, text: '${USER}'}\n"
                                         "  - tap: {id: login}\n")
    (tmp_path / "main.yaml").write_text("app: com.shop\nsteps:\n  - launch\n  - run_flow: login.yaml\n"
                                        "  - run_flow: {file: login.yaml, env: {USER: qa1}}\n  - back\n")
    flow = load_flow(tmp_path / "main.yaml")
    assert [(s.action, s.params.get("text")) for s in flow.steps] == [
        ("launch", None), ("input", "guest"), ("tap", None), ("input", "qa1"), ("tap", None), ("back", None)]
    assert flow.steps[1].file.endswith("login.yaml") and flow.steps[1].line == 3


def test_an_error_in_an_included_flow_names_that_file(tmp_path):
    (tmp_path / "login.yaml").write_text("steps:\n  - tap: {idd: x}\n")
    (tmp_path / "main.yaml").write_text("app: a\nsteps:\n  - run_flow: login.yaml\n")
    with pytest.raises(FlowError) as caught:
        load_flow(tmp_path / "main.yaml")
    assert caught.value.file.endswith("login.yaml") and caught.value.line == 2


def test_run_flow_cycles_and_missing_files_are_refused(tmp_path):
    (tmp_path / "a.yaml").write_text("app: x\nsteps:\n  - run_flow: b.yaml\n")
    (tmp_path / "b.yaml").write_text("steps:\n  - run_flow: a.yaml\n")
    with pytest.raises(FlowError, match="run_flow includes itself: a.yaml -> b.yaml -> a.yaml"):
        load_flow(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("app: x\nsteps:\n  - run_flow: nowhere.yaml\n")
    with pytest.raises(FlowError, match="nowhere.yaml: no such file"):
        load_flow(tmp_path / "c.yaml")


def test_flows_from_the_platform_include_each_other_by_name():
    sources = {"main.yaml": "app: x\nsteps:\n  - run_flow: common/login.yaml\n  - python: steps/pay.py\n",
               "common/login.yaml": "steps:\n  - tap: {id: login}\n", "steps/pay.py": "def run(driver, env): pass\n"}
    flow = parse_flow(sources["main.yaml"], file="main.yaml", sources=sources)
    assert [s.action for s in flow.steps] == ["tap", "python"]
    assert flow.steps[1].params == {"file": "steps/pay.py", "function": "run"}
    with pytest.raises(FlowError, match=r"no flow 'other.yaml' in this project \(flows: common/login.yaml, main.yaml\)"):
        parse_flow("app: x\nsteps:\n  - run_flow: other.yaml\n", file="main.yaml", sources=sources)
    with pytest.raises(FlowError, match="no script 'nope.py'"):
        parse_flow("app: x\nsteps:\n  - python: nope.py\n", file="main.yaml", sources=sources)


def test_python_steps_point_at_a_file_next_to_the_flow(tmp_path):
    (tmp_path / "pay.py").write_text("def run(driver, env):\n    pass\n")
    (tmp_path / "f.yaml").write_text("app: x\nsteps:\n  - python: {file: pay.py, function: run}\n  - python: gone.py\n")
    with pytest.raises(FlowError, match="gone.py: no such .py file") as caught:
        load_flow(tmp_path / "f.yaml")
    assert caught.value.line == 4


def test_env_pairs_from_the_command_line():
    assert parse_env_pairs(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(ValueError, match="write NAME=value"):
        parse_env_pairs(["novalue"])
    with pytest.raises(ValueError):
        parse_env_pairs(["1A=2"])


def test_points_resolve_against_the_screen():
    assert Point.parse("50%,12%").resolve(400, 1000) == (200, 120)
    assert Point.parse(" 120 , 300 ").resolve(400, 1000) == (120, 300)
    assert str(Point.parse("50%,300")) == "50%,300"


def test_values_from_variables_are_shown_as_the_variable():
    flow = parse_flow("app: x\nenv: {PASSWORD: hunter2}\nsteps:\n  - input: {id: pw, text: '${PASSWORD}'}\n")
    step = flow.steps[0]
    assert step.params["text"] == "hunter2"  # what is typed
    assert "hunter2" not in step.describe() and "${PASSWORD}" in step.describe()
    assert step.shown_params() == {"text": "${PASSWORD}"}


CROSS_PLATFORM = """\
name: Add to cart
app: {web: "http://127.0.0.1:8765/", android: com.trackreplay.shop, ios: com.trackreplay.shop.ios}
apps:
  com.trackreplay.shop: {FRESH: Fresh}
steps:
  - launch
  - tap:
      target:
        web: [{id: tab-2}]
        android: [{id: tab_2}, {text: "${FRESH}"}]
        ios: [{predicate: "label == 'Fresh'"}, {class_chain: "**/XCUIElementTypeButton[`label == 'Fresh'`]"}]
  - tap: {text: Add to cart}
"""


def test_one_flow_reads_for_each_platform_with_its_own_locators_and_app():
    web = parse_flow(CROSS_PLATFORM, platform="web")
    assert web.app == "http://127.0.0.1:8765/" and web.steps[1].target == [Locator("id", "tab-2")]
    android = parse_flow(CROSS_PLATFORM, platform="android")
    assert android.app == "com.trackreplay.shop"
    assert android.steps[1].target == [Locator("id", "tab_2"), Locator("text", "Fresh")]
    ios = parse_flow(CROSS_PLATFORM, platform="ios")
    assert ios.app == "com.trackreplay.shop.ios" and [loc.kind for loc in ios.steps[1].target] == [
        "predicate", "class_chain"]
    assert ios.steps[2].target == [Locator("text", "Add to cart")]  # written once, for every platform
    whole = parse_flow(CROSS_PLATFORM)  # saving: every platform's locators checked against their own platform
    assert set(whole.steps[1].targets) == {"web", "android", "ios"}


@pytest.mark.parametrize("text, platform, message", [
    ("app: x\nsteps:\n  - tap: {css: '#buy'}\n", "android", "3: css is not a locator on Android; it takes id, text"),
    ("app: x\nsteps:\n  - tap: {id: buy}\n", "ios", "3: id is not a locator on iOS; it takes accessibility_id"),
    ("app: x\nsteps:\n  - tap: {predicate: \"label == 'x'\"}\n", "web", "predicate is not a locator on the web"),
    ("app: x\nsteps:\n  - tap: {target: {android: [{css: '#b'}]}}\n", None, "css is not a locator on Android"),
    ("app: x\nsteps:\n  - tap: {target: {android: [{id: b}]}}\n", "ios",
     "tap: no locator for iOS (target has android): add 'ios: [...]' under target"),
    ("app: {android: a}\nsteps:\n  - back\n", "ios", "app: no app for iOS (the flow names one for android)"),
    ("app: {phone: a}\nsteps:\n  - back\n", None, "app: 'phone' is not a platform"),
    ("app: x\nsteps:\n  - tap: {target: {android: [{id: b}], text: x}}\n", None, "got android, text"),
])
def test_locators_are_checked_against_the_platform_they_run_on(text, platform, message):
    with pytest.raises(FlowError, match=re.escape(message)):
        parse_flow(text, file="f.yaml", platform=platform)


def test_a_plain_locator_list_keeps_working_everywhere_it_is_known():
    flow = parse_flow("app: x\nsteps:\n  - tap: {target: [{text: A}, {xpath: '//b'}, {point: '1,2'}]}\n",
                      platform="ios")
    assert [loc.kind for loc in flow.steps[0].target] == ["text", "xpath", "point"]
    with pytest.raises(FlowError, match="no platform 'watch'"):
        parse_flow("app: x\nsteps: [back]\n", platform="watch")
