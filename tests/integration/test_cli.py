"""The `trackreplay` command line, as installed by pip, in real processes."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

TRACKREPLAY = str(Path(sys.executable).with_name("trackreplay"))


def test_help_lists_the_commands():
    result = subprocess.run([TRACKREPLAY, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for command in ("up", "demo", "manage", "decode", "version"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.M), command


def test_version_and_unknown_command():
    assert subprocess.run([TRACKREPLAY, "version"], capture_output=True, text=True).stdout.startswith("trackreplay ")
    result = subprocess.run([TRACKREPLAY, "frobnicate"], capture_output=True, text=True)
    assert result.returncode == 2 and "invalid choice" in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.browser
def test_up_demo_walks_the_loop_on_embedded_defaults_and_ctrl_c_stops_everything(tmp_path):
    """What `make run` does, on a throwaway var/ folder: SQLite and the filesystem broker, no server needed;
    web, worker, beat, the demo shop and a local agent with Chromium; the demo's record, clean replay and
    regression on real runs; Ctrl-C stops every process."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(TRACKREPLAY_VAR_DIR=str(tmp_path), TRACKREPLAY_ADMIN_PASSWORD="walk-the-demo-1", PYTHONUNBUFFERED="1",
               TRACKREPLAY_DEMO_SHOP_PORT=str(_free_port()))
    log_path = tmp_path / "up.log"
    with log_path.open("w") as log:
        up = subprocess.Popen([TRACKREPLAY, "up", "--demo", "--port", str(port), "--concurrency", "1"],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if requests.get(f"{base}/healthz", timeout=2).ok:
                        break
                except requests.ConnectionError:
                    time.sleep(0.5)
            else:
                raise AssertionError("web never came up:\n" + log_path.read_text())

            session = requests.Session()
            page = session.get(f"{base}/login/")
            csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
            home = session.post(f"{base}/login/", data={"username": "admin", "password": "walk-the-demo-1",
                                                        "csrfmiddlewaretoken": csrf}, headers={"Referer": page.url})
            assert home.url.endswith("/p/demo-shop/") and "Demo shop" in home.text

            for _ in range(120):  # the worker and beat log their start-up a little after the web
                text = log_path.read_text()
                if "ready." in text and "beat: Starting" in text:
                    break
                time.sleep(0.5)
            text = log_path.read_text()
            assert "ready." in text, text
            assert "beat: Starting" in text, text
            pids = [int(pid) for pid in re.findall(r"started \w+ \(pid (\d+)\)", text)]
            assert re.findall(r"started (\w+) \(pid", text) == ["web", "worker", "beat", "shop", "agent"]
            # The demo walks the whole loop on real runs: record, a clean replay, a regression.
            for _ in range(300):
                if "[demo] done" in log_path.read_text() or "[demo] the walk stopped" in log_path.read_text():
                    break
                time.sleep(0.5)
            text = log_path.read_text()
            assert "[demo] done: the clean replay passed and the regression was caught" in text, text
            assert re.search(r"3\. replay, regression .*: failed \(\d+ strong anomalies", text), text
        finally:
            up.send_signal(signal.SIGINT)  # what Ctrl-C sends
            code = up.wait(timeout=60)
    assert code == 0, log_path.read_text()
    for pid in pids:
        assert not _alive(pid), f"child {pid} survived Ctrl-C"
    assert (tmp_path / "trackreplay.sqlite3").exists()
    assert "password: walk-the-demo-1" in log_path.read_text()
