"""The player: performs a flow's steps on a driver and keeps the timeline.

For each step it tells the proxy the step number first (so every event is tagged with the step it
followed), does the action with its lookups retried until the step's timeout and the whole step retried
`retry` times, waits for the screen to settle, takes a screenshot, and records the outcome. A failed
optional step is marked skipped and the flow goes on; any other failure ends the flow and the steps after
it are skipped. A whole-run time cap stops the flow between steps (and cuts waits short)."""

from __future__ import annotations

import importlib.util
import inspect
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from .drivers.base import DeviceGone, Driver, DriverError
from .flows import Flow, Step

DEFAULT_TIMEOUT = 10.0
MAX_RECOVERIES = 2  # per step: a crash, an ANR or a dead UI server is put right and the step tried again
LONG_PRESS_SECONDS = 0.8


def now_iso() -> str:
    """The one time format of timelines: UTC, milliseconds, 'Z'."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StepFailed(Exception):
    pass


class Player:
    def __init__(self, driver: Driver, flow: Flow, *, out_dir: Path | None = None, mode: str = "capture",
                 on_step: Callable[[int], None] | None = None, on_result: Callable[[dict], None] | None = None,
                 screenshots: bool = True, settle_quiet: float = 0.3, settle_timeout: float = 5.0,
                 time_cap: float | None = None, should_stop: Callable[[], bool] | None = None):
        self.driver = driver
        self.flow = flow
        self.out_dir = out_dir
        self.mode = mode
        self.on_step = on_step
        self.on_result = on_result
        self.screenshots = screenshots and out_dir is not None
        self.settle_quiet = settle_quiet
        self.settle_timeout = settle_timeout
        if time_cap is not None and time_cap <= 0:
            raise ValueError(f"a time cap must be a positive number of seconds, not {time_cap}")
        self.deadline = time.monotonic() + time_cap if time_cap is not None else None
        self.time_cap = time_cap
        self.should_stop = should_stop
        self.timeline = {"flow": flow.name, "platform": driver.platform, "mode": mode, "outcome": "running",
                         "started_at": None, "finished_at": None, "error": "", "steps": []}

    # -- the run -------------------------------------------------------------------------------------------

    def play(self) -> dict:
        timeline = self.timeline
        timeline["started_at"] = now_iso()
        if self.screenshots:
            (self.out_dir / "screenshots").mkdir(parents=True, exist_ok=True)
        failed_at = None
        for index, step in enumerate(self.flow.steps, 1):
            record = {"index": index, "action": step.action, "label": step.describe(), "outcome": "skipped",
                      "started_at": None, "finished_at": None, "error": "", "screenshot": None,
                      "line": step.line, "attempts": 0}
            timeline["steps"].append(record)
            if failed_at is not None:
                record["error"] = f"not run: step {failed_at} failed"
                self._report(record)
                continue
            if self.should_stop is not None and self.should_stop():
                failed_at = index
                timeline["error"] = f"stopped at step {index}: the agent is shutting down"
                record["error"] = "not run: the agent is shutting down"
                self._report(record)
                continue
            if self._out_of_time():
                failed_at = index
                timeline["error"] = (f"stopped at step {index}: the run reached its time cap of "
                                     f"{self.time_cap:g} s")
                record["error"] = "not run: the run reached its time cap"
                self._report(record)
                continue
            try:
                self._run_step(index, step, record)
            except DeviceGone as exc:
                failed_at = index
                record.update(outcome="failed", error=str(exc), finished_at=now_iso())
                timeline["error"] = f"device disconnected at step {index} ({record['label']}): {exc}"
                self._report(record)
                continue
            if record["outcome"] == "failed":
                failed_at = index
                timeline["error"] = timeline["error"] or f"step {index} ({record['label']}) failed: {record['error']}"
        timeline["outcome"] = "failed" if failed_at is not None else "passed"
        timeline["finished_at"] = now_iso()
        return timeline

    def _run_step(self, index: int, step: Step, record: dict) -> None:
        record["started_at"] = now_iso()
        if self.on_step is not None:
            self.on_step(index)
        self._report(dict(record, outcome="running"))
        error = ""
        attempt = recoveries = 0
        while attempt <= step.retry:
            attempt += 1
            record["attempts"] = attempt + recoveries
            try:
                self.perform(step)
                error = ""
                break
            except DeviceGone:
                raise
            except (DriverError, StepFailed) as exc:
                error = str(exc)
            except Exception as exc:  # the browser or device went away under us: the step failed, say how
                error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            if self._out_of_time():
                break
            if recoveries < MAX_RECOVERIES and self._recovered(record):
                recoveries += 1
                attempt -= 1  # the step gets its tries again on the repaired device
        try:
            self.driver.wait_settled(quiet=self.settle_quiet, timeout=self._bounded(self.settle_timeout))
        except Exception:
            pass  # a page that cannot settle is not the step's failure; its screenshot shows what happened
        if self.screenshots:
            path = self.out_dir / "screenshots" / f"{index:03d}.png"
            try:
                self.driver.screenshot(str(path))
                record["screenshot"] = f"screenshots/{path.name}"
            except Exception:
                record["screenshot"] = None  # no screen to take (the app never started): the error says why
        record["finished_at"] = now_iso()
        if not error:
            record["outcome"] = "passed"
        elif step.optional:
            record["outcome"], record["error"] = "skipped", f"optional step did not succeed: {error}"
        else:
            record["outcome"], record["error"] = "failed", error
        self._report(record)

    def _recovered(self, record: dict) -> bool:
        """After a failed try: ask the driver what is wrong with the device (a crash, an ANR, a dead UI server)
        and have it put right. The timeline says what was found and done. False when nothing was found or it
        could not be put right (the step's own error stands)."""
        try:
            problem = self.driver.health(self.flow.app)
        except DeviceGone:
            raise
        except Exception as exc:
            problem = f"the device's health could not be read ({type(exc).__name__}: {exc})"
            record.setdefault("notes", []).append(problem)
            return False
        if not problem:
            return False
        try:
            done = self.driver.recover(self.flow.app, problem)
        except DeviceGone:
            raise
        except Exception as exc:
            record.setdefault("notes", []).append(f"{problem}; could not put it right: {exc}")
            return False
        record.setdefault("notes", []).append(f"{problem}; {done}; the step is tried again")
        return True

    def _report(self, record: dict) -> None:
        if self.on_result is not None:
            self.on_result(dict(record))

    def _out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def _bounded(self, seconds: float) -> float:
        if self.deadline is None:
            return seconds
        return max(0.0, min(seconds, self.deadline - time.monotonic()))

    # -- the actions ----------------------------------------------------------------------------------------

    def perform(self, step: Step) -> None:
        driver = self.driver
        params = step.params
        timeout = self._bounded(step.timeout if step.timeout is not None else DEFAULT_TIMEOUT)
        action = step.action
        if action == "launch":
            driver.launch(self.flow.app, clear_state=params.get("clear_state", False),
                          timeout=step.timeout if step.timeout is not None else 30)
        elif action == "tap":
            driver.tap(driver.find(step.target, timeout))
        elif action == "long_press":
            driver.long_press(driver.find(step.target, timeout), params.get("duration", LONG_PRESS_SECONDS))
        elif action == "input":
            element = driver.find(step.target, timeout) if step.target else None
            driver.input(element, params["text"], clear=params.get("clear", True))
        elif action == "swipe":
            driver.swipe(params["from"], params["to"], params.get("duration", 0.3))
        elif action == "scroll_until_visible":
            self._scroll_until_visible(step)
        elif action == "back":
            driver.back()
        elif action == "wait":
            time.sleep(self._bounded(params["seconds"]))
        elif action == "assert_visible":
            driver.find(step.target, timeout)
        elif action == "assert_not_visible":
            self._until(lambda: not driver.is_visible(step.target), timeout,
                        lambda: f"{' or '.join(map(str, step.target))} is still visible after {timeout:g} s")
        elif action == "assert_text":
            self._assert_text(step, timeout)
        elif action == "python":
            self._python(step)
        else:
            raise StepFailed(f"the player cannot do {action!r}")

    def _until(self, check, timeout: float, explain) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() >= deadline:
                raise StepFailed(explain())
            time.sleep(0.1)

    def _assert_text(self, step: Step, timeout: float) -> None:
        element = self.driver.find(step.target, timeout)
        expected = step.params.get("equals")
        contains = step.params.get("contains")
        seen = {"text": ""}

        def check():
            seen["text"] = self.driver.text_of(element)
            return seen["text"] == expected if expected is not None else contains in seen["text"]

        where = " or ".join(map(str, step.target))
        self._until(check, timeout, lambda: (
            f"{where}: text is {seen['text']!r}, expected "
            + (f"{expected!r}" if expected is not None else f"it to contain {contains!r}")))

    def _scroll_until_visible(self, step: Step) -> None:
        driver = self.driver
        direction = step.params.get("direction", "down")
        scrolls = step.params.get("max_scrolls", 10)
        for done in range(scrolls + 1):
            for locator in step.target:
                element = driver.find_once(locator)
                if element is not None and driver.in_viewport(element):
                    return
            if done == scrolls or self._out_of_time():
                break
            driver.scroll(direction)
            driver.wait_settled(quiet=0.15, timeout=self._bounded(2.0))
        raise StepFailed(f"{' or '.join(map(str, step.target))} did not come into view after {scrolls} scrolls "
                         f"{direction}")

    def _python(self, step: Step) -> None:
        path = Path(step.params["file"])
        spec = importlib.util.spec_from_file_location(f"trackreplay_flow_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise StepFailed(f"{path.name}: {type(exc).__name__}: {exc}") from None
        function = getattr(module, step.params["function"], None)
        if not callable(function):
            raise StepFailed(f"{path.name} has no function {step.params['function']}(driver, env)")
        try:
            if len(inspect.signature(function).parameters) >= 2:
                function(self.driver, dict(self.flow.env))
            else:
                function(self.driver)
        except (DriverError, StepFailed) as exc:
            raise StepFailed(f"{path.name}: {exc}") from None
        except AssertionError as exc:
            raise StepFailed(f"{path.name}: assertion failed: {exc}") from None
        except Exception as exc:
            raise StepFailed(f"{path.name}: {type(exc).__name__}: {exc}") from None
