"""kombu's filesystem transport with acknowledgements that survive the consumer: the embedded broker.

kombu's own filesystem transport deletes a message file the moment a worker takes it, so a worker killed
mid-task (SIGKILL, power lost) loses the task even with acks_late. This transport moves the taken file into a
"held" folder under the consumer's name (host and process id) instead, deletes it on acknowledgement, puts it
back when the message is rejected or restored, and, whenever a channel opens (a worker or agent starting, the
web process sending a task), returns to the queue every held file whose consumer process on this host is gone.
The result is the same at-least-once delivery that Redis gives with its visibility timeout, without the
timeout: a dead worker's task is taken again as soon as any process of the installation opens the broker.

Used by the platform (settings: CELERY_BROKER_TRANSPORT) and by device agents on the same machine, so it
imports nothing of Django.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
from pathlib import Path

from kombu.transport import filesystem
from kombu.transport.virtual.base import Empty

log = logging.getLogger(__name__)
TRANSPORT = f"{__name__}:Transport"
SEPARATOR = "~"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class Channel(filesystem.Channel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._held: dict[str, Path] = {}
        self.held_folder.mkdir(parents=True, exist_ok=True)
        self.return_orphans()

    @property
    def held_folder(self) -> Path:
        options = self.transport_options
        return Path(options.get("held_folder") or f"{self.data_folder_in.rstrip('/')}-held")

    @property
    def owner(self) -> str:
        return f"{socket.gethostname()}{SEPARATOR}{os.getpid()}"

    def return_orphans(self) -> int:
        """Held messages of consumers on this host that no longer run go back to their queues."""
        host = socket.gethostname()
        returned = 0
        for path in self.held_folder.iterdir():
            owner_host, _, rest = path.name.partition(SEPARATOR)
            pid, _, original = rest.partition(SEPARATOR)
            if owner_host != host or not pid.isdigit() or not original or _alive(int(pid)):
                continue
            try:
                os.rename(path, Path(self.data_folder_in) / original)
            except OSError:
                continue  # another process returned it first
            returned += 1
        if returned:
            log.warning("broker: %d message(s) taken by workers that died returned to their queues", returned)
        return returned

    def _get(self, queue):
        """Take the oldest message of the queue into this consumer's held folder (kombu's own _get deletes it)."""
        suffix = f".{queue}.msg"
        for filename in sorted(os.listdir(self.data_folder_in)):
            if filename.partition(".")[2] != suffix[1:]:
                continue
            held = self.held_folder / f"{self.owner}{SEPARATOR}{filename}"
            try:
                os.rename(os.path.join(self.data_folder_in, filename), held)
            except OSError:
                continue  # taken by another consumer in the meantime
            try:
                payload = json.loads(held.read_bytes())
            except (OSError, ValueError) as exc:
                log.error("broker: unreadable message %s set aside: %s", held, exc)
                shutil.move(held, self.held_folder / f"unreadable{SEPARATOR}0{SEPARATOR}{filename}")
                continue
            tag = (payload.get("properties") or {}).get("delivery_tag")
            if tag:
                self._held[tag] = held
            else:
                held.unlink(missing_ok=True)  # cannot be acknowledged: behave as kombu does
            return payload
        raise Empty()

    def _release(self, tag) -> None:
        path = self._held.pop(tag, None)
        if path is not None:
            path.unlink(missing_ok=True)

    def basic_ack(self, delivery_tag, multiple=False):
        super().basic_ack(delivery_tag, multiple)
        self._release(delivery_tag)

    def basic_reject(self, delivery_tag, requeue=False):
        super().basic_reject(delivery_tag, requeue)  # requeued: written to the queue again first
        self._release(delivery_tag)

    def _restore(self, message):
        super()._restore(message)  # a clean shutdown puts unacknowledged messages back
        self._release(message.delivery_tag)


class Transport(filesystem.Transport):
    Channel = Channel
    driver_type = driver_name = "filesystem"
