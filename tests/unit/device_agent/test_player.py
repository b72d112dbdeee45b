"""The player's recovery from device trouble, bounded: a device that stays broken gets two repairs per step, no
more, and the step's notes say each one; a device that is gone ends the flow with the step it was at. The driver
here is a stand-in at the driver interface (the real drivers are tested against their fakes)."""

from device_agent.drivers.base import DeviceGone, Driver, DriverError
from device_agent.flows import parse_flow
from device_agent.player import MAX_RECOVERIES, Player


class Broken(Driver):
    platform = "android"

    def __init__(self, *, heals_after=None, gone_at_tap=False):
        self.heals_after = heals_after  # recoveries after which taps work again
        self.gone_at_tap = gone_at_tap
        self.recoveries = 0
        self.taps = 0

    def health(self, app):
        return "the app crashed: process 4101 is gone"

    def recover(self, app, problem):
        self.recoveries += 1
        return "restarted the app"

    def tap(self, element):
        self.taps += 1
        if self.gone_at_tap:
            raise DeviceGone("the Android device emulator-5554 is no longer attached")
        if self.heals_after is None or self.recoveries < self.heals_after:
            raise DriverError("could not tap")

    def find(self, locators, timeout):
        return object()

    def start(self): ...
    def close(self): ...
    def set_proxy(self, host, port): ...
    def clear_proxy(self): ...
    def launch(self, app, *, clear_state=False, timeout=30): ...
    def stop_app(self, app): ...
    def clear_app(self, app): ...
    def find_once(self, locator): return object()
    def text_of(self, element): return ""
    def tap_point(self, point): ...
    def long_press(self, element, duration): ...
    def input(self, element, text, *, clear=True): ...
    def swipe(self, start, end, duration): ...
    def scroll(self, direction): ...
    def back(self): ...
    def wait_settled(self, *, quiet=0.3, timeout=5.0): return True
    def screenshot(self, path): ...
    def hierarchy(self): return ""
    def logs(self): return []


FLOW = parse_flow("app: com.shop\nsteps:\n  - launch\n  - tap: {id: buy, retry: 1}\n  - back\n", platform="android")


def test_a_device_that_stays_broken_is_repaired_a_bounded_number_of_times():
    driver = Broken()
    timeline = Player(driver, FLOW, settle_quiet=0).play()
    step = timeline["steps"][1]
    assert driver.recoveries == MAX_RECOVERIES == 2
    assert driver.taps == (1 + 1) + MAX_RECOVERIES  # retry: 1 -> two tries, and the try a repair gave back
    assert step["outcome"] == "failed" and step["attempts"] == driver.taps
    assert step["notes"] == ["the app crashed: process 4101 is gone; restarted the app; the step is tried again"] * 2
    assert timeline["outcome"] == "failed" and timeline["steps"][2]["outcome"] == "skipped"


def test_a_repaired_device_finishes_the_step_and_says_what_happened():
    driver = Broken(heals_after=1)
    timeline = Player(driver, FLOW, settle_quiet=0).play()
    assert timeline["outcome"] == "passed" and driver.recoveries == 1
    assert timeline["steps"][1]["notes"] == [
        "the app crashed: process 4101 is gone; restarted the app; the step is tried again"]


def test_a_device_gone_ends_the_flow_at_its_step():
    timeline = Player(Broken(gone_at_tap=True), FLOW, settle_quiet=0).play()
    assert timeline["error"].startswith("device disconnected at step 2 (tap id=buy)")
    assert [s["outcome"] for s in timeline["steps"]] == ["passed", "failed", "skipped"]
