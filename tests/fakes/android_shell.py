"""The shell of the fake Android device (tests/fakes/adb_server.py): `adb shell` command lines run against a
FakePhone, answering the way Android's toybox and framework commands answer.

What a client may ask falls in three kinds, kept apart on purpose:
- commands this shell does (getprop, wm size, dumpsys battery/window/display/activity, settings, am start and
  force-stop, monkey, pm clear/list/path, pidof, ps, input, screencap, logcat -d, md5sum, date, id, su, sh -c,
  mount, cp, chmod, ls, cat, rm, mkdir, echo, ime list, the uiautomator2 server launch) answer as on a phone;
- command names no phone has answer as a real shell does: "/system/bin/sh: X: not found", exit 127;
- options and sub-commands of real commands that this fake does not model answer "fake adb shell: ... is not
  implemented" on stderr with exit 1, never something plausible: a test must not pass on an invented answer.

Command lines are split with shlex into commands joined by `;`, `&&` and `||` (adbutils appends
`; echo X4EXIT:$?` to learn the exit code); `$?` is the last exit code; NAME=value prefixes set variables."""

from __future__ import annotations

import hashlib
import re
import shlex
import threading
import time
from dataclasses import dataclass
from datetime import datetime

SDK_OF_RELEASE = {"15": 35, "14": 34, "13": 33, "12": 31, "11": 30, "10": 29, "9": 28, "8.1": 27, "8.0": 26}
KEYCODES = {"3": "home", "HOME": "home", "KEYCODE_HOME": "home", "4": "back", "BACK": "back", "KEYCODE_BACK": "back"}
CERT_INSTALLER = "com.android.certinstaller"
BROWSER = "com.android.chrome"
UI_SERVER_MAIN = "com.wetest.uia2.Main"
SYSTEM_CACERTS = "/system/etc/security/cacerts/"
IME = "com.google.android.inputmethod.latin/com.android.inputmethod.latin.LatinIME"
DIRECTORIES = {"/", "/data", "/data/local", "/data/local/tmp", "/sdcard", "/sdcard/Download", "/system",
               "/system/etc", "/system/etc/security", "/system/etc/security/cacerts"}


@dataclass
class UiServerLaunch:
    """`CLASSPATH=... app_process / com.wetest.uia2.Main -p PORT`: the adb server keeps the shell open while
    the uiautomator2 server runs (tests/fakes/adb_server.py streams it)."""

    classpath: str
    port: int


@dataclass
class Output:
    """A command line's output: each stream, and both interleaved as a terminal (or a v1 adb shell) shows them."""

    stdout: bytes
    stderr: bytes
    both: bytes
    status: int


class NotImplementedInFake(Exception):
    """A real command's option this fake does not model: answered loudly (exit 1), never guessed."""


Result = tuple[bytes, bytes, int]  # stdout, stderr, exit code


def _ok(text: str | bytes = "") -> Result:
    return (text.encode() if isinstance(text, str) else text), b"", 0


def _err(text: str, code: int = 1) -> Result:
    return b"", text.encode(), code


class Shell:
    """One device's shell. `device` is the FakeAndroid of tests/fakes/adb_server.py (the phone and adbd state)."""

    def __init__(self, device):
        self.device = device

    @property
    def phone(self):
        return self.device.phone

    # -- the command line ------------------------------------------------------------------------------------------
    def run(self, line: str, *, root: bool | None = None) -> Output | UiServerLaunch:
        root = self.device.root if root is None else root
        try:
            commands = _split(line)
        except ValueError as exc:
            message = f"/system/bin/sh: syntax error: {exc}\n".encode()
            return Output(b"", message, message, 2)
        out, err, both, status = b"", b"", b"", 0
        for connector, words in commands:
            if (connector == "&&" and status != 0) or (connector == "||" and status == 0):
                continue
            words = [word.replace("$?", str(status)) for word in words]
            env = {}
            while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
                name, _, value = words.pop(0).partition("=")
                env[name] = value
            if not words:
                continue
            try:
                result = self.command(words, env, root)
            except NotImplementedInFake as exc:
                result = _err(f"fake adb shell: {exc} is not implemented\n")
            if isinstance(result, UiServerLaunch):
                if len(commands) != 1:
                    return _err("fake adb shell: the uiautomator2 server launch must be the whole command line\n")
                return result
            out, err, both, status = out + result[0], err + result[1], both + result[0] + result[1], result[2]
        return Output(out, err, both, status)

    def command(self, words: list[str], env: dict, root: bool) -> Result | UiServerLaunch:
        name, args = words[0], words[1:]
        if name == "toybox" and args:
            name, args = args[0], args[1:]
        handler = getattr(self, f"cmd_{name.replace('-', '_')}", None) if re.fullmatch(r"[a-z][a-z0-9_-]*", name) else None
        if handler is None:
            return _err(f"/system/bin/sh: {name}: not found\n", 127)
        return handler(args, env=env, root=root)

    # -- plain shell ---------------------------------------------------------------------------------------------
    def cmd_echo(self, args, **_):
        return _ok(" ".join(args) + "\n")

    def cmd_true(self, args, **_):
        return _ok()

    def cmd_false(self, args, **_):
        return b"", b"", 1

    def cmd_sh(self, args, root, **_):
        if len(args) != 2 or args[0] != "-c":
            raise NotImplementedInFake(f"sh {' '.join(args)} (only sh -c 'LINE')")
        return self._nested(args[1], root)

    def _nested(self, line: str, root: bool) -> Result:
        result = self.run(line, root=root)
        if isinstance(result, UiServerLaunch):
            raise NotImplementedInFake("the uiautomator2 server launch inside sh -c or su")
        return result.stdout, result.stderr, result.status

    def cmd_id(self, args, root, **_):
        if root:
            return _ok("uid=0(root) gid=0(root) groups=0(root) context=u:r:su:s0\n")
        return _ok("uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input),1007(log) context=u:r:shell:s0\n")

    def cmd_su(self, args, root, **_):
        if not self.device.rooted:
            return _err("/system/bin/sh: su: not found\n", 127)
        if args[:1] in (["0"], ["root"]):
            args = args[1:]
        if args[:1] == ["-c"]:
            return self._nested(" ".join(args[1:]), True)
        if not args:
            raise NotImplementedInFake("an interactive su")
        return self.command(args, {}, True)

    def cmd_date(self, args, **_):
        if args == ["+%s"]:
            return _ok(f"{int(time.time())}\n")
        if args:
            raise NotImplementedInFake(f"date {' '.join(args)}")
        return _ok(datetime.now().strftime("%a %b %d %H:%M:%S UTC %Y\n"))

    # -- files -----------------------------------------------------------------------------------------------------
    def cmd_md5sum(self, args, **_):
        out, err, status = b"", b"", 0
        for path in args:
            data = self.phone.files.get(path)
            if data is None:
                err += f"md5sum: {path}: No such file or directory\n".encode()
                status = 1
            else:
                out += f"{hashlib.md5(data).hexdigest()}  {path}\n".encode()
        return out, err, status

    def cmd_cat(self, args, **_):
        out = b""
        for path in args:
            if path not in self.phone.files:
                return out, f"cat: {path}: No such file or directory\n".encode(), 1
            out += self.phone.files[path]
        return out, b"", 0

    def cmd_ls(self, args, **_):
        paths = [a for a in args if not a.startswith("-")] or ["/"]
        out = []
        for path in paths:
            path = path.rstrip("/") or "/"
            if path in self.phone.files:
                out.append(path)
            elif self.device.is_dir(path):
                out += sorted(self.device.listing(path))
            else:
                return _err(f"ls: {path}: No such file or directory\n")
        return _ok("".join(f"{line}\n" for line in out))

    def cmd_rm(self, args, root, **_):
        force = any(a.startswith("-") and "f" in a for a in args)
        for path in (a for a in args if not a.startswith("-")):
            if path not in self.phone.files:
                if force:
                    continue
                return _err(f"rm: {path}: No such file or directory\n")
            problem = self.device.write_problem(path, root)
            if problem:
                return _err(f"rm: {path}: {problem}\n")
            self.device.remove_file(path)
        return _ok()

    def cmd_mkdir(self, args, root, **_):
        for path in (a for a in args if not a.startswith("-")):
            problem = self.device.write_problem(path + "/x", root)
            if problem:
                return _err(f"mkdir: '{path}': {problem}\n")
            self.device.dirs.add(path.rstrip("/"))
        return _ok()

    def cmd_cp(self, args, root, **_):
        if len(args) != 2 or args[0].startswith("-"):
            raise NotImplementedInFake(f"cp {' '.join(args)} (only cp SRC DST)")
        source, target = args
        if source not in self.phone.files:
            return _err(f"cp: {source}: No such file or directory\n")
        if self.device.is_dir(target):
            target = target.rstrip("/") + "/" + source.rsplit("/", 1)[-1]
        problem = self.device.write_problem(target, root)
        if problem:
            return _err(f"cp: {target}: {problem}\n")
        self.device.write_file(target, self.phone.files[source])
        return _ok()

    def cmd_chmod(self, args, root, **_):
        if len(args) != 2 or not re.fullmatch(r"[0-7]{3,4}", args[0]):
            raise NotImplementedInFake(f"chmod {' '.join(args)} (only chmod OCTAL PATH)")
        path = args[1]
        if path not in self.phone.files:
            return _err(f"chmod: {path}: No such file or directory\n")
        problem = self.device.write_problem(path, root)
        if problem:
            return _err(f"chmod: {path}: {problem}\n")
        self.device.modes[path] = int(args[0], 8)
        return _ok()

    def cmd_mount(self, args, root, **_):
        if len(args) != 3 or args[0] != "-o" or args[1] not in ("rw,remount", "remount,rw") or args[2] not in ("/", "/system"):
            raise NotImplementedInFake(f"mount {' '.join(args)} (only mount -o rw,remount /system)")
        if not root:
            return _err(f"mount: '{args[2]}' not user mountable in fstab\n")
        self.device.system_rw = True
        return _ok()

    # -- properties and screen -------------------------------------------------------------------------------------
    def cmd_getprop(self, args, **_):
        props = self.device.props()
        if not args:
            return _ok("".join(f"[{key}]: [{value}]\n" for key, value in sorted(props.items())))
        return _ok(props.get(args[0], args[1] if len(args) > 1 else "") + "\n")

    def cmd_wm(self, args, **_):
        if args == ["size"]:
            return _ok(f"Physical size: {self.phone.width}x{self.phone.height}\n")
        if args == ["density"]:
            return _ok("Physical density: 420\n")
        raise NotImplementedInFake(f"wm {' '.join(args)}")

    def cmd_screencap(self, args, **_):
        if args != ["-p"]:
            raise NotImplementedInFake(f"screencap {' '.join(args)} (only screencap -p)")
        return _ok(self.phone.screenshot_png(scale=1.0))

    def cmd_dumpsys(self, args, **_):
        service, rest = (args[0], args[1:]) if args else ("", [])
        phone = self.phone
        if service == "battery" and not rest:
            return _ok("Current Battery Service state:\n  AC powered: false\n  USB powered: true\n"
                       "  Wireless powered: false\n  status: 2\n  health: 2\n  present: true\n"
                       f"  level: {phone.battery}\n  scale: 100\n  voltage: 4123\n  temperature: 285\n"
                       "  technology: Li-ion\n")
        if service == "window" and rest in ([], ["windows"]):
            return _ok(self._window_dump())
        if service == "display" and not rest:
            return _ok(f"  DisplayViewport{{type=INTERNAL, valid=true, isActive=true, displayId=0, orientation=0, "
                       f"deviceWidth={phone.width}, deviceHeight={phone.height}}}\n")
        if service == "activity" and rest in (["activities"], ["top"]):
            with phone.lock:
                package, pid = phone.foreground, phone.pids.get(phone.foreground or "")
            if package is None:
                return _ok("")
            activity = phone.apps[package].activity
            if rest == ["activities"]:
                return _ok(f"  mResumedActivity: ActivityRecord{{8d1f2a0 u0 {package}/{activity} t12}}\n")
            return _ok(f"TASK 12:{package} id=12\n  ACTIVITY {package}/{activity} 5e0c3b1 pid={pid}\n")
        raise NotImplementedInFake(f"dumpsys {' '.join(args)}")

    def _window_dump(self) -> str:
        phone = self.phone
        with phone.lock:
            dialog, package = phone.dialog, phone.foreground
        if dialog:
            title = "Application Not Responding" if dialog["kind"] == "anr" else "Application Error"
            return f"  mCurrentFocus=Window{{3c2a9e1 u0 {title}: {dialog['package']}}}\n"
        if package is None:
            return ("  mCurrentFocus=Window{1f0e2d3 u0 com.android.launcher3/com.android.launcher3.uioverride."
                    "QuickstepLauncher}\n")
        activity = phone.apps[package].activity
        return (f"  mCurrentFocus=Window{{7b3e5f2 u0 {package}/{activity}}}\n"
                f"  mFocusedApp=ActivityRecord{{8d1f2a0 u0 {package}/{activity} t12}}\n")

    # -- settings ------------------------------------------------------------------------------------------------
    def cmd_settings(self, args, **_):
        if len(args) < 2 or args[0] not in ("get", "put", "delete", "list") or args[1] not in ("global", "system", "secure"):
            raise NotImplementedInFake(f"settings {' '.join(args)}")
        verb, namespace, rest = args[0], args[1], args[2:]
        settings = self.phone.settings
        if verb == "list" and not rest:
            return _ok("".join(f"{key.split(':', 1)[1]}={value}\n" for key, value in sorted(settings.items())
                               if key.startswith(namespace + ":")))
        if verb == "get" and len(rest) == 1:
            return _ok(settings.get(f"{namespace}:{rest[0]}", "null") + "\n")
        if verb == "delete" and len(rest) == 1:
            existed = settings.pop(f"{namespace}:{rest[0]}", None) is not None
            if (namespace, rest[0]) == ("global", "http_proxy"):
                self.phone.proxy = None
            return _ok(f"Deleted {int(existed)} rows\n")
        if verb == "put" and len(rest) == 2:
            settings[f"{namespace}:{rest[0]}"] = rest[1]
            if (namespace, rest[0]) == ("global", "http_proxy"):
                self.phone.proxy = _proxy_value(rest[1])
            return _ok()
        raise NotImplementedInFake(f"settings {' '.join(args)}")

    # -- apps ----------------------------------------------------------------------------------------------------
    def cmd_am(self, args, **_):
        if args[:1] == ["start"]:
            return self._am_start(args[1:])
        if args[:1] == ["force-stop"] and len(args) == 2:
            if args[1] in self.phone.apps:
                self.phone.stop_app(args[1])
            return _ok()
        raise NotImplementedInFake(f"am {' '.join(args[:1])}")

    def _am_start(self, args) -> Result:
        intent = {"component": None, "action": None, "data": None, "type": None, "categories": []}
        stop_first = False
        words = list(args)
        while words:
            option = words.pop(0)
            if option in ("-W",):
                continue
            if option == "-S":
                stop_first = True
                continue
            if option in ("-n", "-a", "-d", "-t", "-c", "--user") and words:
                value = words.pop(0)
                key = {"-n": "component", "-a": "action", "-d": "data", "-t": "type"}.get(option)
                if option == "-c":
                    intent["categories"].append(value)
                elif key:
                    intent[key] = value
                continue
            raise NotImplementedInFake(f"am start option {option}")
        shown = " ".join(f"{short}={intent[key]}" for short, key in (("act", "action"), ("dat", "data"),
                                                                     ("typ", "type"), ("cmp", "component")) if intent[key])
        component = intent["component"]
        if component:
            package, _, activity = component.partition("/")
            if package == CERT_INSTALLER:
                self.device.intents.append(intent)
                return _ok(f"Starting: Intent {{ {shown} }}\n")
            app = self.phone.apps.get(package)
            if app is None or activity not in (app.activity, package + app.activity):
                return _err(f"Error type 3\nError: Activity class {{{component}}} does not exist.\n")
            if stop_first:
                self.phone.stop_app(package)
            self.phone.start_app(package)
            self.device.intents.append(intent)
            return _ok(f"Starting: Intent {{ {shown} }}\n")
        if intent["action"] == "android.intent.action.VIEW" and re.match(r"https?://", intent["data"] or ""):
            self.device.intents.append(intent)
            self.device.browse(intent["data"])
            return _ok(f"Starting: Intent {{ {shown} }}\n")
        if intent["action"] and intent["action"].startswith("android.settings."):
            self.device.intents.append(intent)
            return _ok(f"Starting: Intent {{ {shown} }}\n")
        return _err(f"Error: Activity not started, unable to resolve Intent {{ {shown} }}\n")

    def cmd_monkey(self, args, **_):
        if len(args) != 5 or args[0] != "-p" or args[2] != "-c" or args[4] != "1":
            raise NotImplementedInFake(f"monkey {' '.join(args)} (only monkey -p PKG -c CATEGORY 1)")
        package = args[1]
        if package not in self.phone.apps or args[3] != "android.intent.category.LAUNCHER":
            return _err("** No activities found to run, monkey aborted.\n", 252)
        self.phone.start_app(package)
        return _ok("  bash arg: -p\n  bash arg: " + package + "\nEvents injected: 1\n## Network stats: elapsed time=12ms\n")

    def cmd_pm(self, args, **_):
        apps = self.phone.apps
        if args[:1] == ["clear"] and len(args) == 2:
            if args[1] not in apps:
                return _err(f"Error: java.lang.IllegalArgumentException: Unknown package: {args[1]}\n")
            self.phone.clear_app(args[1])
            return _ok("Success\n")
        if args[:2] == ["list", "packages"] and args[2:] in ([], ["-3"]):
            system = [] if args[2:] else ["android", "com.android.settings", BROWSER, CERT_INSTALLER]
            return _ok("".join(f"package:{name}\n" for name in sorted([*system, *apps])))
        if args[:1] == ["path"] and len(args) == 2:
            if args[1] not in apps:
                return b"", b"", 1
            return _ok(f"package:/data/app/~~k3Yw==/{args[1]}-1/base.apk\n")
        raise NotImplementedInFake(f"pm {' '.join(args[:2])}")

    def cmd_pidof(self, args, **_):
        with self.phone.lock:
            pids = [str(self.phone.pids[name]) for name in args if name in self.phone.pids]
        return (" ".join(pids) + "\n").encode() if pids else b"", b"", 0 if pids else 1

    def cmd_ps(self, args, **_):
        if args not in ([], ["-A"]):
            raise NotImplementedInFake(f"ps {' '.join(args)}")
        with self.phone.lock:
            running = dict(self.phone.pids)
        lines = ["USER           PID  PPID     VSZ    RSS WCHAN            ADDR S NAME",
                 "root             1     0 10904960  5124 do_epoll_wait       0 S init",
                 "shell         3021   812 10944000  3400 __arm64_sys_ppoll   0 S sh"]
        lines += [f"u0_a123       {pid:>5}   812 16012344 145120 do_epoll_wait       0 S {package}"
                  for package, pid in sorted(running.items(), key=lambda item: item[1])]
        return _ok("\n".join(lines) + "\n")

    def cmd_ime(self, args, **_):
        if args[:1] == ["list"] and set(args[1:]) <= {"-s", "-a"}:
            return _ok(IME + "\n")
        raise NotImplementedInFake(f"ime {' '.join(args)}")

    def cmd_input(self, args, **_):
        phone = self.phone
        if args[:1] == ["keyevent"] and len(args) == 2:
            key = KEYCODES.get(args[1])
            if key is None:
                raise NotImplementedInFake(f"input keyevent {args[1]}")
            phone.back() if key == "back" else phone.home()
            return _ok()
        numbers = [float(a) for a in args[1:] if re.fullmatch(r"-?\d+(\.\d+)?", a)]
        if args[:1] == ["tap"] and len(args) == 3 and len(numbers) == 2:
            phone.tap(*numbers)
            return _ok()
        if args[:1] == ["swipe"] and len(args) in (5, 6) and len(numbers) == len(args) - 1:
            phone.swipe(*numbers[:4], seconds=(numbers[4] / 1000 if len(numbers) == 5 else 0.3))
            return _ok()
        if args[:1] == ["text"] and len(args) == 2:
            phone.type_text(args[1].replace("%s", " "))
            return _ok()
        raise NotImplementedInFake(f"input {' '.join(args)}")

    # -- logs ----------------------------------------------------------------------------------------------------
    def cmd_logcat(self, args, **_):
        dump = clear = False
        formats: list[str] = []
        since_ms = None
        tail = None
        words = list(args)
        while words:
            option = words.pop(0)
            if option == "-d":
                dump = True
            elif option in ("-c", "--clear"):
                clear = True
            elif option == "-v" and words:
                formats += words.pop(0).split(",")
            elif option == "-T" and words:
                value = words.pop(0)
                if not re.fullmatch(r"\d+(\.\d+)?", value):
                    raise NotImplementedInFake(f"logcat -T {value!r} (only epoch seconds, sssss.mmm)")
                since_ms = round(float(value) * 1000)
            elif option == "-t" and words and words[0].isdigit():
                tail, dump = int(words.pop(0)), True
            else:
                raise NotImplementedInFake(f"logcat option {option}")
        if clear:
            with self.phone.lock:
                self.phone.logs.clear()
            return _ok()
        if not dump:
            raise NotImplementedInFake("logcat without -d (a streaming logcat)")
        if not set(formats) <= {"threadtime", "epoch"}:
            raise NotImplementedInFake(f"logcat -v {','.join(formats)} (only threadtime and epoch)")
        with self.phone.lock:
            entries = [entry for entry in self.phone.logs if since_ms is None or entry["at"] >= since_ms]
        if tail is not None:
            entries = entries[-tail:]
        epoch = "epoch" in formats
        lines = ["--------- beginning of main"]
        for entry in entries:
            at = entry["at"]
            stamp = (f"{at // 1000:>10}.{at % 1000:03d}" if epoch
                     else datetime.fromtimestamp(at / 1000).strftime("%m-%d %H:%M:%S.") + f"{at % 1000:03d}")
            for text in entry["text"].split("\n"):
                lines.append(f"{stamp} {entry['pid']:>5} {entry['pid']:>5} {entry['level']} {entry['tag']:<8}: {text}")
        return _ok("\n".join(lines) + "\n")

    # -- the uiautomator2 server -----------------------------------------------------------------------------------
    def cmd_app_process(self, args, env, **_):
        if len(args) != 4 or args[0] != "/" or args[1] != UI_SERVER_MAIN or args[2] != "-p" or not args[3].isdigit():
            raise NotImplementedInFake(f"app_process {' '.join(args)} (only the uiautomator2 server: "
                                       f"app_process / {UI_SERVER_MAIN} -p PORT)")
        return UiServerLaunch(env.get("CLASSPATH", ""), int(args[3]))


def _split(line: str) -> list[tuple[str | None, list[str]]]:
    """[(connector before it, words)] for a command line; pipes and background jobs are not modelled."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    commands: list[tuple[str | None, list[str]]] = []
    connector, words = None, []
    for token in lexer:
        if token in (";", "&&", "||"):
            commands.append((connector, words))
            connector, words = token, []
        elif token and set(token) <= set(";&|"):
            raise ValueError(f"{token!r} (pipes and background jobs are not implemented by the fake shell)")
        else:
            words.append(token)
    commands.append((connector, words))
    return [(c, w) for c, w in commands if w]


def _proxy_value(value: str) -> tuple[str, int] | None:
    """What Android makes of the http_proxy setting: host:port; ':0' (or a port of 0) means no proxy."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or int(port) == 0:
        return None
    return host, int(port)


def run_in_background(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True, name="fake-android-browser")
    thread.start()
    return thread
