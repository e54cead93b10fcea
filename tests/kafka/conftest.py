"""A real Kafka broker, started once per test session (see ``tests/kafka_broker.py``)."""

from collections.abc import Iterator

import pytest

from tests.kafka_broker import BrokerError, KafkaBroker


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[str]:
    """The bootstrap address of a single-node KRaft broker on 127.0.0.1."""
    broker = KafkaBroker()
    try:
        broker.start()
    except BrokerError as error:
        # Fail, never skip: a Kafka suite that silently does not run proves nothing.
        pytest.fail(f"could not start the Kafka test broker: {error}", pytrace=False)
    yield broker.bootstrap
    broker.stop()
