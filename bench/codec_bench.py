"""Throughput of the vectorised Avro codec against fastavro, record by record.

Run: ``.venv/bin/python bench/codec_bench.py [--rows 1000000] [--repeat 5]``. Prints rows
per second for encoding (Arrow table to framed messages) and decoding (framed messages
to an Arrow table) of stock trades, for lakeforge and for fastavro's per-record
``schemaless_writer``/``schemaless_reader``. fastavro runs on a sample of the rows (it is
slow enough that a sample gives a stable rate). Each figure is the least CPU time of
``--repeat`` runs in one thread; this is a measurement, not a test.

Decoding and encoding are each measured twice in the same run: with the native fast
path (the C extensions of :mod:`lakeforge.codec.decode_native` and
:mod:`lakeforge.codec.encode_native`, when built) and with the NumPy path alone
(``LAKEFORGE_NATIVE_DECODE=0``, ``LAKEFORGE_NATIVE_ENCODE=0``). Encoding is measured on
plain columns and on the trade generator's dictionary-coded batches ("dict"), with the
Confluent header as the producer writes them.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lakeforge.codec import (  # noqa: E402
    AvroSchema,
    Decoder,
    confluent_header,
    decode_native,
    encode,
    encode_native,
    frame,
)
from lakeforge.codec.switches import native_path  # noqa: E402
from lakeforge.source.trades import TradeGenerator  # noqa: E402

SCHEMA_PATH = ROOT / "examples" / "stocks" / "schemas" / "trade.avsc"
SYMBOLS = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "BRK.B", "JPM", "V"]
EXCHANGES = ["NASDAQ", "NYSE", "ARCA", "BATS", "IEX", "EDGX", "FINRA_ADF"]
CONDITIONS = [[], ["@"], ["@", "I"], ["F", "T"]]


def trades(rows: int, seed: int = 7) -> pa.Table:
    """Realistic trades: increasing ids and times, a few symbols, odd lots and conditions."""
    rng = np.random.default_rng(seed)
    start = 1_750_000_000_000_000
    return pa.table(
        {
            "trade_id": np.arange(rows, dtype=np.int64) + 10_000_000_000,
            "symbol": pa.array(np.array(SYMBOLS)[rng.integers(0, len(SYMBOLS), rows)]),
            "price": np.round(rng.lognormal(5, 1, rows), 2),
            "size": rng.geometric(0.01, rows).astype(np.int32),
            "exchange": pa.array(np.array(EXCHANGES)[rng.integers(0, len(EXCHANGES), rows)]),
            "conditions": pa.array(
                [CONDITIONS[i] for i in rng.integers(0, len(CONDITIONS), rows)],
                pa.list_(pa.string()),
            ),
            "tape": pa.array(np.array(["A", "B", "C"])[rng.integers(0, 3, rows)]),
            "event_time": pa.array(
                start + np.cumsum(rng.integers(0, 2_000, rows)), pa.timestamp("us", tz="UTC")
            ),
        }
    )


def best_seconds(run: Callable[[], Any], repeat: int) -> float:
    """The least CPU time of ``repeat`` runs (after one warm-up), in seconds.

    CPU time, not wall time: other processes on the machine then count less.
    """
    run()
    times = []
    for _ in range(repeat):
        started = time.process_time()
        run()
        times.append(time.process_time() - started)
    return min(times)


def with_decode_path(
    native: bool, run: Callable[[], Any], switch: str = decode_native.SWITCH
) -> Callable[[], Any]:
    """``run`` with the native path of ``switch`` on or off (the NumPy path alone)."""

    def switched() -> Any:
        with native_path(switch, native):
            return run()

    return switched


def with_bad_records(messages: pa.Array, every: int) -> pa.Array:
    """Every ``every``-th message cut short by 3 bytes: a truncated body."""
    values = messages.to_pylist()
    for i in range(0, len(values), every):
        values[i] = values[i][:-3]
    return pa.array(values, pa.binary())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fastavro-rows", type=int, default=100_000)
    args = parser.parse_args()
    # one core: no Arrow worker threads
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)

    schema = AvroSchema.load(SCHEMA_PATH)
    table = trades(args.rows)
    messages = frame(1, encode(table, schema))
    decoder = Decoder(schema, lambda schema_id: schema.text)
    bad = with_bad_records(messages, every=1000)

    bodies = encode(table, schema)
    results = [
        ("lakeforge encode", args.rows, best_seconds(lambda: encode(table, schema), args.repeat)),
        ("lakeforge frame", args.rows, best_seconds(lambda: frame(1, bodies), args.repeat)),
        (
            "lakeforge encode + frame",
            args.rows,
            best_seconds(lambda: frame(1, encode(table, schema)), args.repeat),
        ),
    ]
    paths = [("NumPy", False)] + ([("native", True)] if decode_native.available() else [])
    for path, native in paths:
        decode_good = with_decode_path(native, lambda: decoder.decode(messages))
        decode_bad = with_decode_path(native, lambda: decoder.decode(bad))
        bad_name = f"lakeforge decode, {path}, 0.1% bad"
        results += [
            (f"lakeforge decode, {path}", args.rows, best_seconds(decode_good, args.repeat)),
            (bad_name, args.rows, best_seconds(decode_bad, args.repeat)),
        ]
    assert decoder.decode(bad).errors.kind[0] == "truncated"

    generated = TradeGenerator().next_batch(args.rows, 0, 1_000_000)
    header = confluent_header(1)
    paths = [("NumPy", False)] + ([("native", True)] if encode_native.available() else [])
    for path, native in paths:
        for form, source in (("plain", table), ("dict", generated)):
            run = with_decode_path(
                native, lambda source=source: encode(source, schema, header), encode_native.SWITCH
            )
            results.append(
                (f"lakeforge encode, {path}, {form}", args.rows, best_seconds(run, args.repeat))
            )

    sample = args.fastavro_rows
    parsed = fastavro.parse_schema(fastavro.schema.load_schema(SCHEMA_PATH))
    records = table.slice(0, sample).to_pylist()
    bodies = [m[5:] for m in messages.slice(0, sample).to_pylist()]

    def fastavro_encode() -> None:
        for record in records:
            out = io.BytesIO()
            fastavro.schemaless_writer(out, parsed, record)
            out.getvalue()

    def fastavro_decode() -> None:
        for body in bodies:
            fastavro.schemaless_reader(io.BytesIO(body), parsed, None)

    repeat = max(1, args.repeat // 2)
    results += [
        ("fastavro encode, per record", sample, best_seconds(fastavro_encode, repeat)),
        ("fastavro decode, per record", sample, best_seconds(fastavro_decode, repeat)),
    ]

    print(f"{'codec':34} {'rows':>10} {'seconds':>9} {'rows/s':>12}")
    for name, rows, seconds in results:
        print(f"{name:34} {rows:>10,} {seconds:>9.3f} {rows / seconds:>12,.0f}")


if __name__ == "__main__":
    main()
