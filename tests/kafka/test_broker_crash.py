"""The broker dies (SIGKILL) under a KafkaBus and comes back: clear errors, nothing lost.

These tests kill a broker of their own, never the session's shared one, set up to
come back quickly (``QUICK_RESTART``).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import pyarrow as pa
import pytest

from lakeforge.bus import TopicSpec
from lakeforge.bus.kafka import KafkaBus
from lakeforge.errors import TransientError
from tests.bus.contract import read_range
from tests.kafka_broker import QUICK_RESTART, BrokerError, KafkaBroker

T = TypeVar("T")

#: A few seconds: the bus must give up about then while the broker is dead.
SHORT_TIMEOUT_S = 3.0


@pytest.fixture(scope="module")
def own_broker() -> Iterator[KafkaBroker]:
    """A broker for these tests alone, which they kill and start again."""
    broker = KafkaBroker(properties=QUICK_RESTART)
    try:
        broker.start()
    except BrokerError as error:
        pytest.fail(f"could not start the Kafka test broker: {error}", pytrace=False)
    yield broker
    broker.stop()


@pytest.fixture
def crashing_broker(own_broker: KafkaBroker) -> KafkaBroker:
    """The module's broker, running (started again if a failed test left it dead)."""
    own_broker.start()
    return own_broker


def numbered(first: int, count: int) -> pa.Table:
    return pa.table({"value": expected_values(first + count)[first:]})


def expected_values(count: int) -> list[bytes]:
    return [f"m{i}".encode() for i in range(count)]


def when_back(call: Callable[[], T], timeout_s: float = 60) -> T:
    """``call`` once the restarted broker serves it: what any caller of the bus does.

    Used for reads only: a retried append could store its batch twice.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return call()
        except TransientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_a_dead_broker_is_a_quick_transient_error_and_nothing_is_lost(
    crashing_broker: KafkaBroker,
) -> None:
    broker = crashing_broker
    bus = KafkaBus(broker.bootstrap, request_timeout_s=SHORT_TIMEOUT_S)
    topic = f"crash-{uuid.uuid4().hex[:8]}"
    bus.create_topic(TopicSpec(topic, 1))
    assert bus.append(topic, 0, numbered(0, 200)) == 0
    assert bus.fetch(topic, 0, 0, 10).count == 10  # the consumer is connected too

    broker.kill()
    calls: dict[str, Callable[[], object]] = {
        "append": lambda: bus.append(topic, 0, numbered(200, 100)),
        "fetch": lambda: bus.fetch(topic, 0, 0, 500),
        "end_offsets": lambda: bus.end_offsets(topic),
    }
    for name, call in calls.items():
        began = time.monotonic()
        with pytest.raises(TransientError, match=f"Kafka at {broker.bootstrap}") as raised:
            call()
        took = time.monotonic() - began
        assert took < SHORT_TIMEOUT_S + 4, f"{name} took {took:.1f} s to give up"
        message = str(raised.value)
        assert "cannot be reached" in message or "did not answer" in message, message
        assert "start Kafka" in message  # the hint
        if name == "append":
            assert "(0 stored)" in message

    broker.start()
    # The same bus reconnects by itself; what the dead broker had acknowledged is there,
    # and the append that failed while it was down stored nothing.
    assert when_back(lambda: bus.end_offsets(topic)) == {0: 200}
    assert bus.append(topic, 0, numbered(200, 100)) == 200
    assert read_range(bus, topic, 0, 0, 300)["value"].to_pylist() == expected_values(300)
    bus.close()


def test_appends_in_flight_when_the_broker_dies_complete_exactly_once(
    crashing_broker: KafkaBroker,
) -> None:
    # A long timeout: appends wait out the crash and the restart. The producer resends
    # what the dead broker never acknowledged, and the broker, which rebuilt the
    # producer's sequence numbers from its log, drops what it had already stored: the
    # idempotent producer leaves no gap and no duplicate.
    broker = crashing_broker
    bus = KafkaBus(broker.bootstrap, request_timeout_s=90)
    topic = f"crash-{uuid.uuid4().hex[:8]}"
    bus.create_topic(TopicSpec(topic, 1))
    batches, size = 30, 2_000
    firsts: list[int] = []
    spans: list[tuple[float, float]] = []  # when each append began and returned
    failed: list[BaseException] = []

    def append_all() -> None:
        try:
            for i in range(batches):
                began = time.monotonic()
                firsts.append(bus.append(topic, 0, numbered(i * size, size)))
                spans.append((began, time.monotonic()))
        except BaseException as error:
            failed.append(error)

    appender = threading.Thread(target=append_all, name="appender")
    appender.start()
    # Kill once a few batches are in, so that one is on the wire.
    deadline = time.monotonic() + 60
    while len(firsts) < 3 and appender.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    broker.kill()
    killed_at = time.monotonic()
    time.sleep(1)
    broker.start()
    back_at = time.monotonic()
    appender.join(timeout=150)
    assert not appender.is_alive(), "the appends hung after the restart"
    assert not failed, f"an append failed across the restart: {failed[0]!r}"
    # One append was under way all through the crash, or the test proved nothing.
    assert any(began < killed_at and back_at < done for began, done in spans), spans
    assert firsts == [i * size for i in range(batches)]  # contiguous: no duplicate between
    total = batches * size
    assert when_back(lambda: bus.end_offsets(topic)) == {0: total}
    assert read_range(bus, topic, 0, 0, total)["value"].to_pylist() == expected_values(total)
    bus.close()
