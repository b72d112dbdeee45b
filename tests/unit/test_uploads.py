"""The bounded readers every upload path uses (trackreplay/uploads.py), without Django or HTTP."""

import gzip
import io
import tracemalloc
import zlib

import pytest

from trackreplay.uploads import (
    UploadRefused,
    check_count,
    file_limits,
    inflate,
    parse_json,
    read_file,
    read_stream,
)

VALUES = {"TRACKREPLAY_UPLOAD_MAX_BYTES": 1000, "TRACKREPLAY_UPLOAD_MAX_DECOMPRESSED_BYTES": 5000,
          "TRACKREPLAY_UPLOAD_MAX_DEPTH": 10, "TRACKREPLAY_UPLOAD_MAX_ENTRIES": 3}
LIMITS = file_limits(VALUES.__getitem__)


def reader(data: bytes):
    return io.BytesIO(data).read


def test_a_stream_without_a_declared_length_is_counted_while_read():
    assert read_stream(reader(b"x" * 1000), LIMITS) == b"x" * 1000
    with pytest.raises(UploadRefused) as info:
        read_stream(reader(b"x" * 1001), LIMITS)
    assert info.value.status == 413 and info.value.limit.setting == "TRACKREPLAY_UPLOAD_MAX_BYTES"
    assert "TRACKREPLAY_UPLOAD_MAX_BYTES=1000" in info.value.reason


def test_a_declared_length_over_the_limit_is_refused_before_reading():
    def read(size):
        raise AssertionError("read although the declared length is over the limit")

    with pytest.raises(UploadRefused) as info:
        read_stream(read, LIMITS, content_length=1001)
    assert info.value.as_dict() == {"error": "body of 1001 bytes is over TRACKREPLAY_UPLOAD_MAX_BYTES=1000",
                                    "limit": "TRACKREPLAY_UPLOAD_MAX_BYTES", "max": 1000}


def test_gzip_is_inflated_with_a_cap_on_the_output():
    assert read_stream(reader(gzip.compress(b"a" * 5000)), LIMITS) == b"a" * 5000
    with pytest.raises(UploadRefused) as info:
        read_stream(reader(gzip.compress(b"a" * 5001)), LIMITS)
    assert info.value.status == 413 and info.value.limit.setting == "TRACKREPLAY_UPLOAD_MAX_DECOMPRESSED_BYTES"


def test_inflating_asks_zlib_for_slices_so_one_small_input_never_expands_at_once():
    bomb = gzip.compress(b"\0" * 50_000_000)  # 50 MB from about 50 KB, handed over in one piece
    roomy = file_limits({**VALUES, "TRACKREPLAY_UPLOAD_MAX_DECOMPRESSED_BYTES": 10**9}.__getitem__)
    assert len(inflate([bomb], roomy)) == 50_000_000
    tracemalloc.start()
    try:
        with pytest.raises(UploadRefused) as info:
            inflate([bomb], LIMITS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "decompresses to more than TRACKREPLAY_UPLOAD_MAX_DECOMPRESSED_BYTES=5000" in info.value.reason
    assert peak < 1_000_000, f"{peak} bytes allocated to refuse a 5000-byte cap"


def test_several_gzip_members_are_read_and_a_truncated_or_corrupt_stream_is_a_400():
    two = gzip.compress(b"ab") + gzip.compress(b"cd")
    assert read_stream(reader(two), LIMITS) == b"abcd"
    for broken in (gzip.compress(b"a" * 100)[:-9], b"\x1f\x8b" + b"junk"):
        with pytest.raises(UploadRefused) as info:
            read_stream(reader(broken), LIMITS)
        assert info.value.status == 400 and info.value.limit is None and "bad gzip" in info.value.reason


def test_a_content_encoding_we_do_not_read_is_refused_by_name():
    with pytest.raises(UploadRefused, match="'br'"):
        read_stream(reader(b"{}"), LIMITS, content_encoding="br")
    with pytest.raises(UploadRefused, match="bad gzip"):
        read_stream(reader(b"{}"), LIMITS, content_encoding="gzip")


def test_files_are_checked_by_their_size_and_may_be_gzipped(tmp_path):
    path = tmp_path / "a.har.gz"
    path.write_bytes(gzip.compress(b'{"log": {}}'))
    assert read_file(path, LIMITS) == b'{"log": {}}'
    path.write_bytes(b"x" * 1001)
    with pytest.raises(UploadRefused, match=f"{path} of 1001 bytes is over TRACKREPLAY_UPLOAD_MAX_BYTES=1000"):
        read_file(path, LIMITS)
    assert read_stream(reader(zlib.compress(b"not gzip")), LIMITS) == zlib.compress(b"not gzip")  # gzip only


def test_json_nesting_and_entry_counts_are_bounded_naming_their_settings():
    assert parse_json(b"[" * 10 + b"]" * 10, LIMITS) == [[[[[[[[[[]]]]]]]]]]
    for depth in (11, 100_000):
        with pytest.raises(UploadRefused) as info:
            parse_json(b"[" * depth + b"]" * depth, LIMITS, what="plan.json")
        assert info.value.status == 400 and info.value.limit.setting == "TRACKREPLAY_UPLOAD_MAX_DEPTH"
        assert info.value.reason.startswith("plan.json: ") and "TRACKREPLAY_UPLOAD_MAX_DEPTH=10" in info.value.reason
    with pytest.raises(UploadRefused) as info:
        parse_json(b'{"a": ', LIMITS)
    assert info.value.limit is None and "invalid JSON" in info.value.reason
    check_count(3, LIMITS, "HAR entries")
    with pytest.raises(UploadRefused, match="4 HAR entries is over TRACKREPLAY_UPLOAD_MAX_ENTRIES=3"):
        check_count(4, LIMITS, "HAR entries")
