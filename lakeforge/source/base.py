"""The source seam: generators that produce records as Arrow batches.

A generator is found by the name the pipeline gives (``source.generator``) through a
lazy registry, so importing lakeforge never imports every generator. A generator is
resumable: it is built from the last record id already on the bus, so a restarted
producer continues its sequence instead of repeating it.
"""

from __future__ import annotations

import abc
import importlib

import pyarrow as pa

from lakeforge.errors import ConfigError


class Generator(abc.ABC):
    """Makes batches of records whose columns match the topic's Arrow schema.

    A column with few distinct values may come dictionary-encoded: the encoder then
    encodes each distinct value once, and the producer hashes each distinct key once.
    """

    #: The column holding an increasing record id, used to resume; None if there is none.
    id_column: str | None = None

    @abc.abstractmethod
    def next_batch(self, rows: int, start_us: int, end_us: int) -> pa.Table:
        """The next ``rows`` records, with event times spread over [start_us, end_us)."""


#: Generator name -> "module:Class". Third parties can add theirs here.
GENERATORS: dict[str, str] = {
    "trades": "lakeforge.source.trades:TradeGenerator",
}


def load_generator(name: str) -> type[Generator]:
    """The generator class registered as ``name``."""
    target = GENERATORS.get(name)
    if target is None:
        raise ConfigError(
            f"unknown source generator {name!r}",
            f"use one of: {', '.join(sorted(GENERATORS))}",
        )
    module_name, class_name = target.split(":")
    cls: type[Generator] = getattr(importlib.import_module(module_name), class_name)
    return cls
