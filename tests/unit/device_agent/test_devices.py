"""The agent's device set: iPhones keep their fixed proxy port across restarts, --wda pairs are checked, the
proxy journal remembers Android phones a run left proxied until their setting is cleared."""

import pytest

from device_agent.devices import DeviceSet, ProxyJournal, lan_address, parse_wda_pairs


def test_each_iphone_keeps_its_proxy_port_across_restarts(tmp_path):
    first = DeviceSet("lab", browsers=0, state_dir=tmp_path, ios_proxy_port=9000)
    assert first.proxy_port("00008110-000A") == 9000
    assert first.proxy_port("00008120-000B") == 9001
    again = DeviceSet("lab", browsers=0, state_dir=tmp_path, ios_proxy_port=9000)
    assert again.proxy_port("00008120-000B") == 9001 and again.proxy_port("00008110-000A") == 9000
    assert again.proxy_address("00008110-000A").endswith(":9000")


@pytest.mark.parametrize("pair", ["00008110-000A", "x=http://h:8100", "00008110-000A=ftp://h", "=http://h:8100"])
def test_bad_wda_pairs_are_refused_with_their_text(pair):
    with pytest.raises(ValueError, match="--wda"):
        parse_wda_pairs([pair])


def test_wda_pairs():
    assert parse_wda_pairs(["00008110-000A=http://127.0.0.1:8100/"]) == {"00008110-000A": "http://127.0.0.1:8100"}


def test_the_journal_lists_phones_until_done(tmp_path):
    journal = ProxyJournal(tmp_path / "proxy-set")
    journal.mark("emulator-5554")
    journal.mark("192.168.1.20:5555")
    assert ProxyJournal(tmp_path / "proxy-set").pending() == ["192.168.1.20:5555", "emulator-5554"]
    journal.done("emulator-5554")
    assert journal.pending() == ["192.168.1.20:5555"]


def test_lan_address_is_an_address():
    parts = lan_address().split(".")
    assert len(parts) == 4 and all(part.isdigit() for part in parts)


def test_a_device_is_held_by_one_owner_and_a_dead_holder_holds_nothing(tmp_path):
    import subprocess
    import sys

    from device_agent.devices import DeviceBusy, busy_marker, claim, holder, holding

    marker = busy_marker(tmp_path, "android", "emulator-5554")
    assert holder(marker) is None and claim(marker, "run 7")
    assert holder(marker) == "run 7" and not claim(marker, "an HTTPS check")
    with pytest.raises(DeviceBusy, match="busy with run 7"):
        with holding(tmp_path, "android", "emulator-5554", "a screenshot"):
            pass
    marker.unlink()
    with holding(tmp_path, "android", "emulator-5554", "a screenshot"):
        assert holder(marker) == "a screenshot"
    assert holder(marker) is None  # let go after the block
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    marker.write_text(f"run 8 pid {dead.stdout.strip()}")  # its worker process was killed without letting go
    assert holder(marker) is None and claim(marker, "run 9") and holder(marker) == "run 9"
    marker.write_text("12")  # written by an older agent: no process named, nobody alive holds it
    assert holder(marker) is None


def test_the_journal_lists_phones_while_runs_clear_theirs(tmp_path):
    import threading

    journal = ProxyJournal(tmp_path / "proxy-set")
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            journal.mark("emulator-5554")
            journal.done("emulator-5554")

    thread = threading.Thread(target=churn)
    thread.start()
    try:
        for _ in range(3000):
            assert journal.pending() in ([], ["emulator-5554"])
    finally:
        stop.set()
        thread.join()


def test_the_heartbeat_thread_outlives_a_heartbeat_that_breaks(tmp_path):
    import threading

    from device_agent.agent import Agent

    agent = Agent("http://127.0.0.1:9", "tra_x", state_dir=tmp_path)
    beats = []
    second = threading.Event()

    def heartbeat():
        beats.append(1)
        if len(beats) == 1:
            raise FileNotFoundError("a run cleared its phone meanwhile")
        second.set()
        agent.stopping.set()

    agent.heartbeat = heartbeat
    agent.config = {"heartbeat_seconds": 0.01}
    thread = threading.Thread(target=agent._heartbeats)
    thread.start()
    assert second.wait(10), "the heartbeat thread died with the first error"
    thread.join(10)
