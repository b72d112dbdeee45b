"""A simulated shopping app for judging inferred rules: one scripted test case run many times, with the
run-to-run variation a real device shows, against fixed (mocked) API responses, plus a corpus of injected
tracking regressions.

Variation between clean runs: timestamps and gaps, a session id per run, browsing durations, optional
properties (present on some events only), unordered arrays (cart items and tags in any order), and the
number of product exposures (scrolling shows one or two more or fewer). Everything else is what the app
sends for the same screens with the same API data, as under a mock record."""

from __future__ import annotations

import copy
import random
import uuid
from dataclasses import dataclass

from scenarios.engine import ApiResponse

TABS = [{"id": 1, "name": "Recommended"}, {"id": 2, "name": "New"}, {"id": 3, "name": "Sale"}]
PRODUCTS = [
    {"id": f"P{n:05d}", "name": name, "price": price, "brand": brand, "tags": tags}
    for n, (name, price, brand, tags) in enumerate([
        ("Green tea", 12.5, "Leaf", ["tea", "green"]), ("Black tea", 15.0, "Leaf", ["tea"]),
        ("Teapot", 89.0, "Clay", ["ware"]), ("Cup set", 45.5, "Clay", ["ware", "gift"]),
        ("Oolong", 22.0, "Leaf", ["tea"]), ("Matcha", 31.9, "Leaf", ["tea", "green"]),
        ("Kettle", 120.0, "Steel", ["ware"]), ("Honey", 18.25, "Bee", ["food"]),
        ("Biscuits", 9.9, "Oven", ["food", "snack"]), ("Tea towel", 6.5, "Cloth", ["ware"]),
        ("Jasmine tea", 19.0, "Leaf", ["tea", "floral"]), ("Tray", 28.0, "Wood", ["ware"]),
    ], start=101)
]
FEED = {tab["id"]: PRODUCTS[i * 4:(i * 4) + 12] if i == 0 else PRODUCTS[i * 3:] for i, tab in enumerate(TABS)}


def api_responses() -> list[ApiResponse]:
    responses = [ApiResponse("GET", "api.shop.test", "/api/home/tabs", {"code": 0, "data": {"tabs": TABS}})]
    for tab in TABS:
        responses.append(ApiResponse("GET", "api.shop.test", f"/api/feed/{tab['id']}", {
            "code": 0, "data": {"tab": tab["id"], "items": [{"id": p["id"], "name": p["name"], "price": p["price"],
                                                             "brand": p["brand"]} for p in FEED[tab["id"]]]}}))
    for product in PRODUCTS:
        responses.append(ApiResponse("GET", "api.shop.test", f"/api/product/{product['id']}",
                                     {"code": 0, "data": product}))
    return responses


def _api_har_entries():
    import json
    entries = []
    for response in api_responses():
        entries.append({"request": {"method": response.method, "url": f"https://{response.host}{response.path}",
                                    "headers": []},
                        "response": {"status": 200, "content": {"mimeType": "application/json",
                                                                "text": json.dumps(response.body)}}})
    return {"log": {"version": "1.2", "creator": {"name": "simapp", "version": "1"}, "entries": entries}}


def mock_har() -> dict:
    return _api_har_entries()


class Run:
    """One run of the test case: open app, browse tab 2, open a product, add it and another to the cart,
    check out."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.events: list[dict] = []
        self.steps: list[dict] = []
        self.now = 1_763_700_000_000 + seed * 3_600_000
        self.session = str(uuid.UUID(int=self.rng.getrandbits(128)))
        self.step = 0

    def wait(self, low_ms, high_ms):
        self.now += self.rng.randint(low_ms, high_ms)

    def do(self, action):
        self.step += 1
        self.wait(300, 900)
        self.steps.append({"step": self.step, "action": action, "at": self.now})

    def track(self, name, **properties):
        self.wait(5, 60)
        common = {"session_id": self.session, "$os": "Android", "$app_version": "5.3.0", "$network": "wifi",
                  "$screen_width": 1080, "$time": self.now}
        self.events.append({"event": name, "properties": {**properties, **common}, "time": self.now,
                            "distinct_id": "user-42", "step": self.step})

    def play(self) -> Run:
        rng = self.rng
        self.do("launch")
        self.track("app_start", is_first_launch=False, launch_ms=rng.randint(400, 1800))
        page = {"page_name": "home", "page_url": "shop://home"}
        if rng.random() < 0.5:
            page["referrer"] = "shop://push"
        self.track("page_view", **page)
        self.do("tap tab New")
        tab = TABS[1]
        self.track("tab_click", tab_id=tab["id"], tab_name=tab["name"], position=2)
        shown = FEED[tab["id"]][: 8 + rng.randint(-2, 2)]
        for position, product in enumerate(shown, start=1):
            exposure = {"product_id": product["id"], "product_name": product["name"], "position": position,
                        "price": product["price"], "tab_id": tab["id"], "tab_name": tab["name"],
                        "tags": rng.sample(product["tags"], len(product["tags"]))}
            if rng.random() < 0.3:
                exposure["ad_tag"] = "sponsored"
            self.track("product_exposure", **exposure)
            self.wait(100, 400)
        self.do("tap product 3")
        product = FEED[tab["id"]][2]
        self.track("product_click", product_id=product["id"], product_name=product["name"], position=3,
                   price=product["price"], tab_id=tab["id"], tab_name=tab["name"])
        detail = {"page_name": "product", "page_url": f"shop://product/{product['id']}"}
        if rng.random() < 0.5:
            detail["referrer"] = "shop://home"
        self.track("page_view", **detail)
        self.wait(2000, 9000)  # browsing
        self.do("tap add to cart")
        quantity = 1
        self.track("add_to_cart", product_id=product["id"], product_name=product["name"], quantity=quantity,
                   price=product["price"], browse_ms=rng.randint(2000, 9000))
        self.do("open cart and check out")
        second = FEED[tab["id"]][0]
        items = [{"sku": product["id"], "qty": quantity, "unit_price": product["price"]},
                 {"sku": second["id"], "qty": 2, "unit_price": second["price"]}]
        rng.shuffle(items)
        total = round(product["price"] * quantity + second["price"] * 2, 2)
        self.track("checkout", order_id=f"ORD-{rng.randint(100000, 999999)}", items=items, total=total,
                   currency="CNY", payment_method="wechat", item_count=2)
        return self


def clean_run(seed: int) -> Run:
    return Run(seed).play()


# ---------------------------------------------------------------------------------------------------------
# Injected regressions: each takes a clean run's events and returns broken ones (a new list).


@dataclass
class Regression:
    kind: str
    description: str
    events: list[dict]


def _pick(events, rng, name):
    return [i for i, e in enumerate(events) if e["event"] == name]


def inject(kind: str, run: Run, rng: random.Random) -> Regression:
    events = copy.deepcopy(run.events)
    one_shot = ["app_start", "tab_click", "product_click", "add_to_cart", "checkout"]
    if kind == "dropped_event":
        name = rng.choice(one_shot)
        events = [e for e in events if e["event"] != name]
        return Regression(kind, f"{name} no longer sent", events)
    if kind == "duplicate_event":
        index = rng.choice([i for i, e in enumerate(events) if e["event"] in one_shot])
        twin = copy.deepcopy(events[index])
        twin["time"] += rng.randint(50, 600)
        twin["properties"]["$time"] = twin["time"]
        events.insert(index + 1, twin)
        return Regression(kind, f"{twin['event']} sent twice", events)
    if kind == "dropped_property":
        name, prop = rng.choice([("product_click", "product_id"), ("checkout", "total"), ("tab_click", "tab_name"),
                                 ("add_to_cart", "quantity"), ("product_exposure", "position")])
        index = rng.choice(_pick(events, rng, name))
        del events[index]["properties"][prop]
        return Regression(kind, f"{name}.{prop} dropped", events)
    if kind == "nulled_property":
        name, prop = rng.choice([("product_click", "price"), ("checkout", "currency"), ("app_start", "launch_ms"),
                                 ("product_exposure", "product_name")])
        index = rng.choice(_pick(events, rng, name))
        events[index]["properties"][prop] = None
        return Regression(kind, f"{name}.{prop} null", events)
    if kind == "wrong_type":
        name, prop, convert = rng.choice([("product_click", "price", str), ("add_to_cart", "quantity", str),
                                          ("product_exposure", "position", str), ("checkout", "item_count", str),
                                          ("app_start", "is_first_launch", lambda v: int(v))])
        index = rng.choice(_pick(events, rng, name))
        events[index]["properties"][prop] = convert(events[index]["properties"][prop])
        return Regression(kind, f"{name}.{prop} sent as another type", events)
    if kind == "outside_enum":
        name, prop, value = rng.choice([("checkout", "payment_method", "unknown"), ("checkout", "currency", "RMB"),
                                        ("page_view", "page_name", "Home"), ("product_exposure", "tab_name", "new")])
        index = rng.choice(_pick(events, rng, name))
        events[index]["properties"][prop] = value
        return Regression(kind, f"{name}.{prop} = {value!r}", events)
    if kind == "outside_range":
        name, prop, change = rng.choice([("checkout", "total", lambda v: -v), ("product_exposure", "position", lambda v: v * 100),
                                         ("add_to_cart", "price", lambda v: v * 100), ("app_start", "launch_ms", lambda v: -1)])
        index = rng.choice(_pick(events, rng, name))
        events[index]["properties"][prop] = change(events[index]["properties"][prop])
        return Regression(kind, f"{name}.{prop} out of range", events)
    if kind == "malformed_identifier":
        name, prop, value = rng.choice([("product_click", "product_id", "undefined"), ("checkout", "order_id", "ORD-"),
                                        ("product_exposure", "product_id", "P-0102"), ("page_view", "session_id", ""),
                                        ("add_to_cart", "product_id", "0103")])
        index = rng.choice(_pick(events, rng, name))
        events[index]["properties"][prop] = value
        return Regression(kind, f"{name}.{prop} = {value!r}", events)
    if kind == "broken_attribute_mapping":
        name = rng.choice(["tab_click", "product_click", "product_exposure"])
        index = rng.choice(_pick(events, rng, name))
        events[index]["properties"]["tab_name"] = "Sale"  # tab 2 is "New"
        return Regression(kind, f"{name}.tab_name no longer matches tab_id", events)
    if kind == "api_field_mismatch":
        name = rng.choice(["product_click", "product_exposure", "add_to_cart"])
        index = rng.choice(_pick(events, rng, name))
        events[index]["properties"]["product_name"] = "Green tea (old)"
        return Regression(kind, f"{name}.product_name no longer the API's name", events)
    if kind == "nested_missing_key":
        index = _pick(events, rng, "checkout")[0]
        element = rng.choice(events[index]["properties"]["items"])
        del element[rng.choice(["sku", "qty"])]
        return Regression(kind, "checkout.items element lost a key", events)
    if kind == "order_swap":
        first, second = rng.choice([("product_click", "tab_click"), ("checkout", "add_to_cart"),
                                    ("add_to_cart", "product_click")])
        a, b = _pick(events, rng, first)[0], _pick(events, rng, second)[0]
        moved = events.pop(a)
        events.insert(b, moved)
        return Regression(kind, f"{first} now fires before {second}", events)
    if kind == "no_ui_step":
        name = rng.choice(["add_to_cart", "checkout", "product_click"])
        index = _pick(events, rng, name)[0]
        events[index]["step"] = 1  # fired at launch, without its tap
        return Regression(kind, f"{name} fired without its UI step", events)
    raise ValueError(kind)


KINDS = ["dropped_event", "duplicate_event", "dropped_property", "nulled_property", "wrong_type", "outside_enum",
         "outside_range", "malformed_identifier", "broken_attribute_mapping", "api_field_mismatch",
         "nested_missing_key", "order_swap", "no_ui_step"]
