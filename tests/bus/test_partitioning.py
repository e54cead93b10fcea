"""Keys go to the partitions Kafka's default partitioner would choose."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakeforge.bus.base import murmur2, partitions_for_keys


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # The vectors of Kafka's own UtilsTest.testMurmur2.
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
    ],
)
def test_murmur2_matches_kafka(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected


def test_partitions_follow_the_positive_hash() -> None:
    keys = [b"AAPL", b"MSFT", None, b"AAPL", b""]
    got = partitions_for_keys(pa.array(keys, pa.binary()), 7).tolist()
    expected = [0 if k is None else (murmur2(k) & 0x7FFFFFFF) % 7 for k in keys]
    assert got == expected
    assert got[0] == got[3]
