"""`trackreplay decode`: decode the tracking events in a HAR or mitmproxy flow file. No Django needed."""

from __future__ import annotations

import sys
from collections import Counter

import orjson

from .capture_files import CaptureFileError, read_requests
from .limits import DecodeError
from .registry import EndpointRule, decode_request, find_decoder


def load_rules(path: str | None) -> list[EndpointRule]:
    if not path:
        return []
    from trackreplay.uploads import UploadRefused, check_count, env_limits, parse_json, read_file

    limits = env_limits()
    try:
        data = parse_json(read_file(path, limits), limits, what=path)
        if isinstance(data, list):
            check_count(len(data), limits, f"rules in {path}")
        return [EndpointRule(**rule) for rule in data]
    except UploadRefused as exc:
        raise CaptureFileError(exc.reason if exc.limit else f"{path}: bad endpoint rules ({exc.reason})") from None
    except (OSError, TypeError, ValueError) as exc:
        raise CaptureFileError(f"{path}: bad endpoint rules ({exc}); expected a JSON list of "
                               '{"decoder", "host", "path", "options"}') from None


def run_decode(args, out=sys.stdout, err=sys.stderr) -> int:
    try:
        rules = load_rules(args.rules)
        requests = list(read_requests(args.file))
    except CaptureFileError as exc:
        print(f"trackreplay decode: {exc}", file=err)
        return 2
    failed = 0
    seq = 0
    counts: Counter = Counter()
    write = out.buffer.write if hasattr(out, "buffer") else (lambda b: out.write(b.decode()))
    for number, request in enumerate(requests, start=1):
        if find_decoder(request, rules, auto_detect=not args.no_auto) is None:
            continue
        try:
            events = decode_request(request, rules, auto_detect=not args.no_auto)
        except DecodeError as exc:
            failed += 1
            print(f"request {number} {request.method} {request.url[:200]}: {exc}", file=err)
            continue
        for event in events:
            event.seq = seq
            seq += 1
            counts[(event.sdk, event.event)] += 1
            if not args.summary:
                write(orjson.dumps(event.to_dict(with_raw=args.raw)) + b"\n")
    if args.summary:
        by_sdk = Counter()
        for (sdk, _), count in counts.items():
            by_sdk[sdk] += count
        for sdk in sorted(by_sdk):
            out.write(f"{sdk}: {by_sdk[sdk]} events\n")
            for (event_sdk, name), count in sorted(counts.items(), key=lambda item: (-item[1], item[0][1])):
                if event_sdk == sdk:
                    out.write(f"  {count:6d}  {name}\n")
        out.write(f"total: {seq} events, {failed} tracking requests failed to decode\n")
    return 1 if failed else 0


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "decode", help="print the tracking events in a HAR or mitmproxy flow file as JSON Lines",
        description="Decode every tracking request in FILE (HAR 1.2 or a mitmproxy flow file) into canonical "
        "events, one JSON object a line, in request order. Requests that look like tracking but fail to decode "
        "are listed on stderr. Exit status: 0 all decoded, 1 some failed, 2 unreadable input.",
    )
    parser.add_argument("file", metavar="FILE")
    parser.add_argument("--summary", action="store_true", help="print event counts per SDK and event name instead")
    parser.add_argument("--raw", action="store_true", help="include each event's raw wire fragment")
    parser.add_argument("--rules", metavar="RULES.json", help="endpoint rules: which hosts/paths use which decoder")
    parser.add_argument("--no-auto", action="store_true", help="only decode requests an endpoint rule names")
    parser.set_defaults(func=run_decode)
