"""A fake usbmuxd: the daemon through which a Mac or Linux host reaches iPhones on USB, on a unix socket.

tidevice (and facebook-wda's own copy of pymobiledevice3's client) talk to usbmuxd in its plist protocol:
every message is a 16-byte little-endian header (length, version 1, type 8 = plist, tag) and an XML plist.
This fake answers what discovery and the driver's WDA relay use:

- ReadBUID; ListDevices (each attached FakePhone as a USB device, while it is plugged in)
- Connect to a port on a device: after a Result of 0 the socket is a tunnel to that port. Port 62078 is
  lockdownd, answered here: QueryType and GetValue of the keys a host may read before pairing (DeviceName,
  ProductType, ProductVersion, UniqueDeviceID, DeviceClass, BuildVersion), framed as lockdownd frames them (a
  4-byte big-endian length and a plist). Other ports are forwarded to the TCP port the test maps them to
  (8100 -> the fake WDA). A device that is gone answers BadDevice (2), a closed port ConnectionRefused (3).

Pairing, lockdown sessions (StartSession, and so the services behind them: syslog, screenshots) and Listen are
not implemented and answer an error, so a client that needs them fails here instead of seeming to work."""

from __future__ import annotations

import plistlib
import selectors
import socket
import socketserver
import struct
import threading
from dataclasses import dataclass, field

from .app import FakePhone

LOCKDOWN_PORT = 62078
BAD_COMMAND, BAD_DEVICE, CONNECTION_REFUSED = 1, 2, 3
PRE_PAIRING_KEYS = ("DeviceName", "ProductType", "ProductVersion", "UniqueDeviceID", "DeviceClass", "BuildVersion")


@dataclass
class USBDevice:
    phone: FakePhone
    product_type: str  # "iPhone14,7" is an iPhone 14
    ports: dict[int, int] = field(default_factory=dict)  # port on the phone -> TCP port on this host
    build: str = "20H19"
    device_id: int = 0


class FakeUsbmuxd:
    def __init__(self, path: str):
        self.path = path
        self.devices: list[USBDevice] = []
        self.lock = threading.Lock()
        self.server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._open: set[socket.socket] = set()

    def attach(self, phone: FakePhone, product_type: str, *, ports: dict[int, int] | None = None) -> USBDevice:
        with self.lock:
            device = USBDevice(phone, product_type, dict(ports or {}), device_id=len(self.devices) + 1)
            self.devices.append(device)
            return device

    def attached(self) -> list[USBDevice]:
        with self.lock:
            return [device for device in self.devices if device.phone.plugged]

    def start(self) -> FakeUsbmuxd:
        self.server = _Server(self.path, _Handler)
        self.server.mux = self
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-usbmuxd", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self.server is None:
            return
        self.server.shutdown()
        with self.lock:
            for sock in self._open:  # tunnels still open: the clients see the daemon go away
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.server.server_close()  # joins the connection threads
        self._thread.join()
        self.server = None

    def __enter__(self) -> FakeUsbmuxd:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = False
    mux: FakeUsbmuxd


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        mux = self.server.mux
        with mux.lock:
            mux._open.add(self.request)
        try:
            while True:
                length, version, kind, tag = struct.unpack("<IIII", _read(self.request, 16))
                message = plistlib.loads(_read(self.request, length - 16))
                if kind != 8:
                    self.reply({"MessageType": "Result", "Number": BAD_COMMAND}, tag)
                    continue
                if message.get("MessageType") == "Connect":
                    self.connect(message, tag)
                    return  # the socket was a tunnel to the device and is done
                self.reply(self.answer(message), tag)
        except (EOFError, OSError):
            pass
        finally:
            with mux.lock:
                mux._open.discard(self.request)

    def reply(self, payload: dict, tag: int) -> None:
        body = plistlib.dumps(payload)
        self.request.sendall(struct.pack("<IIII", 16 + len(body), 1, 8, tag) + body)

    def answer(self, message: dict) -> dict:
        kind = message.get("MessageType")
        if kind == "ReadBUID":
            return {"BUID": "5C8B2C4E-1A0D-4E1B-9A5E-7B1D2E0C7F11"}
        if kind == "ListDevices":
            return {"DeviceList": [{"DeviceID": device.device_id, "MessageType": "Attached", "Properties": {
                "ConnectionSpeed": 480000000, "ConnectionType": "USB", "DeviceID": device.device_id,
                "LocationID": 0x14200000 + device.device_id, "ProductID": 0x12A8, "SerialNumber": device.phone.serial,
                "UDID": device.phone.serial, "USBSerialNumber": device.phone.serial.replace("-", "")}}
                for device in self.server.mux.attached()]}
        return {"MessageType": "Result", "Number": BAD_COMMAND}

    def connect(self, message: dict, tag: int) -> None:
        port = socket.ntohs(int(message.get("PortNumber", 0)))
        device = next((d for d in self.server.mux.attached() if d.device_id == message.get("DeviceID")), None)
        if device is None:
            self.reply({"MessageType": "Result", "Number": BAD_DEVICE}, tag)
            return
        if port == LOCKDOWN_PORT:
            self.reply({"MessageType": "Result", "Number": 0}, tag)
            self.lockdown(device)
            return
        if port not in device.ports:
            self.reply({"MessageType": "Result", "Number": CONNECTION_REFUSED}, tag)
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", device.ports[port]), timeout=5)
        except OSError:
            self.reply({"MessageType": "Result", "Number": CONNECTION_REFUSED}, tag)
            return
        self.reply({"MessageType": "Result", "Number": 0}, tag)
        with upstream:
            _pipe(self.request, upstream, device)

    def lockdown(self, device: USBDevice) -> None:
        phone = device.phone
        values = {"DeviceName": phone.name, "ProductType": device.product_type, "ProductVersion": phone.os_version,
                  "UniqueDeviceID": phone.serial, "DeviceClass": "iPhone", "BuildVersion": device.build}
        while phone.plugged:
            (length,) = struct.unpack(">I", _read(self.request, 4))
            request = plistlib.loads(_read(self.request, length))
            kind = request.get("Request")
            if kind == "QueryType":
                answer = {"Request": kind, "Type": "com.apple.mobile.lockdown"}
            elif kind == "GetValue" and not request.get("Domain") and request.get("Key") in PRE_PAIRING_KEYS:
                answer = {"Request": kind, "Key": request["Key"], "Value": values[request["Key"]]}
            elif kind == "GetValue" and not request.get("Domain") and not request.get("Key"):
                answer = {"Request": kind, "Value": values}
            elif kind == "Goodbye":
                answer = {"Request": kind, "Result": "Success"}
            else:  # sessions (and everything behind them) need pairing, which this fake does not do
                answer = {"Request": kind, "Error": "SessionInactive"}
            body = plistlib.dumps(answer)
            self.request.sendall(struct.pack(">I", len(body)) + body)
            if kind == "Goodbye":
                return


def _pipe(client: socket.socket, upstream: socket.socket, device: USBDevice) -> None:
    """Bytes both ways until either side closes or the phone is unplugged."""
    with selectors.DefaultSelector() as selector:
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        while device.phone.plugged:
            for key, _ in selector.select(timeout=0.1):
                data = key.fileobj.recv(65536)
                if not data:
                    return
                key.data.sendall(data)
