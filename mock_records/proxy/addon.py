"""The trackreplay mitmproxy addon, loaded by mitmdump (`mitmdump -s addon.py`) in its own process.

Modes:
- record: forward upstream and keep every exchange (bodies as on the wire, timings) in a HAR file;
- replay: answer from a HAR file through the matcher (global mocks first), never going upstream for a
  matched request; unmatched ones follow the policy (passthrough, 404, 502) and are listed as misses with
  the closest recorded candidate and why;
- capture: pass everything through, keep only the tracking events.
In every mode a request to a tracking endpoint is answered locally with the SDK's usual success answer
(unless forwarding is asked for) and its events are appended, tagged with the current UI step, to a JSON
Lines file as they arrive, so a crashed run keeps what it captured. The current step is set by a request
to http://trackreplay.control/step/<n> through the proxy. A phone proves it uses the proxy (and, over HTTPS,
trusts its CA) by opening http(s)://trackreplay.control/probe/<nonce>; the agent asks /probe-seen/<nonce>.
A client that refuses the proxy's certificate (an app that does not trust it) is listed in tls_failures.

Exchanges are appended to `<out>.partial.jsonl` as they complete and the HAR is written when mitmproxy
stops; stats (served, misses) go to a JSON file after every change."""

from __future__ import annotations

import json
import os
import re
import time
from email.utils import formatdate
from pathlib import Path

from mitmproxy import ctx, http

from mock_records.flows import exchange_from_flow
from mock_records.har import ExchangeData, read_har, write_har
from mock_records.matching import IgnoreRules, Matcher, Recorded, Request, request_of
from mock_records.proxy.uplink import Uplink
from mock_records.resolution import CannedAnswer, Resolver
from mock_records.scope import MockScope
from sdk_bridge.limits import DecodeError
from sdk_bridge.registry import SUCCESS_ANSWERS, decode_request, find_decoder
from sdk_bridge.wire import TrackingRequest

CONTROL_HOST = "trackreplay.control"
_NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")
MAX_PROBES = 100
MAX_TLS_FAILURES = 200
REFRESHED_HEADERS = ("date",)


def _incoming(flow: http.HTTPFlow) -> Request:
    request = flow.request
    path, _, query = request.path.partition("?")
    return Request(request.method, request.scheme, request.pretty_host, request.port, path or "/", query,
                   list(request.headers.items(multi=True)), request.raw_content or b"")


class TrackReplay:
    def __init__(self) -> None:
        self.exchanges: list[ExchangeData] = []
        self.resolver: Resolver | None = None
        self.step: int | None = None
        self._stats_written = 0.0
        self.uplink: Uplink | None = None
        self.scope = MockScope("all")
        self.stats = {"mode": "", "scope": "all", "served": 0, "global": 0, "misses": [], "tracking_requests": 0,
                      "events": 0, "decode_errors": [], "recorded": 0, "passed_through": 0,
                      "passed_through_urls": [], "tls_failures": []}
        self.probes: dict[str, str] = {}  # nonce -> the scheme it came over

    def load(self, loader) -> None:
        loader.add_option("trackreplay_mode", str, "capture", "record, replay or capture")
        loader.add_option("trackreplay_har", str, "", "HAR file to replay from")
        loader.add_option("trackreplay_global", str, "", "JSON file of global mocks")
        loader.add_option("trackreplay_ignore", str, "", "JSON ignore rules for matching")
        loader.add_option("trackreplay_unmatched", str, "404", "passthrough, 404 or 502")
        loader.add_option("trackreplay_repeat", str, "last", "last, cycle or once")
        loader.add_option("trackreplay_out", str, "", "HAR file the recorded exchanges are written to")
        loader.add_option("trackreplay_events", str, "", "JSON Lines file the tracking events are appended to")
        loader.add_option("trackreplay_stats", str, "", "JSON file with what the proxy served and missed")
        loader.add_option("trackreplay_forward_tracking", bool, False, "also forward tracking requests upstream")
        loader.add_option("trackreplay_platform", str, "", "platform URL to send events and the report to")
        loader.add_option("trackreplay_run_token", str, "", "the run's token (trr_...) for the platform")
        loader.add_option("trackreplay_scope", str, "all", "what is recorded and replayed: all, api, or "
                          "comma-separated host and path patterns (tracking requests are always taken)")

    def configure(self, updated) -> None:
        options = ctx.options
        self.stats["mode"] = options.trackreplay_mode
        if "trackreplay_scope" in updated:
            self.scope = MockScope.parse(options.trackreplay_scope)
            self.stats["scope"] = str(self.scope)
        if options.trackreplay_platform and options.trackreplay_run_token and self.uplink is None:
            self.uplink = Uplink(options.trackreplay_platform, options.trackreplay_run_token)
        if options.trackreplay_mode == "replay" and ({"trackreplay_har", "trackreplay_mode", "trackreplay_global",
                                                      "trackreplay_ignore"} & set(updated)):
            har = Path(options.trackreplay_har)
            exchanges = read_har(har.read_bytes(), str(har)) if options.trackreplay_har else []
            self.recorded = exchanges
            ignore = IgnoreRules.from_dict(json.loads(options.trackreplay_ignore)) if options.trackreplay_ignore else None
            matcher = Matcher([Recorded(index, request_of(e)) for index, e in enumerate(exchanges)], ignore,
                              repeat=options.trackreplay_repeat)
            mocks = []
            if options.trackreplay_global:
                for item in json.loads(Path(options.trackreplay_global).read_text()):
                    mocks.append(CannedAnswer(item.get("id"), item["path"], item.get("host", "*"),
                                              item.get("method", ""), item.get("status_code", 200),
                                              item.get("headers", []), item.get("body", "").encode()))
            self.resolver = Resolver(mocks, matcher, options.trackreplay_unmatched)
            ctx.log.info(f"trackreplay: replaying {len(exchanges)} exchanges from {har}")
        self._write_stats()

    # -- requests -------------------------------------------------------------------------------------

    def request(self, flow: http.HTTPFlow) -> None:
        request = flow.request
        if request.pretty_host == CONTROL_HOST:
            self._control(flow)
            return
        tracking = TrackingRequest(request.method, request.pretty_url, list(request.headers.items(multi=True)),
                                   request.raw_content or b"", received_at=int(time.time() * 1000))
        found = find_decoder(tracking)
        if found is not None:
            self._track(flow, tracking, found[0].NAME)
            return
        if not self._in_scope(flow):
            self._pass_through(flow)
            return
        if ctx.options.trackreplay_mode == "replay" and self.resolver is not None:
            self._replay(flow)

    def _in_scope(self, flow: http.HTTPFlow) -> bool:
        request = flow.request
        return self.scope.covers(request.pretty_host, request.path, request.headers.items(multi=True))

    def _pass_through(self, flow: http.HTTPFlow) -> None:
        # The app's own code (documents, scripts, styles...) on the web: always the live build, never a record.
        flow.metadata["trackreplay_out_of_scope"] = True
        self.stats["passed_through"] += 1
        if len(self.stats["passed_through_urls"]) < 200:
            self.stats["passed_through_urls"].append(f"{flow.request.method} {flow.request.pretty_url[:300]}")
        self._write_stats()

    def _control(self, flow: http.HTTPFlow) -> None:
        parts = flow.request.path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "step" and parts[1].lstrip("-").isdigit():
            self.step = int(parts[1])
            flow.response = http.Response.make(200, json.dumps({"step": self.step}).encode(),
                                               {"Content-Type": "application/json"})
        elif len(parts) == 2 and parts[0] == "probe" and _NONCE.fullmatch(parts[1]):
            if len(self.probes) >= MAX_PROBES:
                self.probes.pop(next(iter(self.probes)))
            self.probes[parts[1]] = flow.request.scheme
            flow.response = http.Response.make(200, b"trackreplay: this device's traffic goes through the proxy\n",
                                               {"Content-Type": "text/plain; charset=utf-8"})
        elif len(parts) == 2 and parts[0] == "probe-seen" and _NONCE.fullmatch(parts[1]):
            scheme = self.probes.get(parts[1])
            flow.response = http.Response.make(200, json.dumps({"seen": scheme is not None, "scheme": scheme}).encode(),
                                               {"Content-Type": "application/json"})
        elif parts == ["stats"]:
            flow.response = http.Response.make(200, json.dumps(self.stats).encode(), {"Content-Type": "application/json"})
        else:
            flow.response = http.Response.make(404, b'{"error": "unknown control request"}',
                                               {"Content-Type": "application/json"})

    def tls_failed_client(self, data) -> None:
        """The client broke off the TLS handshake with the proxy: it does not trust the proxy's CA (or pins its
        certificate), so its HTTPS traffic to that host is neither recorded nor replayed."""
        failures = self.stats["tls_failures"]
        host = data.context.client.sni or (data.context.server.address or ("?",))[0]
        error = str(data.conn.error or "handshake failed")[:300]
        if len(failures) < MAX_TLS_FAILURES and not any(item["host"] == host for item in failures):
            failures.append({"host": str(host), "error": error})
            self._write_stats(now=True)

    @staticmethod
    def _cors(flow: http.HTTPFlow) -> dict[str, str]:
        """What analytics backends answer browsers with: without it a web SDK sees every upload fail."""
        origin = flow.request.headers.get("Origin")
        if not origin:
            return {}
        return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true",
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                "Access-Control-Allow-Headers": flow.request.headers.get("Access-Control-Request-Headers") or "*"}

    def _track(self, flow: http.HTTPFlow, tracking: TrackingRequest, sdk: str) -> None:
        if flow.request.method == "OPTIONS":  # a CORS preflight carries no events
            if not ctx.options.trackreplay_forward_tracking:
                flow.response = http.Response.make(204, b"", self._cors(flow))
            return
        self.stats["tracking_requests"] += 1
        try:
            events = decode_request(tracking)
        except DecodeError as exc:
            self.stats["decode_errors"].append(f"{tracking.method} {tracking.url[:200]}: {exc}")
            events = []
        if events and self.uplink is not None:
            self.uplink.send_events([dict(event.to_dict(with_raw=False), step=self.step) for event in events])
        if events and ctx.options.trackreplay_events:
            with open(ctx.options.trackreplay_events, "ab") as fh:
                for event in events:
                    event.step = self.step
                    fh.write(json.dumps(event.to_dict(with_raw=False), ensure_ascii=False).encode() + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
        self.stats["events"] += len(events)
        self._write_stats(now=True)
        if not ctx.options.trackreplay_forward_tracking:
            status, content_type, body = SUCCESS_ANSWERS.get(sdk, (200, "application/json", b'{"status": 1}'))
            headers = {"Content-Type": content_type} if content_type else {}
            flow.response = http.Response.make(status, body, {**headers, **self._cors(flow)})
            flow.metadata["trackreplay_tracking"] = True

    def _replay(self, flow: http.HTTPFlow) -> None:
        answer = self.resolver.resolve(_incoming(flow))
        if answer.kind == "global":
            mock = answer.global_mock
            flow.response = http.Response.make(mock.status_code, mock.body, [(k.encode(), v.encode()) for k, v in mock.headers])
            self.stats["global"] += 1
        elif answer.kind == "exchange":
            recorded = self.recorded[answer.exchange_id]
            headers = [(k.encode(), (formatdate(usegmt=True) if k.lower() in REFRESHED_HEADERS else v).encode())
                       for k, v in recorded.response_headers]
            response = http.Response.make(recorded.status_code, b"", headers)
            response.raw_content = recorded.response_body  # byte-exact, still content-encoded
            if "content-length" in response.headers:  # make() set it for the empty placeholder
                response.headers["content-length"] = str(len(recorded.response_body))
            flow.response = response
            self.stats["served"] += 1
        else:
            miss = {"method": flow.request.method, "url": flow.request.pretty_url[:500],
                    "closest": answer.miss.candidate, "reasons": answer.miss.reasons}
            if answer.miss.candidate is not None:
                closest = self.recorded[answer.miss.candidate]
                miss["closest"] = {"index": answer.miss.candidate, "method": closest.method, "url": closest.url[:500]}
            self.stats["misses"].append(miss)
            if answer.policy != "passthrough":
                flow.response = http.Response.make(int(answer.policy), json.dumps(
                    {"error": "no recorded exchange matches this request", **miss}).encode(),
                    {"Content-Type": "application/json"})
        self._write_stats()

    def response(self, flow: http.HTTPFlow) -> None:
        if ctx.options.trackreplay_mode != "record" or flow.metadata.get("trackreplay_tracking"):
            return
        if flow.metadata.get("trackreplay_out_of_scope"):
            return
        if flow.request.pretty_host == CONTROL_HOST or flow.response is None:
            return
        item = exchange_from_flow(flow)
        self.exchanges.append(item)
        self.stats["recorded"] += 1
        if ctx.options.trackreplay_out:
            # One HAR entry a line as it completes: a crash loses nothing already recorded.
            entry = write_har([item])["log"]["entries"][0]
            with open(ctx.options.trackreplay_out + ".partial.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._write_stats()

    def done(self) -> None:
        if ctx.options.trackreplay_mode == "record" and ctx.options.trackreplay_out:
            Path(ctx.options.trackreplay_out).write_text(json.dumps(write_har(self.exchanges), ensure_ascii=False))
        if self.uplink is not None:
            if ctx.options.trackreplay_mode == "record":
                self.uplink.send_recording(write_har(self.exchanges))
            self.uplink.send_report(self.stats)
            self.uplink.close()
            self.stats["uplink_failures"] = [f"{path}: {reason}" for path, _, reason in self.uplink.failed]
        self._write_stats(now=True)

    def _write_stats(self, *, now: bool = False) -> None:
        # At most twice a second (a file write per request would cost replay latency); always at the end.
        path = ctx.options.trackreplay_stats if hasattr(ctx.options, "trackreplay_stats") else ""
        moment = time.monotonic()
        if path and (now or moment - self._stats_written >= 0.5):
            self._stats_written = moment
            temporary = f"{path}.tmp"
            Path(temporary).write_text(json.dumps(self.stats))
            os.replace(temporary, path)


addons = [TrackReplay()]
