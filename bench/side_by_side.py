"""Side-by-side benchmark (issue 6): the same trades through four pipelines, in one run.

lakeforge's producer appends N trades (Confluent-framed Avro) once to the embedded log
of a fresh copy of examples/stocks; every contender then reads those same messages:

a. lakeforge: a fresh ``StreamRunner`` catches up all N into bronze, Iceberg and Delta
   (fetch, vectorised decode, the five rules, dead letters, one Parquet file per batch
   committed to both logs with its log positions: exactly once), then ``verify``
   (untimed). This catch-up is the reference every ratio is taken to. Optionally also
   (a, streaming): producer and runner together, as bench/end_to_end.py measures it.
b. the ceiling: fetch, lakeforge's vectorised decode, one Parquet write per batch with
   lakeforge's settings (zstd level 1, 16 KiB dictionary pages); no rules, no ingestion
   columns, no commits. Decoding the next batch overlaps writing this one, as in the runner.
c. a plain per-record consumer, as a hand-written pipeline would do it: fetch, fastavro
   ``schemaless_reader`` per message into dicts (the 5-byte Confluent header skipped),
   ``pa.Table.from_pylist`` per batch, then per batch ``table.append`` to a pyiceberg
   SQL-catalog table and ``deltalake.write_deltalake(mode="append")``: two writes, no
   rules, no exactly once. Slow, so by default it runs on the first 1M trades only
   (``--per-record-trades``; 0 = all), which the output says.
d. PyFlink 2.3 (its own virtual environment, .venv-flink, from
   bench/side_by_side_setup.sh): the messages' Avro bodies are exported once (untimed)
   to Avro container files, one per partition, byte for byte; batch-mode Flink SQL jobs
   read them (Flink's avro format decodes them in Java), map the exchange enum's index to
   its name, and write zstd-1 Parquet: once through the filesystem connector (no table
   format, no commits), once into an Iceberg table of a Hadoop catalog (one commit at
   the end). Each is timed from job submission to job finished, in one JVM after a
   warm-up job over an empty input; the start-up (JVM, Python gateway) and the empty
   job's time (a job's fixed cost) are reported apart.

Every contender checks its row count at the end (a: bronze rows and ``verify``). Figures
are trades/s, the ratio to (a), and the CPU seconds used during the measure (this
process's threads; for d the PyFlink process and its JVM). A busy machine makes them
noisy: compare within one run. ``--batch`` sets every contender's micro-batch, (a)'s
through ``LAKEFORGE__STREAM__BATCH_ROWS``.

    bash bench/side_by_side_setup.sh            # once, for (d)
    .venv/bin/python bench/side_by_side.py [--trades 10000000] [--batch 100000]
        [--only a,b,c,d] [--per-record-trades 1000000] [--streaming]
        [--flink-parallelism 2] [--workdir DIR] [--out bench/results/NAME.json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import StaticTable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from end_to_end import fresh, load, streamed, verified
from machine import describe, markdown

from lakeforge.bus.base import Bus
from lakeforge.codec import AvroSchema, Decoder
from lakeforge.codec.buffers import binary_parts
from lakeforge.lake.parquet import COMPRESSION, COMPRESSION_LEVEL, DICTIONARY_PAGE_LIMIT
from lakeforge.profiles import open_local
from lakeforge.source.producer import Producer
from lakeforge.stream.fetcher import Fetcher
from lakeforge.stream.runner import StreamRunner

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "trades"
HEADER_BYTES = 5
FLINK_PYTHON = ROOT / ".venv-flink" / "bin" / "python"
FLINK_JARS = Path(
    os.environ.get("LAKEFORGE_FLINK_JARS", Path.home() / ".cache/lakeforge/flink-jars")
)
Result = dict[str, Any]


# -- the input, produced once ------------------------------------------------------------


def produce(folder: Path, trades: int) -> Result:
    """Append ``trades`` trades to the folder's embedded log with lakeforge's producer."""
    pipeline = load(folder)
    with open_local(pipeline) as profile:
        stats = Producer(pipeline, profile).run(count=trades, rate=0)
        ends = profile.bus.end_offsets(TOPIC)
    assert sum(ends.values()) == trades, ends
    log = sum(path.stat().st_size for path in pipeline.state_path.glob("log.db*"))
    return {
        "producer_per_s": stats.records / stats.seconds,
        "log_bytes": log,
        "partitions": len(ends),
    }


def batches(bus: Bus, batch: int, limit: int | None = None) -> Iterator[pa.Table]:
    """The topic's messages from the start, in micro-batches cut as the runner cuts them.

    Uses the runner's own ``Fetcher`` (a share of ``batch`` from every partition in
    turn), so every contender reads the log the same way; stops after ``limit``.
    """
    fetcher = Fetcher(bus, TOPIC, {}, batch, batch_interval_ms=60_000)
    seen = 0
    while limit is None or seen < limit:
        cut = fetcher.next_batch(lambda: False, cut_when_drained=True)
        messages = cut.messages
        if limit is not None and seen + messages.num_rows > limit:
            messages = messages.slice(0, limit - seen)
        if messages.num_rows:
            seen += messages.num_rows
            yield messages
        if cut.drained:
            return


def timed(function: Callable[[], int]) -> tuple[int, float]:
    began = time.monotonic()
    rows = function()
    return rows, time.monotonic() - began


# -- (a) lakeforge -----------------------------------------------------------------------


def lakeforge_catch_up(folder: Path, trades: int) -> Result:
    """A fresh runner catches up the full log into both bronze formats; verify after."""
    pipeline = load(folder)
    with open_local(pipeline) as profile:
        began = time.monotonic()
        runner = StreamRunner(pipeline, profile)
        opened, cpu = time.monotonic(), time.process_time()
        stats = runner.run(until_drained=True)
        seconds, cpu = time.monotonic() - opened, time.process_time() - cpu
        runner.close()
    ok = stats.bronze_rows == trades and stats.dead_letters == 0 and verified(folder, trades)
    return {
        "measure": "a. lakeforge, runner catches up the full log",
        "includes": "fetch, decode, 5 rules, ingestion columns, Parquet per batch, Delta + "
        "Iceberg commit with log positions (exactly once); runner set-up "
        f"({opened - began:.2f} s, tables opened) and verify left out",
        "trades": stats.bronze_rows,
        "seconds": seconds,
        "batches": stats.batches,
        "cpu_seconds": cpu,
        "checked": ok,
    }


def lakeforge_streaming(work: Path, trades: int) -> Result:
    """Producer and runner as two processes at full speed (bench/end_to_end.py's figure)."""
    folder = fresh(work, "streaming")
    rate, _, _ = streamed(folder, trades, 0)
    ok = verified(folder, trades)
    shutil.rmtree(folder)
    return {
        "measure": "a. lakeforge, producer + runner together",
        "includes": "its own production of N new trades (same generator and seed) running "
        "concurrently; first trade appended -> last trade committed in both formats, "
        "process start-up left out",
        "trades": trades,
        "seconds": trades / rate,
        "checked": ok,
    }


# -- (b) the ceiling ---------------------------------------------------------------------


def ceiling(bus: Bus, decoder: Decoder, batch: int, out: Path) -> tuple[int, int]:
    """Fetch, decode, write one Parquet file per batch; the next batch decodes meanwhile."""
    out.mkdir(parents=True)
    source = batches(bus, batch)

    def prepare() -> pa.Table | None:
        messages = next(source, None)
        if messages is None:
            return None
        decoded = decoder.decode(messages["value"])
        assert not len(decoded.errors), decoded.errors.reason[:3]
        return decoded.table

    rows = files = 0
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(prepare)
        while (table := pending.result()) is not None:
            pending = pool.submit(prepare)
            pq.write_table(
                table,
                out / f"{files:06d}.parquet",
                compression=COMPRESSION,
                compression_level=COMPRESSION_LEVEL,
                dictionary_pagesize_limit=DICTIONARY_PAGE_LIMIT,
            )
            rows += table.num_rows
            files += 1
    return rows, files


def run_ceiling(folder: Path, batch: int, trades: int, work: Path) -> Result:
    pipeline = load(folder)
    schema = AvroSchema.load(pipeline.schema_path(pipeline.topic(TOPIC)))
    out = work / "ceiling"
    with open_local(pipeline) as profile:
        decoder = Decoder(schema, profile.registry.schema_by_id)
        began, cpu = time.monotonic(), time.process_time()
        rows, files = ceiling(profile.bus, decoder, batch, out)
        seconds, cpu = time.monotonic() - began, time.process_time() - cpu
    stored = sum(pq.read_metadata(path).num_rows for path in out.glob("*.parquet"))
    shutil.rmtree(out)
    return {
        "measure": "b. ceiling: fetch + vectorised decode + Parquet write",
        "includes": f"lakeforge's fetch and decode, one zstd-1 Parquet file per batch "
        f"({files} files); no rules, no ingestion columns, no commits",
        "trades": rows,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "checked": rows == stored == trades,
    }


# -- (c) a plain per-record consumer -----------------------------------------------------


def per_record(
    bus: Bus, writer_schema: Any, arrow_schema: pa.Schema, batch: int, limit: int, out: Path
) -> int:
    """fastavro per message, from_pylist per batch, pyiceberg and deltalake append per batch."""
    out.mkdir(parents=True)
    catalog = SqlCatalog(
        "bench", uri=f"sqlite:///{out / 'catalog.db'}", warehouse=f"file://{out / 'iceberg'}"
    )
    catalog.create_namespace("bench")
    iceberg = catalog.create_table("bench.trades", schema=arrow_schema)
    delta = str(out / "delta")
    rows = 0
    for messages in batches(bus, batch, limit):
        records = []
        for value in messages["value"].to_pylist():
            if value[0] != 0:
                raise ValueError("not a Confluent-framed message")
            body = io.BytesIO(value[HEADER_BYTES:])
            records.append(fastavro.schemaless_reader(body, writer_schema, None))
        table = pa.Table.from_pylist(records, schema=arrow_schema)
        iceberg.append(table)
        write_deltalake(delta, table, mode="append")
        rows += table.num_rows
    return rows


def run_per_record(folder: Path, batch: int, trades: int, limit: int, work: Path) -> Result:
    pipeline = load(folder)
    schema = AvroSchema.load(pipeline.schema_path(pipeline.topic(TOPIC)))
    writer_schema = fastavro.parse_schema(json.loads(schema.text))
    out = work / "per_record"
    count = min(limit, trades) if limit else trades
    with open_local(pipeline) as profile:
        cpu = time.process_time()
        rows, seconds = timed(
            lambda: per_record(profile.bus, writer_schema, schema.arrow_schema, batch, count, out)
        )
        cpu = time.process_time() - cpu
    catalog = SqlCatalog(
        "bench", uri=f"sqlite:///{out / 'catalog.db'}", warehouse=f"file://{out / 'iceberg'}"
    )
    snapshot = catalog.load_table("bench.trades").current_snapshot()
    in_iceberg = int(snapshot.summary["total-records"]) if snapshot and snapshot.summary else -1
    in_delta = DeltaTable(str(out / "delta")).to_pyarrow_dataset().count_rows()
    shutil.rmtree(out)
    subset = f"; the first {count:,} of {trades:,} trades only" if count < trades else ""
    return {
        "measure": "c. per-record consumer (fastavro, pyiceberg + deltalake appends)",
        "includes": "fetch, fastavro per message, from_pylist, pyiceberg append (SQL catalog) "
        f"and write_deltalake append per batch; no rules, no exactly once{subset}",
        "trades": rows,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "checked": rows == in_iceberg == in_delta == count,
    }


# -- (d) PyFlink -------------------------------------------------------------------------


def ocf_schema(schema: AvroSchema) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The writer schema of the exported files: enums declared as their int index.

    Avro writes an enum as the zigzag varint of its index, exactly as an int, so the
    bodies are copied byte for byte; Flink's avro format cannot read an enum into its
    STRING type (it resolves against a reader schema with "string" and fails), so the
    job maps the index to the symbol itself.
    """
    parsed = json.loads(schema.text)
    enums: dict[str, list[str]] = {}
    for field in parsed["fields"]:
        kind = field["type"]
        if isinstance(kind, dict) and kind.get("type") == "enum":
            enums[field["name"]] = list(kind["symbols"])
            field["type"] = "int"
    return parsed, enums


def _zigzag(value: int) -> bytes:
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def ocf_header(writer_schema: dict[str, Any], sync: bytes) -> bytes:
    """An Avro object container file's header: magic, metadata (no codec), sync marker."""
    meta = {"avro.schema": json.dumps(writer_schema).encode(), "avro.codec": b"null"}
    header = bytearray(b"Obj\x01" + _zigzag(len(meta)))
    for key, value in meta.items():
        header += _zigzag(len(key)) + key.encode() + _zigzag(len(value)) + value
    return bytes(header + b"\x00" + sync)


def export_avro(bus: Bus, writer_schema: dict[str, Any], batch: int, out: Path) -> int:
    """Write every partition's message bodies (header dropped) to an Avro container file."""
    out.mkdir(parents=True)
    sync = os.urandom(16)
    header = ocf_header(writer_schema, sync)
    files = {p: open(out / f"part-{p}.avro", "wb") for p in bus.end_offsets(TOPIC)}  # noqa: SIM115
    rows = 0
    try:
        for handle in files.values():
            handle.write(header)
        for messages in batches(bus, batch):
            for partition in np.unique(messages["partition"].to_numpy()):
                values = messages.filter(pc.equal(messages["partition"], partition))
                offsets, data = binary_parts(values["value"].combine_chunks())
                starts = offsets[:-1]
                assert (data[starts] == 0).all(), "a message without the Confluent magic byte"
                keep = np.ones(len(data), dtype=bool)
                keep[: offsets[0]] = False
                keep[offsets[-1] :] = False
                keep[(starts[:, None] + np.arange(HEADER_BYTES)).ravel()] = False
                bodies = data[keep].tobytes()
                block = _zigzag(values.num_rows) + _zigzag(len(bodies)) + bodies + sync
                files[int(partition)].write(block)
                rows += values.num_rows
    finally:
        for handle in files.values():
            handle.close()
    return rows


def flink_ddl(writer_schema: dict[str, Any], enums: dict[str, list[str]]) -> tuple[str, str, str]:
    """Source and sink columns, and the SELECT list, for the stocks trade schema."""
    source, sink, select = [], [], []
    for field in writer_schema["fields"]:
        name, kind = field["name"], field["type"]
        if name in enums:
            names = ", ".join(f"'{symbol}'" for symbol in enums[name])
            source.append(f"`{name}` INT NOT NULL")
            sink.append(f"`{name}` STRING NOT NULL")
            select.append(f"ARRAY[{names}][`{name}` + 1]")
            continue
        if isinstance(kind, dict) and kind.get("logicalType") == "timestamp-micros":
            # Flink's avro format reads TIMESTAMP up to precision 3 only: read the long.
            source.append(f"`{name}` BIGINT NOT NULL")
            sink.append(f"`{name}` TIMESTAMP_LTZ(6) NOT NULL")
            select.append(f"TO_TIMESTAMP_LTZ(`{name}`, 6)")
            continue
        if isinstance(kind, dict) and kind.get("type") == "array" and kind["items"] == "string":
            sql = "ARRAY<STRING NOT NULL> NOT NULL"
        else:
            sql = {"long": "BIGINT", "int": "INT", "double": "DOUBLE", "string": "STRING"}[kind]
            sql += " NOT NULL"
        source.append(f"`{name}` {sql}")
        sink.append(f"`{name}` {sql}")
        select.append(f"`{name}`")
    return ", ".join(source), ", ".join(sink), ", ".join(select)


def flink_spec(
    writer_schema: dict[str, Any], enums: dict[str, list[str]], parallelism: int, work: Path
) -> dict[str, Any]:
    """The DDL and the INSERTs of contender (d): Avro files -> Parquet, then -> Iceberg."""
    jars = sorted(FLINK_JARS.glob("*.jar"))
    source, sink, select = flink_ddl(writer_schema, enums)

    def files(name: str, path: Path, columns: str, options: str) -> str:
        return (
            f"CREATE TABLE {name} ({columns}) WITH ('connector' = 'filesystem', "
            f"'path' = '{path.as_uri()}', {options})"
        )

    parquet = (
        "'format' = 'parquet', 'parquet.compression' = 'ZSTD', "
        "'parquet.compression.codec.zstd.level' = '1', "
        # int64 microseconds as lakeforge writes them, not Flink's default INT96.
        "'parquet.write.int64.timestamp' = 'true', 'parquet.timestamp.time.unit' = 'micros', "
        f"'parquet.dictionary.page.size' = '{DICTIONARY_PAGE_LIMIT}'"
    )
    return {
        "jars": [path.as_uri() for path in jars],
        "parallelism": parallelism,
        "statements": [
            files("src", work / "flink_in", source, "'format' = 'avro'"),
            files("src_empty", work / "flink_empty", source, "'format' = 'avro'"),
            files("dst", work / "flink_out", sink, parquet),
            files("dst_empty", work / "flink_empty_out", sink, parquet),
            "CREATE CATALOG ice WITH ('type' = 'iceberg', 'catalog-type' = 'hadoop', "
            f"'warehouse' = '{(work / 'flink_iceberg').as_uri()}')",
            "CREATE DATABASE ice.bench",
            f"CREATE TABLE ice.bench.trades ({sink}) WITH ("
            "'write.parquet.compression-codec' = 'zstd', "
            "'write.parquet.compression-level' = '1')",
        ],
        "warmup": f"INSERT INTO dst_empty SELECT {select} FROM src_empty",
        "inserts": [
            f"INSERT INTO dst SELECT {select} FROM src",
            f"INSERT INTO ice.bench.trades SELECT {select} FROM src",
        ],
    }


def run_flink(folder: Path, batch: int, trades: int, parallelism: int, work: Path) -> list[Result]:
    """Export the bodies once, then one PyFlink process: warm-up, Parquet job, Iceberg job."""
    labels = (
        "d. PyFlink SQL job, Avro files -> Parquet (filesystem connector)",
        "d. PyFlink SQL job, Avro files -> Iceberg (Hadoop catalog)",
    )
    hadoop = sorted((FLINK_JARS / "hadoop").glob("*.jar"))
    if not FLINK_PYTHON.exists() or not hadoop:
        reason = f"no {FLINK_PYTHON} or JARs in {FLINK_JARS}: bash bench/side_by_side_setup.sh"
        return [{"measure": label, "not_measured": reason} for label in labels]
    pipeline = load(folder)
    schema = AvroSchema.load(pipeline.schema_path(pipeline.topic(TOPIC)))
    writer_schema, enums = ocf_schema(schema)
    with open_local(pipeline) as profile:
        exported = export_avro(profile.bus, writer_schema, batch, work / "flink_in")
    assert exported == trades, exported
    (work / "flink_empty").mkdir()
    (work / "flink_empty" / "empty.avro").write_bytes(ocf_header(writer_schema, os.urandom(16)))
    spec_path = work / "flink_spec.json"
    spec_path.write_text(json.dumps(flink_spec(writer_schema, enums, parallelism, work), indent=2))
    # Flink's client and Iceberg's catalog need Hadoop's classes on the JVM's classpath.
    environment = {**os.environ, "HADOOP_CLASSPATH": ":".join(map(str, hadoop))}
    launched = time.monotonic()
    done = subprocess.run(
        [str(FLINK_PYTHON), str(ROOT / "bench" / "flink_job.py"), str(spec_path)],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
    )
    wall = time.monotonic() - launched
    if done.returncode != 0:
        lines = done.stderr.splitlines()
        errors = [line for line in lines if "Exception" in line or "Error" in line]
        reason = f"the Flink job failed (exit {done.returncode}): " + " | ".join(
            errors[-3:] or lines[-3:]
        )
        return [{"measure": label, "not_measured": reason} for label in labels]
    timing = json.loads(done.stdout.strip().splitlines()[-1])
    written = [p for p in (work / "flink_out").rglob("*") if p.is_file() and p.name[0] != "."]
    in_parquet = sum(pq.read_metadata(path).num_rows for path in written)
    # The enum's index came through as its name (a wrong mapping would give nulls).
    names = {
        name
        for path in written
        for name in pq.read_table(path, columns=["exchange"])[0].unique().to_pylist()
    }
    codecs = {pq.read_metadata(p).row_group(0).column(0).compression for p in written}
    in_iceberg, iceberg_files = iceberg_rows(work / "flink_iceberg" / "bench" / "trades")
    for name in ("flink_in", "flink_out", "flink_empty", "flink_empty_out", "flink_iceberg"):
        shutil.rmtree(work / name, ignore_errors=True)
    left_out = (
        f"Left out: start-up (JVM, gateway, DDL) {timing['startup_s']:.1f} s, a warm-up job "
        f"over an empty input (a job's fixed cost) {timing['warmup_s']:.1f} s, the export of "
        f"the Avro bodies to files (the process in all: {wall:.1f} s)"
    )
    common = (
        f"job submitted -> finished, batch mode, parallelism {parallelism}: planning, local "
        "mini-cluster start and scheduling, Avro decode (Java), enum index -> name, "
    )
    parquet_job, iceberg_job = timing["jobs"]
    for job in (parquet_job, iceberg_job):
        running = job["seconds"] - timing["warmup_s"]
        job["net"] = (
            f" Less the empty job's fixed cost: {trades / running:,.0f} trades/s "
            "(an estimate: that cost varies from job to job)."
            if running > 0
            else ""
        )
    return [
        {
            "measure": labels[0],
            "includes": f"{common}zstd-1 Parquet ({len(written)} files); no rules, no table "
            f"format, no commits. {left_out}.{parquet_job['net']}",
            "trades": in_parquet,
            "seconds": parquet_job["seconds"],
            "cpu_seconds": parquet_job["cpu_s"],
            "startup_seconds": timing["startup_s"],
            "empty_job_seconds": timing["warmup_s"],
            "process_seconds": wall,
            "codecs": sorted(codecs),
            "checked": in_parquet == trades and names <= set(enums["exchange"]),
        },
        {
            "measure": labels[1],
            "includes": f"{common}zstd-1 Parquet ({iceberg_files} files), one Iceberg commit "
            f"at the end (batch mode); no rules, no Delta, no log positions. Runs right after "
            f"the Parquet job in the same JVM. {left_out}.{iceberg_job['net']}",
            "trades": in_iceberg,
            "seconds": iceberg_job["seconds"],
            "cpu_seconds": iceberg_job["cpu_s"],
            "checked": in_iceberg == trades,
        },
    ]


def flink_versions() -> str:
    """PyFlink's and the JVM's versions, for the report."""
    if not FLINK_PYTHON.exists():
        return "PyFlink not installed"
    check = "from importlib.metadata import version; print(version('apache-flink'))"
    flink = subprocess.run(
        [str(FLINK_PYTHON), "-c", check], capture_output=True, text=True, check=False
    )
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    jvm = java.stderr.splitlines()[0] if java.stderr else "no java"
    return f"apache-flink {flink.stdout.strip()}, {jvm}, Iceberg flink runtime 2.1 1.11.0"


def iceberg_rows(table: Path) -> tuple[int, int]:
    """Rows and data files in a Hadoop-catalog Iceberg table's current snapshot."""
    versions = sorted(table.glob("metadata/v*.metadata.json"), key=lambda p: int(p.name[1:-14]))
    if not versions:
        return -1, 0
    snapshot = StaticTable.from_metadata(versions[-1].as_uri()).current_snapshot()
    if snapshot is None or snapshot.summary is None:
        return -1, 0
    summary = snapshot.summary
    return int(summary["total-records"]), int(summary["total-data-files"])


# -- the report --------------------------------------------------------------------------


def table(results: Result) -> str:
    measures = results["measures"]
    reference = next((m for m in measures if m.get("reference")), None)
    lines = [
        "| measure | trades | seconds | trades/s | ratio to (a) | CPU s | rows ok | includes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in measures:
        if "not_measured" in m:
            lines.append(f"| {m['measure']} | | | not measured | | | | {m['not_measured']} |")
            continue
        ratio = f"{m['per_s'] / reference['per_s']:.2f}x" if reference else "n/a"
        checked = "yes" if m["checked"] else "**NO**"
        cpu = f"{m['cpu_seconds']:.1f}" if "cpu_seconds" in m else ""
        lines.append(
            f"| {m['measure']} | {m['trades']:,} | {m['seconds']:.1f} | {m['per_s']:,.0f} | "
            f"{ratio} | {cpu} | {checked} | {m['includes']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=10_000_000)
    parser.add_argument("--batch", type=int, default=100_000, help="messages per batch (b, c)")
    parser.add_argument("--only", default="a,b,c,d", help="contenders to run, e.g. a,b")
    parser.add_argument("--per-record-trades", type=int, default=1_000_000, help="0: all")
    parser.add_argument("--streaming", action="store_true", help="also (a) producer + runner")
    parser.add_argument("--flink-parallelism", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--workdir", type=Path, help="where data goes (default: a temp dir)")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    parser.add_argument(
        "--out", type=Path, default=ROOT / f"bench/results/side_by_side-{stamp}.json"
    )
    args = parser.parse_args()
    only = {name.strip() for name in args.only.split(",")}
    os.environ["LAKEFORGE__STREAM__BATCH_ROWS"] = str(args.batch)

    results: Result = {"machine": describe(), "trades": args.trades, "batch": args.batch}
    results["load_average_at_start"] = os.getloadavg()
    if "d" in only:
        results["flink"] = flink_versions()
    measures: list[Result] = []
    results["measures"] = measures
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        folder = fresh(work, "stocks")
        results["input"] = produce(folder, args.trades)
        if "a" in only:
            measures.append({**lakeforge_catch_up(folder, args.trades), "reference": True})
            if args.streaming:
                measures.append(lakeforge_streaming(work, args.trades))
        if "b" in only:
            measures.append(run_ceiling(folder, args.batch, args.trades, work))
        if "c" in only:
            measures.append(
                run_per_record(folder, args.batch, args.trades, args.per_record_trades, work)
            )
        if "d" in only:
            measures += run_flink(folder, args.batch, args.trades, args.flink_parallelism, work)
    for m in measures:
        if "seconds" in m:
            m["per_s"] = m["trades"] / m["seconds"]
    results["load_average_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(markdown(results["machine"]))
    load = results["load_average_at_start"][0], results["load_average_at_end"][0]
    print(
        f"Input: {args.trades:,} trades produced once by lakeforge's producer "
        f"({results['input']['producer_per_s']:,.0f} trades/s, untimed here) into the "
        f"embedded log ({results['input']['partitions']} partitions); load average "
        f"{load[0]:.1f} at the start, {load[1]:.1f} at the end. Results: {args.out}"
    )
    if "flink" in results:
        print(f"(d): {results['flink']}.")
    print()
    print(table(results))
    if any(not m.get("checked", True) for m in measures):
        sys.exit(1)


if __name__ == "__main__":
    main()
