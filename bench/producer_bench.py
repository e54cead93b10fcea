"""CPU per trade of each producer stage: generate, encode, and partition plus append.

Run: ``.venv/bin/python bench/producer_bench.py [--batches 20] [--rows 100000]
[--repeat 3]``. Builds the stocks pipeline's producer on a fresh embedded log in a
temporary folder and runs its three stages one after another in one thread, as
``lakeforge produce --rate 0`` runs them side by side. Prints, per stage, the least CPU
time of ``--repeat`` rounds in microseconds per trade (the least, because the machine
is often shared: other work only ever adds time). This is a measurement, not a test;
``lakeforge produce`` itself also pays for its imports and its threads.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lakeforge.bus.produce import produce  # noqa: E402
from lakeforge.codec import encode, encode_native  # noqa: E402
from lakeforge.codec.switches import native_path  # noqa: E402
from lakeforge.profiles import open_profile  # noqa: E402
from lakeforge.source.producer import Producer  # noqa: E402
from lakeforge.spec.load import load_pipeline  # noqa: E402

STAGES = ("generate", "encode", "append", "encode (NumPy)")


def one_round(producer: Producer, batches: int, rows: int, start_us: int) -> dict[str, float]:
    """CPU seconds each stage spends on ``batches`` batches of ``rows`` trades."""
    spent = dict.fromkeys(STAGES, 0.0)
    topic = producer.topic
    for index in range(batches):
        began = time.thread_time()
        first_us = start_us + index * 50_000
        batch = producer.generator.next_batch(rows, first_us, first_us + 50_000)
        generated = time.thread_time()
        values = encode(batch, producer.schema, prefix=producer.header)
        encoded = time.thread_time()
        keys = producer._keys(batch)
        produce(producer.bus, topic.name, values, keys, topic.partitions)
        appended = time.thread_time()
        spent["generate"] += generated - began
        spent["encode"] += encoded - generated
        spent["append"] += appended - encoded
        # the same batch again with the NumPy encoder, for comparison (not in the total)
        with native_path(encode_native.SWITCH, on=False):
            began = time.thread_time()
            encode(batch, producer.schema, prefix=producer.header)
            spent["encode (NumPy)"] += time.thread_time() - began
    return spent


def main() -> None:
    """Measure and print each stage's CPU per trade."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="producer_bench"))
    try:
        shutil.copytree(
            ROOT / "examples" / "stocks",
            folder / "stocks",
            ignore=shutil.ignore_patterns(".lakeforge"),
        )
        pipeline = load_pipeline(folder / "stocks")
        with open_profile(pipeline) as profile:
            producer = Producer(pipeline, profile)
            start_us = time.time_ns() // 1000
            one_round(producer, 1, args.rows, start_us)  # warm-up
            rounds = [
                one_round(producer, args.batches, args.rows, start_us) for _ in range(args.repeat)
            ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    trades = args.batches * args.rows
    best = {stage: min(spent[stage] for spent in rounds) / trades * 1e6 for stage in STAGES}
    native = "native" if encode_native.enabled() else "NumPy"
    for stage in STAGES[:3]:
        label = f"{stage} ({native})" if stage == "encode" else stage
        print(f"{label:16s} {best[stage]:6.3f} us/trade")
    print(f"{'total':16s} {sum(best[stage] for stage in STAGES[:3]):6.3f} us/trade")
    print(f"{'encode (NumPy)':16s} {best['encode (NumPy)']:6.3f} us/trade  (same batches)")


if __name__ == "__main__":
    main()
