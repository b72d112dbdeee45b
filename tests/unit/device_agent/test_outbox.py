"""The agent's outbox keeps uploads in order across failures and restarts, refuses nothing silently, and
reads a run's events on from exactly where the last stored batch ended."""

import json
import os

import pytest

from device_agent.outbox import Outbox, Refused


class Platform:
    def __init__(self):
        self.received, self.down, self.refuse = [], False, set()

    def send(self, method, path, body, content_type):
        if self.down:
            raise ConnectionError("platform down")
        if path in self.refuse:
            raise Refused(400, '{"error": "bad"}')
        self.received.append((method, path, body))


def test_items_go_out_in_order_and_wait_while_the_platform_is_down(tmp_path):
    outbox, platform = Outbox(tmp_path / "o.sqlite3"), Platform()
    for n in range(3):
        outbox.put(1, "POST", f"/p/{n}", json_body={"n": n})
    platform.down = True
    with pytest.raises(ConnectionError):
        outbox.send_one(platform.send)
    assert outbox.pending() == 3
    # A restart of the agent: a new Outbox on the same file still has everything.
    outbox.close()
    outbox = Outbox(tmp_path / "o.sqlite3")
    platform.down = False
    while outbox.send_one(platform.send):
        pass
    assert [path for _, path, _ in platform.received] == ["/p/0", "/p/1", "/p/2"]
    assert json.loads(platform.received[2][2]) == {"n": 2}


def test_a_refused_item_is_kept_aside_with_the_answer_and_does_not_block_the_rest(tmp_path):
    outbox, platform = Outbox(tmp_path / "o.sqlite3"), Platform()
    platform.refuse = {"/bad"}
    outbox.put(7, "POST", "/bad", json_body={})
    outbox.put(7, "POST", "/good", json_body={})
    assert outbox.send_one(platform.send) and outbox.send_one(platform.send)
    assert [p for _, p, _ in platform.received] == ["/good"]
    assert outbox.failures() == [{"run": 7, "method": "POST", "path": "/bad", "status": 400,
                                  "answer": '{"error": "bad"}'}]


def test_files_are_read_when_sent_and_a_vanished_file_is_reported(tmp_path):
    outbox, platform = Outbox(tmp_path / "o.sqlite3"), Platform()
    shot = tmp_path / "001.png"
    shot.write_bytes(b"\x89PNG...")
    outbox.put(1, "PUT", "/shot/1", body_file=str(shot), content_type="image/png")
    outbox.put(1, "PUT", "/shot/2", body_file=str(tmp_path / "gone.png"), content_type="image/png")
    while outbox.send_one(platform.send):
        pass
    assert platform.received == [("PUT", "/shot/1", b"\x89PNG...")]
    assert "the file to upload is gone" in outbox.failures()[0]["answer"]


def test_event_batches_and_the_read_offset_move_together(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.begin_run(5, tmp_path)
    assert outbox.events_offset(5) == 0 and outbox.running() == [5]
    outbox.put_events(5, "/events", [b'{"event": "a"}'], 0, 15)
    assert outbox.events_offset(5) == 15
    outbox.set_step(5, 3)
    assert outbox.last_step(5) == 3
    outbox.end_run(5)
    # Still alive for the platform until its end is uploaded, but no longer a run to recover.
    assert outbox.running() == [5] and outbox.unfinished_runs() == []
    body = json.loads(outbox._next()[5])
    assert body == {"batch_id": "run-5-events-0", "events": [{"event": "a"}]}
    outbox.put(5, "POST", "/api/v1/agent/runs/5/finish", json_body={})
    platform = Platform()
    while outbox.send_one(platform.send):
        pass
    assert outbox.running() == []


def test_an_item_the_platform_keeps_failing_is_set_aside_but_an_outage_is_waited_out(tmp_path):
    from device_agent.client import PlatformError
    from device_agent.outbox import MAX_SERVER_ERRORS

    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.put(1, "POST", "/api/v1/agent/runs/1/steps", json_body={})
    outbox.put(1, "POST", "/api/v1/agent/runs/1/finish", json_body={})

    def unreachable(*args):
        raise PlatformError("unreachable")
    for _ in range(MAX_SERVER_ERRORS + 5):
        with pytest.raises(PlatformError):
            outbox.send_one(unreachable)
    assert outbox.pending() == 2 and outbox.failures() == []

    def broken(method, path, body, content_type):
        if path.endswith("/steps"):
            raise PlatformError("HTTP 500", 500)
    for _ in range(MAX_SERVER_ERRORS - 1):
        with pytest.raises(PlatformError):
            outbox.send_one(broken)
    assert outbox.send_one(broken) and outbox.failures()[0]["status"] == 500
    assert outbox.send_one(broken) and outbox.pending() == 0  # the rest went on


def test_a_forked_worker_process_writes_through_its_own_connection(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.put(1, "POST", "/before", json_body={})
    pid = os.fork()
    if pid == 0:  # the child: like a prefork worker of the agent
        try:
            outbox.put(2, "POST", "/from-child", json_body={})
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert outbox.pending() == 2 and outbox.pending(run=2) == 1
