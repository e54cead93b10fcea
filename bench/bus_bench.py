"""Throughput of the embedded bus: codec, append, fetch, and producer + consumer at once.

    .venv/bin/python bench/bus_bench.py [--messages 4000000] [--workload trades] [--json]

Workloads: ``random60`` is 60 random bytes per value (incompressible, the worst case);
``trades`` is the stocks example's Avro trades in Confluent framing (~40 bytes, as real
values compress). Targets: append >= 2M messages/s in 50k batches from one process,
fetch >= 3M messages/s, both holding with a producer and a consumer process at once.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lakeforge.bus import TopicSpec, produce  # noqa: E402
from lakeforge.bus.embedded import EmbeddedLog  # noqa: E402
from lakeforge.bus.record_batch import (  # noqa: E402
    Compression,
    decode_payload,
    encode_batch,
    to_records,
)

TOPIC = "bench"


def make_batch(workload: str, size: int, seed: int = 7) -> pa.Table:
    """One batch of ``size`` messages with keys (ticker symbols) and values."""
    rng = np.random.default_rng(seed)
    symbols = [s.encode() for s in ("AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA", "JPM")]
    keys = pa.array([symbols[i] for i in rng.integers(len(symbols), size=size)], pa.binary())
    if workload == "random60":
        data = pa.py_buffer(rng.integers(0, 256, size=size * 60, dtype=np.uint8).tobytes())
        offsets = pa.py_buffer(np.arange(0, (size + 1) * 60, 60, dtype=np.int32).tobytes())
        values = pa.Array.from_buffers(pa.binary(), size, [None, offsets, data])
    else:
        values = pa.array(_avro_trades(keys.to_pylist(), rng), pa.binary())
    return pa.table({"key": keys, "value": values})


def _avro_trades(symbols: list[bytes], rng: np.random.Generator) -> list[bytes]:
    import fastavro

    schema_file = ROOT / "examples/stocks/schemas/trade.avsc"
    schema = fastavro.parse_schema(json.loads(schema_file.read_text()))
    exchanges = ["NASDAQ", "NYSE", "ARCA", "BATS", "IEX", "EDGX"]
    values = []
    for i, symbol in enumerate(symbols):
        out = io.BytesIO()
        out.write(b"\0" + struct.pack(">I", 1))  # Confluent framing: magic, schema id
        record = {
            "trade_id": 50_000_000 + i,
            "symbol": symbol.decode(),
            "price": round(float(100 + rng.random() * 300), 2),
            "size": int(rng.choice([100, 200, 500, 37, int(rng.integers(1, 900))])),
            "exchange": exchanges[int(rng.integers(len(exchanges)))],
            "conditions": ["@"] if rng.random() < 0.8 else ["@", "I"],
            "tape": "C",
            "event_time": 1_780_000_000_000_000 + i * 250 + int(rng.integers(250)),
        }
        fastavro.schemaless_writer(out, schema, record)
        values.append(out.getvalue())
    return values


def bench_codec(batch: pa.Table) -> list[dict[str, object]]:
    """Payload size and encode/decode speed of one batch, for each compression."""
    rows: list[dict[str, object]] = []
    compressions: tuple[Compression, ...] = (None, "lz4", "zstd")
    for compression in compressions:
        started = time.perf_counter()
        for _ in range(10):
            encoded = encode_batch(batch, 0, compression)
        encode_s = (time.perf_counter() - started) / 10
        payload, header = encoded.payload.to_pybytes(), encoded.header(0)
        started = time.perf_counter()
        for _ in range(10):
            to_records(header, decode_payload(header, payload), 0, batch.num_rows)
        decode_s = (time.perf_counter() - started) / 10
        rows.append(
            {
                "compression": compression or "none",
                "bytes_per_message": round(len(payload) / batch.num_rows, 1),
                "encode_msgs_per_s": round(batch.num_rows / encode_s),
                "decode_msgs_per_s": round(batch.num_rows / decode_s),
            }
        )
    return rows


def produce_all(path: str, batch: pa.Table, messages: int, compression: str | None) -> float:
    """Append ``messages`` messages to partition 0 in batches; return the seconds taken."""
    log = EmbeddedLog(path, compression=compression)  # type: ignore[arg-type]
    log.create_topic(TopicSpec(TOPIC, 1))
    started = time.perf_counter()
    for _ in range(messages // batch.num_rows):
        log.append(TOPIC, 0, batch)
    elapsed = time.perf_counter() - started
    log.close()
    return elapsed


def produce_keyed(path: str, batch: pa.Table, messages: int, compression: str | None) -> float:
    """Produce ``messages`` messages by key to 4 partitions; return the seconds taken."""
    log = EmbeddedLog(path, compression=compression)  # type: ignore[arg-type]
    log.create_topic(TopicSpec("keyed", 4))
    values, keys = batch.column("value").combine_chunks(), batch.column("key").combine_chunks()
    started = time.perf_counter()
    for _ in range(messages // batch.num_rows):
        produce(log, "keyed", values, keys, 4)
    elapsed = time.perf_counter() - started
    log.close()
    return elapsed


def consume_all(
    path: str, messages: int, max_records: int, timeout_s: float = 120
) -> tuple[float, float]:
    """Fetch from offset 0 until ``messages`` messages were read.

    Returns the seconds from start to the last message, and the seconds spent in
    fetches that returned messages (what the consumer could do if never waiting).
    """
    log = EmbeddedLog(path)
    while TOPIC not in log.topics():
        time.sleep(0.001)
    offset, busy, started = 0, 0.0, time.perf_counter()
    while offset < messages:
        fetch_started = time.perf_counter()
        fetched = log.fetch(TOPIC, 0, offset, max_records)
        if fetched.count:
            busy += time.perf_counter() - fetch_started
        elif time.perf_counter() - started > timeout_s:
            raise TimeoutError(f"the consumer got {offset} of {messages} messages")
        else:
            time.sleep(0.0005)  # caught up with the producer
        offset = fetched.next_offset
    elapsed = time.perf_counter() - started
    log.close()
    return elapsed, busy


def _run(target: str, args: tuple[Any, ...], results: multiprocessing.Queue[Any]) -> None:
    function = produce_all if target == "produce" else consume_all
    results.put((target, function(*args)))


def bench_log(
    folder: Path, batch: pa.Table, messages: int, compression: str | None
) -> dict[str, object]:
    """Append then fetch in one process, then a producer and a consumer process at once."""
    messages -= messages % batch.num_rows
    path = str(folder / f"alone-{compression}.db")
    append_s = produce_all(path, batch, messages, compression)
    fetch_s = consume_all(path, messages, batch.num_rows)[1]
    fetch_small_s = consume_all(path, messages, 10_000)[1]
    size = sum(p.stat().st_size for p in folder.glob(f"alone-{compression}.db*"))
    keyed_s = produce_keyed(str(folder / f"keyed-{compression}.db"), batch, messages, compression)

    spawn = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[Any] = spawn.Queue()
    path = str(folder / f"together-{compression}.db")
    workers = [
        spawn.Process(target=_run, args=("produce", (path, batch, messages, compression), results)),
        spawn.Process(target=_run, args=("consume", (path, messages, batch.num_rows), results)),
    ]
    for worker in workers:
        worker.start()
    together: dict[str, Any] = dict(results.get(timeout=300) for _ in workers)
    for worker in workers:
        worker.join()
    return {
        "compression": compression or "none",
        "messages": messages,
        "file_bytes_per_message": round(size / messages, 1),
        "append_msgs_per_s": round(messages / append_s),
        "produce_by_key_msgs_per_s": round(messages / keyed_s),
        "fetch_msgs_per_s": round(messages / fetch_s),
        "fetch_10k_msgs_per_s": round(messages / fetch_small_s),
        "together_append_msgs_per_s": round(messages / together["produce"]),
        "together_fetch_msgs_per_s": round(messages / together["consume"][1]),
        "together_consumer_done_s": round(together["consume"][0], 2),
    }


def main() -> None:
    """Run every measurement and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=4_000_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--workload", choices=("random60", "trades"), default="random60")
    parser.add_argument("--compression", choices=("none", "lz4", "zstd", "all"), default="all")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    batch = make_batch(args.workload, args.batch)
    value_bytes = batch.column("value").combine_chunks().buffers()[2].size / args.batch
    chosen = ["none", "lz4", "zstd"] if args.compression == "all" else [args.compression]
    with tempfile.TemporaryDirectory(prefix="bus-bench-") as folder:
        logs = [
            bench_log(Path(folder), batch, args.messages, None if c == "none" else c)
            for c in chosen
        ]
    report = {
        "workload": args.workload,
        "value_bytes": round(value_bytes, 1),
        "batch": args.batch,
        "codec": bench_codec(batch),
        "log": logs,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"workload {args.workload}: {value_bytes:.1f}-byte values, batches of {args.batch:,}")
    for section in ("codec", "log"):
        rows = report[section]
        assert isinstance(rows, list)
        print(f"\n{section:<28}" + "".join(f"{row['compression']:>14}" for row in rows))
        for metric in list(rows[0])[1:]:
            cells = (row[metric] for row in rows)
            print(f"  {metric:<26}" + "".join(f"{cell:>14,}" for cell in cells))


if __name__ == "__main__":
    main()
