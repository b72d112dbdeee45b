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
