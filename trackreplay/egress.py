"""The one way the platform makes HTTP requests on a user's behalf (live API checks today, webhooks next).

A user chooses the URL, so the URL must not reach what only the platform can reach: the platform's own
loopback services, the private network it sits in, or a cloud metadata endpoint. The guard:

- accepts only http and https URLs;
- resolves the host name once and checks every address it resolves to (a name with one private address
  among public ones is refused), IPv4-mapped, NAT64, 6to4 and Teredo IPv6 forms checked as the IPv4
  address inside them;
- connects to the very address it checked (no second lookup, so DNS rebinding cannot swap the target in
  between), while the Host header, TLS SNI and certificate check keep using the name;
- follows no redirects (a 3xx comes back as it is), uses short connect and read timeouts and an overall
  deadline, and stops reading an answer past a byte limit;
- logs every request with its outcome.

Loopback, private, link-local, unique-local and other non-global addresses are allowed only when the caller
says so (a project's `allow_private_targets`); cloud metadata, multicast and unspecified addresses never are.
No Django import: callers pass an EgressPolicy (`policy_from_settings` builds one from Django settings).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

log = logging.getLogger(__name__)

SCHEMES = {"http": 80, "https": 443}

# Instance metadata services answer credentials to anyone who asks from inside the cloud: never a target,
# whatever the project allows. AWS/GCP/Azure/OpenStack (and AWS's IPv6 form), AWS ECS task metadata,
# Alibaba Cloud.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200"))
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Reason:
    """Why a request was not made or its answer not used; stable codes for callers, logs and reports."""

    SCHEME = "scheme"  # not http or https
    BAD_URL = "bad_url"  # no host, bad port
    UNRESOLVABLE = "unresolvable"  # DNS gave nothing
    ADDRESS = "refused_address"  # the name resolves to an address the policy refuses
    TIMEOUT = "timeout"  # connect, read or the overall deadline
    TOO_LARGE = "too_large"  # the answer is longer than the limit
    CONNECTION = "connection_failed"  # refused, reset, TLS failure, not HTTP


class EgressError(Exception):
    """The request was refused by the guard or failed; `reason` is one of Reason's codes."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class EgressPolicy:
    allow_private: bool = False
    verify_tls: bool = True
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    deadline: float = 30.0  # the whole request, however slowly the answer trickles in
    max_bytes: int = 5 * 1024 * 1024


@dataclass
class EgressResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    address: str  # the IP address the request went to
    elapsed_ms: int = 0
    reason: str = field(default="")

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((value for key, value in self.headers if key.lower() == name), None)

    @property
    def is_redirect(self) -> bool:
        return 300 <= self.status < 400 and self.header("location") is not None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if it is one of the forms that reach IPv4 hosts."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if int(ip) >> 32 == 0 and int(ip) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip))
    return None


def refusal(address: str, *, allow_private: bool) -> str | None:
    """Why the policy refuses this IP address (a phrase), or None when it may be connected to."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # a link-local zone ("fe80::1%eth0") changes nothing
    if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_ipv4(ip)) is not None:
        why = refusal(str(inner), allow_private=allow_private)
        return f"{why} (as {ip})" if why else None
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if allow_private:
        return None
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if isinstance(ip, ipaddress.IPv6Address) and ip in _UNIQUE_LOCAL:
        return "a unique-local address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "not a public address"
    return None


def resolve(host: str, port: int, *, allow_private: bool) -> list[str]:
    """Every address the host resolves to, in the resolver's order, once; EgressError if any is refused."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise EgressError(Reason.UNRESOLVABLE, f"{host} does not resolve: {exc}") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise EgressError(Reason.UNRESOLVABLE, f"{host} does not resolve")
    for address in addresses:
        why = refusal(address, allow_private=allow_private)
        if why:
            where = address if address == host else f"{host} resolves to {address}"
            hint = "" if allow_private or why == "a cloud metadata address" else \
                " (a project may allow private targets in its settings)"
            raise EgressError(Reason.ADDRESS, f"refused: {where}, {why}{hint}")
    return addresses


def _host_header(host: str, port: int, scheme: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if SCHEMES[scheme] == port else f"{shown}:{port}"


class _Deadline:
    """Shuts the request's sockets down when the whole request has taken too long. The read timeout bounds each
    wait for bytes; this bounds their sum, headers included, against a server that sends one byte at a time."""

    def __init__(self, seconds: float):
        self.expired = False
        self._sockets: list = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(seconds, 0), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                self._shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                self._shut(sock)

    @staticmethod
    def _shut(sock) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed

    def cancel(self) -> None:
        self._timer.cancel()


def _pool(scheme: str, address: str, port: int, host: str, policy: EgressPolicy, deadline: _Deadline):
    timeout = urllib3.Timeout(connect=policy.connect_timeout, read=policy.read_timeout)
    if scheme == "http":
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False, maxsize=1)
    else:
        context = ssl.create_default_context()
        if not policy.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        # Connect to the checked address; SNI and the certificate's name check use the host name.
        pool = urllib3.HTTPSConnectionPool(
            address, port, timeout=timeout, retries=False, maxsize=1, ssl_context=context,
            cert_reqs=ssl.CERT_REQUIRED if policy.verify_tls else ssl.CERT_NONE,
            assert_hostname=host if policy.verify_tls else False, server_hostname=host)

    class Watched(pool.ConnectionCls):
        def connect(self):
            super().connect()
            deadline.watch(self.sock)

    pool.ConnectionCls = Watched
    return pool


def _read_bounded(response, policy: EgressPolicy, started: float) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > policy.max_bytes:
        raise EgressError(Reason.TOO_LARGE, f"the answer is {declared} bytes, over the limit of {policy.max_bytes} "
                                            f"(TRACKREPLAY_EGRESS_MAX_BYTES)")
    chunks, total = [], 0
    # read1: whatever has arrived (decoded, at most 16 KiB), so the deadline is checked however slowly bytes come.
    while chunk := response.read1(16384, decode_content=True):
        total += len(chunk)
        if total > policy.max_bytes:
            raise EgressError(Reason.TOO_LARGE, f"the answer is longer than the limit of {policy.max_bytes} bytes "
                                                f"(TRACKREPLAY_EGRESS_MAX_BYTES); stopped reading")
        if time.monotonic() - started > policy.deadline:
            raise EgressError(Reason.TIMEOUT, f"the answer took longer than {policy.deadline:g} s "
                                              f"(TRACKREPLAY_EGRESS_DEADLINE)")
        chunks.append(chunk)
    return b"".join(chunks)


def request(method: str, url: str, *, policy: EgressPolicy, headers=(), body: bytes | None = None) -> EgressResponse:
    """Make one guarded request and read its whole (bounded) answer. Raises EgressError with a reason code."""
    started = time.monotonic()
    shown = _loggable(url)
    try:
        response = _request(method, url, policy=policy, headers=headers, body=body, started=started)
    except EgressError as exc:
        log.info("egress %s %s: %s (%s)", method, shown, exc.reason, exc)
        raise
    log.info("egress %s %s -> %s: %s, %d bytes in %d ms", method, shown, response.address, response.status,
             len(response.body), response.elapsed_ms)
    return response


def _loggable(url: str) -> str:
    """The URL without user info and query string, which may carry secrets (tokens, signatures)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        return f"{parts.scheme}://{netloc}{parts.path}" + ("?…" if parts.query else "")
    except ValueError:
        return "(unparsable URL)"


def _request(method, url, *, policy, headers, body, started) -> EgressResponse:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise EgressError(Reason.BAD_URL, f"{url!r} is not a usable URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise EgressError(Reason.SCHEME, f"only http and https URLs are allowed, not {scheme or 'no scheme'!r}")
    host = parts.hostname
    if not host:
        raise EgressError(Reason.BAD_URL, f"{url!r} names no host")
    port = port or SCHEMES[scheme]
    addresses = resolve(host, port, allow_private=policy.allow_private)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sent = [(k, v) for k, v in headers if k.lower() != "host"]
    sent.insert(0, ("Host", _host_header(host, port, scheme)))
    deadline = _Deadline(policy.deadline - (time.monotonic() - started))
    out_of_time = EgressError(Reason.TIMEOUT, f"no complete answer within {policy.deadline:g} s "
                                              f"(TRACKREPLAY_EGRESS_DEADLINE)")
    try:
        response = _send(method, target, body, sent, scheme, host, port, addresses, policy, started, deadline)
    except EgressError as exc:
        if deadline.expired and exc.reason != Reason.TOO_LARGE:
            raise out_of_time from None
        raise
    finally:
        deadline.cancel()
    if deadline.expired:  # the shut socket looked like the end of a (cut) answer
        raise out_of_time
    return response


def _send(method, target, body, sent, scheme, host, port, addresses, policy, started, deadline) -> EgressResponse:
    failures = []
    for address in addresses:  # the checked addresses only, in the resolver's order
        if deadline.expired:
            break
        pool = _pool(scheme, address, port, host, policy, deadline)
        try:
            raw = pool.urlopen(method, target, body=body, headers=urllib3.HTTPHeaderDict(sent), redirect=False,
                               retries=False, preload_content=False, decode_content=True, assert_same_host=False)
        except ConnectTimeoutError:
            failures.append(f"{address}: no connection within {policy.connect_timeout:g} s")
            continue
        except NewConnectionError as exc:
            failures.append(f"{address}: {exc.__cause__ or exc}")
            continue
        except ReadTimeoutError:
            pool.close()
            raise EgressError(Reason.TIMEOUT, f"{address} sent no answer within {policy.read_timeout:g} s") from None
        except (SSLError, ProtocolError, HTTPError, OSError) as exc:
            pool.close()
            raise EgressError(Reason.CONNECTION, f"{address}: {exc}") from None
        try:
            data = _read_bounded(raw, policy, started)
        except ReadTimeoutError:
            raise EgressError(Reason.TIMEOUT, f"{address} stopped sending within {policy.read_timeout:g} s") from None
        except (ProtocolError, HTTPError, OSError) as exc:
            raise EgressError(Reason.CONNECTION, f"{address}: the answer broke off: {exc}") from None
        finally:
            raw.release_conn()
            pool.close()
        return EgressResponse(status=raw.status, headers=list(raw.headers.items()), body=data, address=address,
                              elapsed_ms=int((time.monotonic() - started) * 1000))
    timed_out = deadline.expired or all("no connection within" in f for f in failures)
    raise EgressError(Reason.TIMEOUT if timed_out else Reason.CONNECTION,
                      f"could not connect to {host}: " + "; ".join(failures or ["out of time"]))


def policy_from_settings(*, allow_private: bool = False, verify_tls: bool = True) -> EgressPolicy:
    """The deployment's limits (TRACKREPLAY_EGRESS_* settings) with a project's choices."""
    from django.conf import settings

    return EgressPolicy(allow_private=allow_private, verify_tls=verify_tls,
                        connect_timeout=settings.TRACKREPLAY_EGRESS_CONNECT_TIMEOUT,
                        read_timeout=settings.TRACKREPLAY_EGRESS_READ_TIMEOUT,
                        deadline=settings.TRACKREPLAY_EGRESS_DEADLINE,
                        max_bytes=settings.TRACKREPLAY_EGRESS_MAX_BYTES)


def policy_for_project(project) -> EgressPolicy:
    """The policy for requests made for a project: its private-targets and TLS choices, the deployment's limits.
    Live checks use it; webhooks (notifications) are to use it too."""
    return policy_from_settings(allow_private=project.allow_private_targets, verify_tls=project.verify_upstream_tls)
