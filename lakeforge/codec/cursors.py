"""Read positions in many Avro bodies at once, and the failures met while reading.

The decoder reads one field of every record per step. :class:`Cursors` holds, for each
record (or array item) being read, where its next value starts and where its body ends;
a record that turns out to be malformed is marked failed with a reason, its position
parked at its end, and every later step skips it, so one bad record never disturbs the
others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from lakeforge.codec.varint import I64, U8, Words

#: Every kind of decode failure, the values of the dead-letter ``kind`` column.
ERROR_KINDS = (
    "empty",
    "too_large",
    "bad_magic",
    "unknown_schema",
    "truncated",
    "trailing_bytes",
    "bad_union",
    "bad_enum",
    "bad_length",
    "bad_varint",
    "bad_utf8",
    "incompatible_schema",
)


def byte_count(count: int) -> str:
    """``count`` with its unit, as reasons say it: "1 byte", "8 bytes"."""
    return f"{count} byte" if count == 1 else f"{count} bytes"


@dataclass
class Failures:
    """The first failure of each failed message, in the order they were found."""

    positions: list[I64] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def add(self, positions: I64, kind: str, reasons: list[str]) -> None:
        """Record that the messages at ``positions`` failed; one reason per message."""
        assert kind in ERROR_KINDS, kind
        self.positions.append(positions)
        self.kinds.extend([kind] * len(positions))
        self.reasons.extend(f"{kind}: {reason}" for reason in reasons)

    def merged(self) -> tuple[I64, list[str], list[str]]:
        """All failed positions, with their kinds and reasons, in input order."""
        if not self.positions:
            return np.zeros(0, dtype=np.int64), [], []
        positions = np.concatenate(self.positions)
        order = np.argsort(positions, kind="stable")
        kinds = [self.kinds[i] for i in order]
        return positions[order], kinds, [self.reasons[i] for i in order]


@dataclass
class Bodies:
    """The message bodies of one slice of a batch, shared by all its cursors."""

    #: The message bytes, followed by :data:`~lakeforge.codec.varint.PADDING` zeros.
    buf: U8
    #: ``varint.word_view(buf)``: the 8 bytes starting at each position.
    words: Words
    #: Where each body starts in ``buf``, per record of the slice.
    start: I64
    #: The input position of each record of the slice, which failures are reported by.
    position: I64
    #: No length or count in a body can exceed this (the largest message allowed).
    max_bytes: int
    failures: Failures


@dataclass
class Cursors:
    """One read position per record (or per array item) of a slice."""

    bodies: Bodies
    #: Where each cursor reads next.
    pos: I64
    #: Where each cursor's body ends (exclusive).
    end: I64
    #: The record of the slice each cursor reads.
    row: I64
    #: False once a cursor has failed; such cursors are skipped and report nothing.
    ok: NDArray[np.bool_]
    #: True once any cursor here has failed, so steps know to mask them.
    any_failed: bool = False

    def __len__(self) -> int:
        return len(self.pos)

    @property
    def buf(self) -> U8:
        """The shared message buffer."""
        return self.bodies.buf

    @property
    def words(self) -> Words:
        """The shared 8-byte view of the message buffer."""
        return self.bodies.words

    def subset(self, rows: I64) -> Cursors:
        """Cursors for some live ones of these; :meth:`merge` brings their progress back."""
        ok = np.ones(len(rows), dtype=np.bool_)
        return Cursors(self.bodies, self.pos[rows], self.end[rows], self.row[rows], ok)

    def merge(self, rows: I64, sub: Cursors) -> None:
        """Take back the positions and failures of ``sub = self.subset(rows)``."""
        self.pos[rows] = sub.pos
        if sub.any_failed:
            self.ok[rows] = sub.ok
            self.any_failed = True

    def fail(self, mask: NDArray[np.bool_], kind: str, reason: Callable[[int], str]) -> None:
        """Mark the cursors in ``mask`` that have not failed yet as failed with ``kind``.

        ``reason(i)`` gives the text for cursor ``i``; it is called only for the cursors
        that fail here, so the cost is paid by bad records alone.
        """
        if not mask.any():
            return
        rows = np.flatnonzero(mask & self.ok)
        if rows.size == 0:
            return
        texts = [reason(int(i)) for i in rows]
        self.bodies.failures.add(self.bodies.position[self.row[rows]], kind, texts)
        self.ok[rows] = False
        self.pos[rows] = self.end[rows]
        self.any_failed = True

    def advance(self, lengths: I64 | int) -> None:
        """Move every live cursor forward; failed ones stay parked at their end."""
        self.pos += lengths
        if self.any_failed:
            np.copyto(self.pos, self.end, where=~self.ok)

    def offset(self, i: int, pos: int | None = None) -> int:
        """Where cursor ``i`` (or byte ``pos``) is, counted from the start of its body."""
        return int((self.pos[i] if pos is None else pos) - self.bodies.start[self.row[i]])

    def at(self, i: int, pos: int | None = None) -> str:
        """Where cursor ``i`` (or byte ``pos``) is: "at body byte 14, body has 16"."""
        size = self.end[i] - self.bodies.start[self.row[i]]
        return f"at body byte {self.offset(i, pos)}, body has {size}"

    def check_room(self, needed: I64 | int, field_path: str) -> None:
        """Fail the cursors whose body has fewer than ``needed`` bytes left."""
        short = self.pos + needed > self.end
        if not short.any():
            return
        sizes = np.broadcast_to(np.asarray(needed), self.pos.shape)
        self.fail(
            short,
            "truncated",
            lambda i: f"field '{field_path}' needs {byte_count(int(sizes[i]))} {self.at(i)}",
        )
