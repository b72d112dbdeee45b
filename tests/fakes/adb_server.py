"""A fake adb server: the adb host protocol over TCP, with FakePhones (tests/fakes/app.py) as its devices, so the
REAL adbutils and uiautomator2 clients, unmodified, drive the Android driver's tests.

No phone is attached here, so the fake stands where the real adb server stands: the clients find it through
ANDROID_ADB_SERVER_PORT (or AdbClient(host, port)) and speak the same bytes to it. It serves
- host services: host:version, host:devices, host:devices-l, host:features, host:list-forward, the transport
  switches (host:transport:S, host:tport:serial:S, host:transport-id:N, host-transport-id:N:...) and
  host-serial:S:get-state / get-serialno / get-devpath / features / list-forward;
- device services: shell: (v1, streaming: the uiautomator2 server launch keeps its shell open, and closing it
  stops the server), shell,v2:, exec:, sync: (STAT, LIST, SEND/DATA/DONE, RECV, QUIT), tcp:<port> (the
  uiautomator2 JSON-RPC server, for as long as its app_process shell lives), reverse:forward /
  killforward / killforward-all / list-forward (FakePhone.reversed_ports), root: and remount:;
- the uiautomator2 server on the device port its launch names: GET /ping and POST /jsonrpc/0 with the methods
  the driver's u2 calls use (dumpWindowHierarchy as real uiautomator XML, click, swipe, pressKey, pressKeyCode,
  takeScreenshot, setClipboard, getClipboard, pasteClipboard, clearInputText, deviceInfo).
Anything else is refused loudly: a FAIL naming the service, a JSON-RPC error naming the method, or the shell's
"is not implemented" (tests/fakes/android_shell.py). A test must never pass on an answer the fake invented.

Cues a test pulls: FakePhone.crash / crash_on_tap / raise_anr / unplug (the device leaves host:devices and every
transport to it fails with adb's own "device 'X' not found"), and FakeAdbServer.kill_ui_server(serial)."""

from __future__ import annotations

import base64
import io
import json
import socket
import struct
import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler

from .android_shell import (DIRECTORIES, SDK_OF_RELEASE, SYSTEM_CACERTS, UI_SERVER_MAIN, Shell, UiServerLaunch,
                            run_in_background)
from .app import Element, FakePhone, Unplugged

ADB_VERSION = 41  # adb 1.0.41: adbutils then uses host:tport:serial (answered with an 8-byte transport id)
FEATURES = "shell_v2"  # only what this fake serves: a client that sees stat_v2 or sendrecv_v2 would use them
OKAY, FAIL = b"OKAY", b"FAIL"
UNREADY = {"unauthorized": "device unauthorized.\nThis adb server's $ADB_VENDOR_KEYS is not set\nTry 'adb kill-server' "
                           "if that seems wrong.\nOtherwise check for a confirmation dialog on your device.",
           "offline": "device offline"}
LAUNCHER = "com.android.launcher3"
CLASSES = {"window": "android.widget.FrameLayout", "view": "android.widget.LinearLayout",
           "button": "android.widget.Button", "text": "android.widget.TextView", "input": "android.widget.EditText",
           "list": "android.widget.ListView", "image": "android.widget.ImageView",
           "dialog": "android.widget.FrameLayout"}


def _block(data: str | bytes) -> bytes:
    """adb's length-prefixed string: four hex digits, then the bytes."""
    raw = data.encode() if isinstance(data, str) else data
    return f"{len(raw):04x}".encode() + raw


class _Closed(Exception):
    """The client hung up."""


class _RpcFault(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


# -- the device side ----------------------------------------------------------------------------------------------

class FakeAndroid:
    """What adbd and the programs on one phone know beyond the FakePhone: root and remount state, the device's
    file system layout, the intents started, the clipboard and the uiautomator2 server."""

    def __init__(self, server: FakeAdbServer, phone: FakePhone, transport_id: int, *, emulator: bool,
                 rooted: bool, debuggable: bool):
        self.server = server
        self.phone = phone
        self.transport_id = transport_id
        self.emulator = emulator
        self.rooted = rooted  # `su` works (a rooted phone)
        self.debuggable = debuggable  # ro.debuggable=1: `adb root` works (emulators, userdebug builds)
        self.state = "device"  # or "unauthorized" (the USB debugging prompt not yet accepted), "offline"
        self.root = False  # adbd restarted as root
        self.system_rw = False  # /system remounted read-write
        self.dirs: set[str] = set(DIRECTORIES)
        self.modes: dict[str, int] = {}
        self.intents: list[dict] = []  # every activity `am start` opened, in order
        self.clipboard = ""
        self.ui_servers: dict[int, threading.Event] = {}  # device port -> set when that server must stop
        self.ui_launches = 0
        self.shell = Shell(self)
        self.lock = threading.Lock()

    @property
    def serial(self) -> str:
        return self.phone.serial

    @property
    def sdk(self) -> int:
        return SDK_OF_RELEASE.get(self.phone.os_version, 34)

    def props(self) -> dict[str, str]:
        phone = self.phone
        product = phone.model.lower().replace(" ", "_")
        props = {"ro.product.model": phone.model, "ro.product.brand": "google", "ro.product.name": product,
                 "ro.product.device": product, "ro.serialno": phone.serial,
                 "ro.build.version.release": phone.os_version, "ro.build.version.sdk": str(self.sdk),
                 "ro.build.type": "userdebug" if self.debuggable else "user",
                 "ro.debuggable": "1" if self.debuggable else "0",
                 "ro.product.cpu.abi": "x86_64" if self.emulator else "arm64-v8a"}
        if self.emulator:
            props["ro.kernel.qemu"] = "1"
        return props

    # -- files
    def is_dir(self, path: str) -> bool:
        path = path.rstrip("/") or "/"
        return path in self.dirs or any(name.startswith(path + "/") for name in self.phone.files)

    def listing(self, path: str) -> set[str]:
        prefix = path.rstrip("/") + "/"
        names = {name[len(prefix):].split("/", 1)[0] for name in [*self.phone.files, *self.dirs]
                 if name.startswith(prefix) and len(name) > len(prefix)}
        return names

    def write_problem(self, path: str, root: bool) -> str | None:
        """Why a write to `path` fails on this device now (None: it does not)."""
        if path.startswith("/system/"):
            return None if root and self.system_rw else "Read-only file system"
        if path.startswith(("/data/local/tmp/", "/sdcard/")):
            return None
        return None if root else "Permission denied"

    def write_file(self, path: str, data: bytes) -> None:
        with self.phone.lock:
            old = self.phone.files.get(path)
            self.phone.files[path] = data
            if path.startswith(SYSTEM_CACERTS) and path.endswith(".0"):
                if old is not None and old in self.phone.system_cas:
                    self.phone.system_cas.remove(old)
                self.phone.system_cas.append(data)

    def remove_file(self, path: str) -> None:
        with self.phone.lock:
            data = self.phone.files.pop(path)
            if path.startswith(SYSTEM_CACERTS) and data in self.phone.system_cas:
                self.phone.system_cas.remove(data)

    def browse(self, url: str) -> None:
        """The phone's browser opens a link: its request happens after `am start` returned, as on a phone."""
        self.server.track(run_in_background(self.phone.open_url, url))

    # -- the uiautomator2 server
    def ui_running(self, port: int) -> bool:
        with self.lock:
            return port in self.ui_servers

    def kill_ui_servers(self) -> None:
        """At once: from now on tcp: to its port is refused, and its app_process shell closes."""
        with self.lock:
            for stop in self.ui_servers.values():
                stop.set()
            self.ui_servers.clear()

    def rpc(self, method: str, params):
        phone = self.phone
        args = list(params) if isinstance(params, (list, tuple)) else [] if params in (None, {}) else None
        if args is None:
            raise _RpcFault(-32602, f"{method}: named params are not implemented by the fake uiautomator2 server")
        if method == "deviceInfo" and not args:
            return {"currentPackageName": phone.foreground or LAUNCHER, "displayWidth": phone.width,
                    "displayHeight": phone.height, "displayRotation": 0, "displaySizeDpX": round(phone.width / 2.625),
                    "displaySizeDpY": round(phone.height / 2.625), "naturalOrientation": True,
                    "productName": phone.model.lower().replace(" ", "_"), "screenOn": True, "sdkInt": self.sdk}
        if method == "dumpWindowHierarchy" and len(args) in (2, 3):
            return uiautomator_xml(phone)
        if method == "click" and len(args) in (2, 3):
            if len(args) == 2:
                phone.tap(args[0], args[1])
            else:
                phone.long_press(args[0], args[1], args[2] / 1000)
            return True
        if method == "swipe" and len(args) == 5:
            phone.swipe(*args[:4], seconds=args[4] * 0.005)  # uiautomator: each step is about 5 ms
            return True
        if method in ("pressKey", "pressKeyCode") and len(args) == 1:
            key = {"back": "back", "home": "home", 4: "back", 3: "home"}.get(args[0])
            if key is None:
                raise _RpcFault(-32603, f"{method}({args[0]!r}) is not implemented by the fake uiautomator2 server")
            phone.back() if key == "back" else phone.home()
            return True
        if method == "takeScreenshot" and len(args) == 2:
            from PIL import Image

            image = Image.open(io.BytesIO(phone.screenshot_png(scale=float(args[0]))))
            out = io.BytesIO()
            image.convert("RGB").save(out, "JPEG", quality=int(args[1]))
            return base64.b64encode(out.getvalue()).decode()
        if method == "setClipboard" and len(args) == 2:
            self.clipboard = str(args[1])
            return None
        if method == "getClipboard" and not args:
            return self.clipboard
        if method == "pasteClipboard" and not args:
            phone.type_text(self.clipboard)
            return None
        if method == "clearInputText" and not args:
            phone.type_text("", clear=True)
            return None
        raise _RpcFault(-32601, f"Method not found: {method}/{len(args)} (not implemented by the fake uiautomator2 "
                                f"server)")


def uiautomator_xml(phone: FakePhone) -> str:
    """The screen as uiautomator's dumpWindowHierarchy writes it: one top-level node per window (the app's, then
    a system dialog on top), the attributes in uiautomator's order."""
    with phone.lock:
        root = phone.tree()
        windows = [root]
        if phone.dialog:
            windows.append(root.children.pop())
    hierarchy = ET.Element("hierarchy", rotation="0")
    for index, window in enumerate(windows):
        _node(hierarchy, window, index)
    return "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\r\n" + ET.tostring(hierarchy, encoding="unicode")


def _node(parent: ET.Element, element: Element, index: int) -> None:
    package = LAUNCHER if element.owner == "launcher" else element.owner
    left, top, right, bottom = element.bounds
    clickable = element.clickable and element.owner != "launcher"
    node = ET.SubElement(parent, "node", {
        "index": str(index), "text": element.text, "resource-id": f"{package}:id/{element.id}" if element.id else "",
        "class": CLASSES.get(element.kind, "android.view.View"), "package": package,
        "content-desc": element.accessibility_id, "checkable": "false", "checked": "false",
        "clickable": _flag(clickable), "enabled": _flag(element.enabled),
        "focusable": _flag(clickable or element.kind == "input"), "focused": _flag(element.focused),
        "scrollable": _flag(element.scrollable), "long-clickable": _flag(clickable), "password": "false",
        "selected": _flag(element.selected), "bounds": f"[{left},{top}][{right},{bottom}]"})
    for child_index, child in enumerate(element.children):
        _node(node, child, child_index)


def _flag(value: bool) -> str:
    return "true" if value else "false"


class _UiServerHandler(BaseHTTPRequestHandler):
    """One HTTP exchange with the uiautomator2 server, over the adb tcp: connection (`server` is the FakeAndroid)."""

    protocol_version = "HTTP/1.0"

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/ping":
            self._send(200, b"pong", "text/plain")
        else:
            self._send(404, f"fake uiautomator2 server: GET {self.path} is not implemented".encode(), "text/plain")

    def do_POST(self) -> None:
        if self.path != "/jsonrpc/0":
            self._send(404, f"fake uiautomator2 server: POST {self.path} is not implemented".encode(), "text/plain")
            return
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        answer = {"jsonrpc": "2.0", "id": request.get("id")}
        try:
            answer["result"] = self.server.rpc(request.get("method", ""), request.get("params"))
        except _RpcFault as fault:
            answer["error"] = {"code": fault.code, "message": str(fault)}
        except Unplugged:
            self.close_connection = True
            return  # the phone is gone: no answer at all, the connection just ends
        self._send(200, json.dumps(answer).encode(), "application/json")


# -- the server ----------------------------------------------------------------------------------------------

class FakeAdbServer:
    """`with FakeAdbServer() as adb: adb.add(phone)`; clients connect to adb.host:adb.port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._listener = socket.create_server((host, port))
        self.host, self.port = host, self._listener.getsockname()[1]
        self.devices: dict[str, FakeAndroid] = {}
        self.services: list[str] = []  # every service asked for, in order (what a test may check the client did)
        self._stopping = threading.Event()
        self._threads: set[threading.Thread] = set()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._accepting: threading.Thread | None = None

    def add(self, phone: FakePhone, *, emulator: bool | None = None, rooted: bool = False,
            debuggable: bool | None = None) -> FakeAndroid:
        """Plug a phone in. An emulator (serial emulator-NNNN by default) is debuggable: `adb root` works there."""
        emulator = phone.serial.startswith("emulator-") if emulator is None else emulator
        with self._lock:
            device = FakeAndroid(self, phone, len(self.devices) + 1, emulator=emulator, rooted=rooted,
                                 debuggable=emulator if debuggable is None else debuggable)
            self.devices[phone.serial] = device
        return device

    def kill_ui_server(self, serial: str) -> None:
        """The uiautomator2 server dies: its app_process shell closes and /ping stops answering."""
        self.devices[serial].kill_ui_servers()

    # -- life cycle
    def start(self) -> FakeAdbServer:
        self._accepting = threading.Thread(target=self._accept, name="fake-adb-server", daemon=True)
        self._accepting.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in [self._accepting, *list(self._threads)]:
            if thread is not None:
                thread.join(10)

    def __enter__(self) -> FakeAdbServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def track(self, thread: threading.Thread) -> None:
        with self._lock:
            self._threads = {t for t in self._threads if t.is_alive()} | {thread}

    def alive_threads(self) -> list[threading.Thread]:
        return [t for t in [self._accepting, *self._threads] if t is not None and t.is_alive()]

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.add(sock)
            thread = threading.Thread(target=self._serve, args=(sock,), name="fake-adb-connection", daemon=True)
            self.track(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            _Connection(self, sock).serve()
        except (_Closed, OSError):
            pass
        finally:
            with self._lock:
                self._sockets.discard(sock)
            sock.close()

    def attached(self, serial: str) -> FakeAndroid | None:
        device = self.devices.get(serial)
        return device if device is not None and device.phone.plugged else None


class _Connection:
    """One client connection: host requests, then (after a transport switch) one device service."""

    def __init__(self, server: FakeAdbServer, sock: socket.socket):
        self.server = server
        self.sock = sock

    # -- wire
    def read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise _Closed()
            data += chunk
        return data

    def request(self) -> str:
        length = self.read(4)
        try:
            size = int(length, 16)
        except ValueError:
            raise _Closed() from None
        text = self.read(size).decode("utf-8", "replace")
        self.server.services.append(text)
        return text

    def okay(self, data: bytes = b"") -> None:
        self.sock.sendall(OKAY + data)

    def fail(self, message: str) -> None:
        self.sock.sendall(FAIL + _block(message))

    def not_found(self, serial: str) -> None:
        self.fail(f"device '{serial}' not found")

    # -- host services
    def serve(self) -> None:
        request = self.request()
        device = self.host(request)
        if device is not None:
            self.device_service(device, self.request())

    def host(self, request: str) -> FakeAndroid | None:
        """Answer a host request; returns the device when the connection switched to its transport."""
        server = self.server
        if request == "host:version":
            self.okay(_block(f"{ADB_VERSION:04x}"))
        elif request in ("host:devices", "host:devices-l"):
            lines = []
            for device in list(server.devices.values()):
                if not device.phone.plugged:
                    continue
                line = f"{device.serial}\t{device.state}"
                if request.endswith("-l"):
                    product = device.phone.model.lower().replace(" ", "_")
                    line = (f"{device.serial:<22} {device.state} usb:1-{device.transport_id} product:{product} "
                            f"model:{device.phone.model.replace(' ', '_')} device:{product} "
                            f"transport_id:{device.transport_id}")
                lines.append(line + "\n")
            self.okay(_block("".join(lines)))
        elif request in ("host:features", "host:host-features"):
            self.okay(_block(FEATURES))
        elif request == "host:list-forward":
            self.okay(_block(""))  # this fake sets up no forwards (host-serial:S:forward is refused)
        elif request.startswith(("host:transport:", "host:tport:serial:")):
            serial = request.split(":", 2)[2] if request.startswith("host:transport:") else request.split(":", 3)[3]
            device = server.attached(serial)
            if device is None:
                self.not_found(serial)
                return None
            if device.state != "device":
                self.fail(UNREADY[device.state])
                return None
            self.okay(struct.pack("<Q", device.transport_id) if request.startswith("host:tport") else b"")
            return device
        elif request.startswith("host:transport-id:"):
            device = self.by_transport_id(request.rsplit(":", 1)[1])
            if device is not None:
                self.okay()
            return device
        elif request.startswith("host-serial:"):
            self.host_serial(request[len("host-serial:"):])
        elif request.startswith("host-transport-id:"):
            number, _, command = request[len("host-transport-id:"):].partition(":")
            device = self.by_transport_id(number)
            if device is not None:
                self.per_device(device, command)
        else:
            self.fail(f"fake adb server: the host service {request!r} is not implemented")
        return None

    def by_transport_id(self, number: str) -> FakeAndroid | None:
        for device in self.server.devices.values():
            if str(device.transport_id) == number and device.phone.plugged:
                return device
        self.fail(f"no device with transport id '{number}'")
        return None

    def host_serial(self, rest: str) -> None:
        for serial in sorted(self.server.devices, key=len, reverse=True):  # serials may hold ':' (ip:port)
            if rest.startswith(serial + ":"):
                device = self.server.attached(serial)
                if device is None:
                    self.not_found(serial)
                else:
                    self.per_device(device, rest[len(serial) + 1:])
                return
        self.not_found(rest.split(":", 1)[0])

    def per_device(self, device: FakeAndroid, command: str) -> None:
        if device.state != "device" and command != "get-state":
            self.fail(UNREADY[device.state])
            return
        answers = {"get-state": device.state, "get-serialno": device.serial, "get-devpath": f"usb:1-{device.transport_id}",
                   "features": FEATURES, "list-forward": ""}
        if command in answers:
            self.okay(_block(answers[command]))
        else:
            self.fail(f"fake adb server: host-serial:{device.serial}:{command.split(':', 1)[0]} is not implemented")

    # -- device services
    def device_service(self, device: FakeAndroid, service: str) -> None:
        if not device.phone.plugged:
            self.not_found(device.serial)
        elif service.startswith(("shell:", "exec:")):
            command = service.split(":", 1)[1]
            if not command:
                self.fail("fake adb server: an interactive shell is not implemented")
            else:
                self.shell_v1(device, command)
        elif service.startswith("shell,"):
            options, _, command = service.partition(":")
            if "v2" not in options.split(",") or not command:
                self.fail(f"fake adb server: the device service {options!r} is not implemented (shell,v2:CMD only)")
            else:
                self.shell_v2(device, command)
        elif service == "sync:":
            self.okay()
            _Sync(self, device).serve()
        elif service.startswith("tcp:"):
            self.tcp(device, service[4:])
        elif service.startswith("reverse:"):
            self.reverse(device, service[len("reverse:"):])
        elif service == "root:":
            self.okay()
            if device.root:
                self.sock.sendall(b"adbd is already running as root\n")
            elif not device.debuggable:
                self.sock.sendall(b"adbd cannot run as root in production builds\n")
            else:
                device.root = True
                self.sock.sendall(b"restarting adbd as root\n")
        elif service == "remount:":
            self.okay()
            if not device.root:
                self.sock.sendall(b'Not running as root. Try "adb root" first.\n')
            else:
                device.system_rw = True
                self.sock.sendall(b"Remounted /system as RW\nRemount succeeded\n")
        else:
            self.fail(f"fake adb server: the device service {service.split(':', 1)[0]!r} is not implemented")

    def run_shell(self, device: FakeAndroid, command: str):
        try:
            return device.shell.run(command)
        except Unplugged:
            raise _Closed() from None

    def shell_v1(self, device: FakeAndroid, command: str) -> None:
        result = self.run_shell(device, command)
        if isinstance(result, UiServerLaunch):
            self.okay()
            self.ui_server(device, result)
            return
        self.okay(result.both)  # a v1 shell has one stream, and no exit code: adbutils echoes $? to learn it

    def shell_v2(self, device: FakeAndroid, command: str) -> None:
        result = self.run_shell(device, command)
        if isinstance(result, UiServerLaunch):
            self.fail("fake adb server: the uiautomator2 server is launched over shell: (v1) only")
            return
        packets = b""
        for kind, data in ((1, result.stdout), (2, result.stderr)):
            if data:
                packets += bytes([kind]) + struct.pack("<I", len(data)) + data
        self.okay(packets + bytes([3]) + struct.pack("<I", 1) + bytes([result.status & 0xFF]))

    def ui_server(self, device: FakeAndroid, launch: UiServerLaunch) -> None:
        """The uiautomator2 server runs for as long as this shell is open, as app_process does under adb shell."""
        if not device.phone.files.get(launch.classpath, b"").startswith(b"PK"):
            self.sock.sendall(f'Exception in thread "main" java.lang.ClassNotFoundException: {UI_SERVER_MAIN}\n'.encode())
            return
        stop = threading.Event()
        with device.lock:
            if launch.port in device.ui_servers:
                self.sock.sendall(b"java.net.BindException: Address already in use\n")
                return
            device.ui_servers[launch.port] = stop
            device.ui_launches += 1
        try:
            self.sock.sendall(b"[server] INFO: [UiAutomator2Server] Starting Server\n")
            self.sock.settimeout(0.1)
            while not stop.is_set() and device.phone.plugged and not self.server._stopping.is_set():
                try:
                    if not self.sock.recv(1024):
                        break  # the client closed the shell: app_process gets SIGHUP
                except socket.timeout:
                    continue
        finally:
            with device.lock:
                if device.ui_servers.get(launch.port) is stop:
                    del device.ui_servers[launch.port]

    def tcp(self, device: FakeAndroid, port: str) -> None:
        if not port.isdigit():
            self.fail(f"fake adb server: tcp:{port} is not a port")
        elif not device.ui_running(int(port)):
            self.fail("closed")  # what adb answers when nothing listens on the device port
        else:
            self.okay()
            self.sock.settimeout(30)
            _UiServerHandler(self.sock, ("adb", int(port)), device)

    def reverse(self, device: FakeAndroid, command: str) -> None:
        phone = device.phone
        if command == "list-forward":
            with phone.lock:
                lines = "".join(f"UsbFfs tcp:{remote} tcp:{local}\n" for remote, local in phone.reversed_ports.items())
            self.okay(_block(lines))
        elif command == "killforward-all":
            with phone.lock:
                phone.reversed_ports.clear()
            self.okay(OKAY)
        elif command.startswith("killforward:"):
            port = _tcp_port(command[len("killforward:"):])
            with phone.lock:
                found = phone.reversed_ports.pop(port, None) if port is not None else None
            if found is None:
                self.okay(FAIL + _block(f"listener '{command[len('killforward:'):]}' not found"))
            else:
                self.okay(OKAY)
        elif command.startswith("forward:"):
            spec = command[len("forward:"):]
            norebind = spec.startswith("norebind:")
            remote, _, local = spec.removeprefix("norebind:").partition(";")
            remote_port, local_port = _tcp_port(remote), _tcp_port(local)
            if not remote_port or not local_port:
                self.fail(f"fake adb server: reverse {spec!r} is not implemented (tcp:PORT;tcp:PORT only)")
                return
            with phone.lock:
                if norebind and remote_port in phone.reversed_ports:
                    self.okay(FAIL + _block("cannot rebind existing socket"))
                    return
                phone.reversed_ports[remote_port] = local_port
            self.okay(OKAY)
        else:
            self.fail(f"fake adb server: reverse:{command.split(':', 1)[0]} is not implemented")


def _tcp_port(spec: str) -> int | None:
    if spec.startswith("tcp:") and spec[4:].isdigit() and 0 < int(spec[4:]) < 65536:
        return int(spec[4:])
    return None


class _Sync:
    """adb's file sync protocol: 8-byte requests (id, little-endian length) then the path; answers as adbd's."""

    def __init__(self, connection: _Connection, device: FakeAndroid):
        self.connection = connection
        self.device = device
        self.sock = connection.sock

    def serve(self) -> None:
        while True:
            try:
                header = self.connection.read(8)
            except _Closed:
                return
            command, length = header[:4], struct.unpack("<I", header[4:])[0]
            if command == b"QUIT":
                return
            path = self.connection.read(length).decode("utf-8", "replace")
            if not self.device.phone.plugged:
                return
            handler = {b"STAT": self.stat, b"LIST": self.list, b"SEND": self.send, b"RECV": self.recv}.get(command)
            if handler is None:
                self.fail(f"fake adb sync: {command.decode(errors='replace')!r} is not implemented")
                return
            handler(path)

    def fail(self, message: str) -> None:
        data = message.encode()
        self.sock.sendall(b"FAIL" + struct.pack("<I", len(data)) + data)

    def _stat(self, path: str) -> tuple[int, int, int]:
        files = self.device.phone.files
        if path in files:
            return 0o100000 | self.device.modes.get(path, 0o644), len(files[path]), 1_700_000_000
        if self.device.is_dir(path):
            return 0o040000 | 0o771, 4096, 1_700_000_000
        return 0, 0, 0

    def stat(self, path: str) -> None:
        self.sock.sendall(b"STAT" + struct.pack("<III", *self._stat(path)))

    def list(self, path: str) -> None:
        out = b""
        if self.device.is_dir(path):
            for name in sorted(self.device.listing(path)):
                full = path.rstrip("/") + "/" + name
                mode, size, mtime = self._stat(full)
                out += b"DENT" + struct.pack("<IIII", mode, size, mtime, len(name.encode())) + name.encode()
        self.sock.sendall(out + b"DONE" + b"\0" * 16)

    def send(self, spec: str) -> None:
        path, _, mode = spec.rpartition(",")
        if not path or not mode.isdigit():
            path, mode = spec, str(0o100644)
        data = b""
        while True:
            header = self.connection.read(8)
            kind, size = header[:4], struct.unpack("<I", header[4:])[0]
            if kind == b"DATA":
                data += self.connection.read(size)
            elif kind == b"DONE":
                break
            else:
                self.fail(f"fake adb sync: {kind!r} inside SEND is not implemented")
                return
        problem = self.device.write_problem(path, self.device.root)
        if problem:
            self.fail(f"couldn't create file: {problem}")
            return
        self.device.write_file(path, data)
        self.device.modes[path] = int(mode) & 0o7777
        self.sock.sendall(b"OKAY" + struct.pack("<I", 0))

    def recv(self, path: str) -> None:
        data = self.device.phone.files.get(path)
        if data is None:
            self.fail("No such file or directory")
            return
        out = b""
        for start in range(0, len(data), 64 * 1024):
            chunk = data[start:start + 64 * 1024]
            out += b"DATA" + struct.pack("<I", len(chunk)) + chunk
        self.sock.sendall(out + b"DONE" + struct.pack("<I", 0))
