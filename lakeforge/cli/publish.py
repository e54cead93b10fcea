"""``lakeforge publish``: put raw bytes on a topic, for tests and replays."""

from __future__ import annotations

import base64
import binascii
import sys
from pathlib import Path

import click
import pyarrow as pa

from lakeforge.cli.common import load, pipeline_option
from lakeforge.errors import ConfigError, NotFoundError
from lakeforge.profiles import open_profile


def split_messages(data: bytes, split: str) -> list[bytes]:
    """Cut input into messages: whole, one per line, or one base64 message per line."""
    if split == "none":
        return [data]
    lines = [line for line in data.split(b"\n") if line.strip()]
    if split == "lines":
        return lines
    messages = []
    for number, line in enumerate(lines, start=1):
        try:
            messages.append(base64.b64decode(line.strip(), validate=True))
        except binascii.Error as exc:
            raise ConfigError(f"input line {number}: not valid base64 ({exc})") from None
    return messages


@click.command()
@pipeline_option
@click.argument("topic")
@click.option(
    "--file",
    "source",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Read from this file instead of standard input.",
)
@click.option(
    "--split",
    type=click.Choice(["none", "lines", "base64-lines"]),
    default="none",
    show_default=True,
    help="The whole input is one message, or each line is one (raw or base64).",
)
@click.option("--partition", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--key", help="Message key (text).")
def publish(
    pipeline_dir: Path,
    topic: str,
    source: Path | None,
    split: str,
    partition: int,
    key: str | None,
) -> None:
    """Append raw bytes to TOPIC exactly as given: no encoding, no checks."""
    pipeline = load(pipeline_dir)
    data = source.read_bytes() if source else sys.stdin.buffer.read()
    messages = split_messages(data, split)
    if not messages:
        raise ConfigError(
            "nothing to publish: the input is empty", "pass --split none for one empty message"
        )
    with open_profile(pipeline) as profile:
        topics = profile.bus.topics()
        if topic not in topics:
            raise NotFoundError(f"unknown topic {topic!r}", f"topics: {', '.join(sorted(topics))}")
        if partition >= topics[topic].partitions:
            raise NotFoundError(
                f"topic {topic!r} has no partition {partition}",
                f"use 0 to {topics[topic].partitions - 1}",
            )
        keys = pa.array([key.encode() if key else None] * len(messages), pa.binary())
        batch = pa.table({"key": keys, "value": pa.array(messages, pa.binary())})
        first = profile.bus.append(topic, partition, batch)
    click.echo(
        f"published {len(messages)} message(s) to {topic}[{partition}] at offsets "
        f"{first}..{first + len(messages) - 1}"
    )
