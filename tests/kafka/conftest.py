"""A real Kafka broker, started once per test session (see ``tests/kafka_broker.py``)."""

from collections.abc import Iterator

import pytest

from tests.kafka_broker import BrokerError, KafkaBroker, SaslListener, TlsListener


@pytest.fixture(scope="session")
def kafka_server() -> Iterator[KafkaBroker]:
    """The session's single-node KRaft broker on 127.0.0.1: PLAINTEXT and SASL listeners.

    Shared by every Kafka test: never kill or stop it (``test_broker_crash`` has its own).
    """
    broker = KafkaBroker()
    try:
        broker.start()
    except BrokerError as error:
        # Fail, never skip: a Kafka suite that silently does not run proves nothing.
        pytest.fail(f"could not start the Kafka test broker: {error}", pytrace=False)
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def kafka_broker(kafka_server: KafkaBroker) -> str:
    """The bootstrap address of the session broker's PLAINTEXT listener."""
    return kafka_server.bootstrap


@pytest.fixture(scope="session")
def kafka_sasl_broker(kafka_server: KafkaBroker) -> SaslListener:
    """The session broker's SASL_PLAINTEXT listener (SASL/PLAIN): address, user, password."""
    return kafka_server.sasl


@pytest.fixture(scope="session")
def kafka_tls_broker(kafka_server: KafkaBroker) -> TlsListener:
    """The session broker's SSL listener and the CA file that verifies it."""
    return kafka_server.tls
