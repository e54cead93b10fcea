"""A schema that changes while the runner runs: producers move to version 2 of the trade
schema (registered in the registry) with a new optional field, exchange_code.

A real StreamRunner runs in a thread on the local profile, started with version 1 of
the schema file. When the user has updated the file, the runner takes it without a
restart: every message of both versions lands once, both bronze formats gain the
column (null for version 1 rows) and ``lakeforge verify`` passes. When the file still
lacks the field, or was changed in a way the table cannot take, the runner goes on with
the schema it has and says so, once.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pytest

from lakeforge.bus.produce import produce
from lakeforge.codec import AvroSchema, Decoder
from lakeforge.observe.metrics import Metrics
from lakeforge.profiles import open_local
from lakeforge.profiles.base import Profile
from lakeforge.spec.load import load_pipeline
from lakeforge.stream.runner import StreamRunner
from tests.codec.samples import Registry, fastavro_schema, framed, write_body
from tests.lakeforge_cli import lakeforge_json
from tests.registry.schema_edits import field_of
from tests.stream.test_hostile_input import TRADE, trade

V2 = copy.deepcopy(TRADE)
V2["fields"].append({"name": "exchange_code", "type": ["null", "string"], "default": None})
#: Version 2 as a careless edit of the file might make it: trade_id became a string.
V2_BROKEN = copy.deepcopy(V2)
field_of(V2_BROKEN, "trade_id")["type"] = "string"
CODES = ["XNAS", "XNYS", "ARCX"]
Format = Literal["iceberg", "delta"]
FORMATS: tuple[Format, ...] = ("iceberg", "delta")
#: How long a test waits for the runner to commit what was published.
LANDING_S = 60.0


@dataclass
class Stocks:
    """The stocks pipeline with a runner running, and a profile to publish with."""

    folder: Path
    profile: Profile
    runner: StreamRunner
    thread: threading.Thread
    #: Every published trade by trade_id: (schema id, exchange_code sent or None).
    sent: dict[int, tuple[int, str | None]]

    def write_schema(self, schema: dict[str, Any]) -> None:
        """Update the pipeline's schema file, as the user would."""
        (self.folder / "schemas" / "trade.avsc").write_text(json.dumps(schema, indent=2))

    def publish(self, schema: dict[str, Any], count: int) -> int:
        """Register ``schema`` and publish ``count`` trades written with it; its id."""
        registered = self.profile.registry.register("trades-value", json.dumps(schema))
        parsed = fastavro_schema(json.dumps(schema))
        has_code = "exchange_code" in {f["name"] for f in schema["fields"]}
        values, keys = [], []
        for _ in range(count):
            trade_id = len(self.sent) + 1
            record = trade(trade_id=trade_id, symbol=["AAPL", "MSFT", "IBM"][trade_id % 3])
            code = CODES[trade_id % len(CODES)] if has_code else None
            if has_code:
                record["exchange_code"] = code
            values.append(framed(registered.schema_id, write_body(parsed, record)))
            keys.append(record["symbol"].encode())
            self.sent[trade_id] = (registered.schema_id, code)
        partitions = len(self.profile.bus.end_offsets("trades"))
        produce(
            self.profile.bus,
            "trades",
            pa.array(values, pa.binary()),
            pa.array(keys, pa.binary()),
            partitions,
        )
        return registered.schema_id

    def wait_until_landed(self) -> None:
        """Wait until the runner committed every message published.

        The runner's count, not the table's positions: opening the table while the runner
        changes its schema would race it (a reader finishes a change it finds half done).
        """
        deadline = time.monotonic() + LANDING_S
        while self.runner.stats.messages < len(self.sent):
            assert self.thread.is_alive(), "the runner stopped"
            if time.monotonic() > deadline:
                raise AssertionError(f"bronze did not get {len(self.sent)} trades in time")
            time.sleep(0.05)
        assert self.runner.stats.messages == len(self.sent)

    def bronze(self, fmt: Format) -> pa.Table:
        """The bronze table as one format reads it."""
        return self.profile.warehouse.open_table("bronze.trades").read(fmt)


@pytest.fixture
def running(stocks: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Stocks]:
    """The stocks pipeline (schema file version 1) with a StreamRunner in a thread."""
    caplog.set_level(logging.INFO, logger="lakeforge.stream")
    pipeline = load_pipeline(stocks, environ={})
    runner_profile = open_local(pipeline)
    runner = StreamRunner(pipeline, runner_profile, Metrics())
    stop = threading.Event()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            runner.run(stop)
        except BaseException as error:  # the test says so, rather than the thread
            failed.append(error)

    thread = threading.Thread(target=run, name="runner")
    thread.start()
    profile = open_local(pipeline)
    try:
        yield Stocks(stocks, profile, runner, thread, {})
    finally:
        stop.set()
        thread.join(LANDING_S)
        profile.close()
        runner.close()
        runner_profile.close()
    assert not thread.is_alive(), "the runner did not stop"
    assert not failed, failed


def said(caplog: pytest.LogCaptureFixture, level: int, text: str) -> list[str]:
    """The runner's log lines at ``level`` that contain ``text``."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == level and r.name.startswith("lakeforge.stream") and text in r.getMessage()
    ]


def check_landed(stocks: Stocks, fmt: Format, has_code: bool) -> None:
    """Every trade sent is in bronze once, with the exchange_code it was sent with."""
    rows = stocks.bronze(fmt)
    assert ("exchange_code" in rows.column_names) is has_code, fmt
    positions = set(zip(rows["_partition"].to_pylist(), rows["_offset"].to_pylist(), strict=True))
    assert len(positions) == rows.num_rows, f"{fmt}: a message is in bronze twice"
    columns = ["trade_id", "_schema_id"] + (["exchange_code"] if has_code else [])
    landed = {row["trade_id"]: row for row in rows.select(columns).to_pylist()}
    assert sorted(landed) == sorted(stocks.sent), fmt
    for trade_id, (schema_id, code) in stocks.sent.items():
        assert landed[trade_id]["_schema_id"] == schema_id, (fmt, trade_id)
        if has_code:
            assert landed[trade_id]["exchange_code"] == code, (fmt, trade_id)


def test_an_updated_schema_file_is_taken_without_a_restart(
    running: Stocks, caplog: pytest.LogCaptureFixture
) -> None:
    v1 = running.publish(TRADE, 300)
    running.wait_until_landed()  # bronze has version 1's columns only
    assert "exchange_code" not in running.bronze("delta").column_names
    running.write_schema(V2)
    v2 = running.publish(V2, 300)
    running.publish(TRADE, 100)  # a producer still on version 1
    running.publish(V2, 100)
    running.wait_until_landed()
    assert v1 != v2
    taken = "bronze trades: schemas/trade.avsc now has field exchange_code; bronze gains the column"
    assert said(caplog, logging.INFO, taken) == [taken]
    assert not said(caplog, logging.WARNING, "writer schema id")
    for fmt in FORMATS:
        check_landed(running, fmt, has_code=True)
    codes = {row["exchange_code"] for row in running.bronze("iceberg").to_pylist()}
    assert codes == {None, *CODES}
    report = lakeforge_json("verify", pipeline=running.folder)
    assert report["ok"], report


def test_fields_the_schema_file_lacks_are_named_once(
    running: Stocks, caplog: pytest.LogCaptureFixture
) -> None:
    running.publish(TRADE, 100)
    v2 = running.publish(V2, 200)
    running.wait_until_landed()
    running.publish(V2, 200)  # more batches of version 2: said once all the same
    running.wait_until_landed()
    warning = (
        f"bronze trades: messages of writer schema id {v2} have field exchange_code, which "
        "schemas/trade.avsc lacks: their values are not kept in bronze until "
        "schemas/trade.avsc has it"
    )
    assert len(said(caplog, logging.WARNING, warning)) == 1
    assert running.thread.is_alive()
    for fmt in FORMATS:
        check_landed(running, fmt, has_code=False)
    report = lakeforge_json("verify", pipeline=running.folder)
    assert report["ok"], report


def test_an_incompatible_schema_file_is_not_taken(
    running: Stocks, caplog: pytest.LogCaptureFixture
) -> None:
    running.publish(TRADE, 100)
    running.wait_until_landed()
    running.write_schema(V2_BROKEN)
    running.publish(V2, 200)
    running.wait_until_landed()
    running.publish(V2, 200)
    running.wait_until_landed()
    refused = said(caplog, logging.ERROR, "schemas/trade.avsc changed while running")
    assert len(refused) == 1, refused
    assert (
        "bronze[trades]: the existing table bronze.trades: column trade_id: the table has "
        "int64 not null, asked for string not null"
    ) in refused[0]
    assert "cannot replace version 2 of trades-value" in refused[0]  # the registry's word
    assert not said(caplog, logging.INFO, "now has field")
    for fmt in FORMATS:
        check_landed(running, fmt, has_code=False)
        assert running.bronze(fmt).schema.field("trade_id").type == pa.int64()
    # The file fixed, the next batch of version 2 makes the runner take it. (The version
    # 2 rows stored before lack their exchange_code for good: verify, which decodes the
    # log with the file as it is now, would say they differ.)
    running.write_schema(V2)
    running.publish(V2, 100)
    running.wait_until_landed()
    assert said(caplog, logging.INFO, "schemas/trade.avsc now has field exchange_code")
    for fmt in FORMATS:
        rows = running.bronze(fmt).sort_by("trade_id")
        assert rows["trade_id"].to_pylist() == sorted(running.sent), fmt
        codes = rows["exchange_code"].to_pylist()
        assert codes[:-100] == [None] * (rows.num_rows - 100), fmt
        assert codes[-100:] == [running.sent[i][1] for i in sorted(running.sent)[-100:]], fmt


def test_the_decoder_names_the_fields_each_batch_drops() -> None:
    """What the runner acts on: per batch, the writer ids whose fields the reader lacks
    (nested records, in arrays and unions, too; a field read by its alias is read)."""
    leg = {"type": "record", "name": "Leg", "fields": [{"name": "qty", "type": "int"}]}
    reader = {
        "type": "record",
        "name": "Order",
        "fields": [
            {"name": "id", "type": "long", "aliases": ["order_id"]},
            {"name": "legs", "type": {"type": "array", "items": leg}},
        ],
    }
    leg_v2 = {**leg, "fields": [*leg["fields"], {"name": "venue", "type": "string"}]}
    writer = {
        "type": "record",
        "name": "Order",
        "fields": [
            {"name": "order_id", "type": "long"},
            {"name": "legs", "type": {"type": "array", "items": leg_v2}},
            {"name": "note", "type": ["null", "string"], "default": None},
        ],
    }
    registry = Registry({1: json.dumps(reader), 2: json.dumps(writer)})
    decoder = Decoder(AvroSchema.parse(json.dumps(reader)), registry)
    old = framed(1, write_body(fastavro_schema(json.dumps(reader)), {"id": 1, "legs": []}))
    new_record = {"order_id": 2, "legs": [{"qty": 5, "venue": "XNAS"}], "note": "hi"}
    new = framed(2, write_body(fastavro_schema(json.dumps(writer)), new_record))
    assert decoder.decode(pa.array([old], pa.binary())).unread_fields == {}
    decoded = decoder.decode(pa.array([old, new, old], pa.binary()))
    assert decoded.unread_fields == {2: ("legs[].venue", "note")}
    assert decoded.table.to_pylist()[1] == {"id": 2, "legs": [{"qty": 5}]}
    assert decoder.unread_fields(1) == () and decoder.failure(2) is None
    assert sorted(decoder.writer_ids) == [1, 2]
