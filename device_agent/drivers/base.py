"""The one interface every device driver implements (web now; Android and iOS on the same methods).

A driver knows how to touch one device. It does not know about flows, retries or timelines: the player
(device_agent/player.py) turns a flow's steps into these calls. Element lookups take a list of locators
tried in order and retry until their timeout; after each action the player asks the driver to wait for
the screen to settle."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod

from ..flows import Locator, Point


class DriverError(Exception):
    """A step could not be done on the device; the message says what was looked for or what failed."""


class NotFound(DriverError):
    pass


class DeviceGone(DriverError):
    """The device is no longer attached or reachable (unplugged, adb or WDA lost it): the run cannot go on."""


class Driver(ABC):
    platform = ""

    # life cycle -----------------------------------------------------------------------------------------
    @abstractmethod
    def start(self) -> None:
        """Make the device ready (open the browser, connect to the UI server)."""

    @abstractmethod
    def close(self) -> None:
        """Release everything the driver started; safe to call twice and after a failure."""

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    # health -----------------------------------------------------------------------------------------------------
    def health(self, app: str) -> str | None:
        """What keeps the app from taking steps now, in words for the timeline ('the app crashed: process 4101
        is gone', 'the app is not responding', 'the UI server is dead'), or None. The player asks after a step
        failed; a driver whose device cannot get into such a state keeps this answer."""
        return None

    def recover(self, app: str, problem: str) -> str:
        """Put right what health() found (restart the app or the UI server, close the system dialog) and say
        what was done; DriverError when it cannot. The player then tries the step again."""
        raise DriverError(f"cannot recover from: {problem}")

    # proxy ------------------------------------------------------------------------------------------------
    @abstractmethod
    def set_proxy(self, host: str, port: int) -> None:
        """Send the device's traffic through the proxy at host:port from the next launch on."""

    @abstractmethod
    def clear_proxy(self) -> None:
        """Stop using the proxy; called in every outcome of a run."""

    # app ----------------------------------------------------------------------------------------------------
    @abstractmethod
    def launch(self, app: str, *, clear_state: bool = False, timeout: float = 30) -> None: ...

    @abstractmethod
    def stop_app(self, app: str) -> None: ...

    @abstractmethod
    def clear_app(self, app: str) -> None: ...

    # elements -------------------------------------------------------------------------------------------------
    @abstractmethod
    def find_once(self, locator: Locator):
        """The first visible element the locator matches now, or None. No waiting."""

    def find(self, locators: list[Locator], timeout: float):
        """The first locator (in order) that matches a visible element, retried until the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            for locator in locators:
                element = self.find_once(locator)
                if element is not None:
                    return element
            if time.monotonic() >= deadline:
                raise NotFound(f"no visible element matches {' or '.join(map(str, locators))} after {timeout:g} s")
            time.sleep(0.1)

    def is_visible(self, locators: list[Locator]) -> bool:
        return any(self.find_once(locator) is not None for locator in locators)

    def in_viewport(self, element) -> bool:
        """Whether a found element is on the screen now (scroll_until_visible stops there); drivers whose
        lookups find only on-screen elements keep this answer."""
        return True

    @abstractmethod
    def text_of(self, element) -> str: ...

    # actions ----------------------------------------------------------------------------------------------------
    @abstractmethod
    def tap(self, element) -> None: ...

    @abstractmethod
    def tap_point(self, point: Point) -> None: ...

    @abstractmethod
    def long_press(self, element, duration: float) -> None: ...

    @abstractmethod
    def input(self, element, text: str, *, clear: bool = True) -> None:
        """Type into the element (or the focused one when element is None)."""

    @abstractmethod
    def swipe(self, start: Point, end: Point, duration: float) -> None: ...

    @abstractmethod
    def scroll(self, direction: str) -> None:
        """Scroll the content about two thirds of a screen so that what is `direction` comes into view."""

    @abstractmethod
    def back(self) -> None: ...

    @abstractmethod
    def wait_settled(self, *, quiet: float = 0.3, timeout: float = 5.0) -> bool:
        """Wait until the screen stops changing and nothing is in flight for `quiet` seconds; False if it
        never settled within the timeout (the run goes on: some screens animate forever)."""

    # evidence ---------------------------------------------------------------------------------------------------
    @abstractmethod
    def screenshot(self, path: str) -> None: ...

    @abstractmethod
    def hierarchy(self) -> str:
        """The screen's element tree as text (DOM on the web, XML on Android and iOS)."""

    @abstractmethod
    def logs(self) -> list[dict]:
        """What the device logged since start: [{"at": ms, "level": str, "text": str}, ...]."""
