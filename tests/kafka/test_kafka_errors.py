"""Bad input to KafkaBus gives a clear error, quickly, never a silent hang: on a real broker.

Each case runs on :class:`~lakeforge.bus.kafka.KafkaBus` itself with a short
``request_timeout_s``, and checks the kind of error (transient or not), what it names,
its hint, and how long it took. Passwords must never show: not in errors, not in the
bus's repr, not in what librdkafka logs.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable

import pyarrow as pa
import pytest

from lakeforge.bus import TopicSpec, open_bus
from lakeforge.bus.kafka import KafkaBus
from lakeforge.errors import ConfigError, LakeforgeError, NotFoundError, TransientError
from tests.kafka_broker import KafkaBroker, SaslListener, free_port

#: The bus's short timeout in these tests, and the slack a failing call may take past it.
TIMEOUT_S = 2.0
SLACK_S = 4.0

ONE = pa.table({"value": [b"x"]})

#: Every way in: each must fail the same clear way.
CALLS: dict[str, Callable[[KafkaBus, str], object]] = {
    "fetch": lambda bus, topic: bus.fetch(topic, 0, 0, 10),
    "append": lambda bus, topic: bus.append(topic, 0, ONE),
    "end_offsets": lambda bus, topic: bus.end_offsets(topic),
    "start_offsets": lambda bus, topic: bus.start_offsets(topic),
}


def timed_failure(
    kind: type[LakeforgeError], call: Callable[[], object], match: str
) -> LakeforgeError:
    """Run ``call``, which must raise ``kind`` matching ``match`` within the time budget."""
    began = time.monotonic()
    with pytest.raises(kind, match=match) as raised:
        call()
    took = time.monotonic() - began
    assert took < TIMEOUT_S + SLACK_S, f"gave up after {took:.1f} s, not ~{TIMEOUT_S} s"
    error = raised.value
    assert error.hint, f"no hint: {error}"
    return error


@pytest.mark.parametrize("call", CALLS)
def test_nothing_listening_is_a_transient_error_saying_it_cannot_connect(call: str) -> None:
    address = f"127.0.0.1:{free_port()}"
    bus = KafkaBus(address, request_timeout_s=TIMEOUT_S)
    error = timed_failure(
        TransientError,
        lambda: CALLS[call](bus, "trades"),
        rf"Kafka at {address} cannot be reached \(.*Connection refused",
    )
    assert "start Kafka" in str(error.hint)


def test_a_host_name_that_does_not_resolve_is_a_transient_error_naming_it() -> None:
    # .invalid never resolves (RFC 2606); a DNS outage looks the same, hence transient.
    bus = KafkaBus("kafka.no-such-host.invalid:9092", request_timeout_s=TIMEOUT_S)
    error = timed_failure(
        TransientError,
        lambda: bus.end_offsets("trades"),
        r"kafka\.no-such-host\.invalid:9092 does not resolve",
    )
    assert "bootstrap servers" in str(error.hint)


@pytest.mark.parametrize(
    ("servers", "problem"),
    [
        ("kafka-1", "'kafka-1' has no port"),
        ("127.0.0.1", "'127.0.0.1' has no port"),
        ("", "are empty"),
        ("   ", "are empty"),
        ("kafka-1:9092,", "has an empty entry"),
        ("kafka-1:port", "'kafka-1:port' is not host:port"),
        ("kafka-1:0", "has port 0, outside 1-65535"),
        ("kafka 1:9092", "'kafka 1:9092' is not host:port"),
    ],
)
def test_a_malformed_bootstrap_address_is_a_config_error_at_once(
    servers: str, problem: str
) -> None:
    began = time.monotonic()
    with pytest.raises(ConfigError, match=problem) as raised:
        KafkaBus(servers, request_timeout_s=TIMEOUT_S)
    assert time.monotonic() - began < 1
    assert "host:port" in str(raised.value.hint)
    # Opening the bus by name fails the same way (the cluster profile does that).
    with pytest.raises(ConfigError, match=problem):
        open_bus("kafka", bootstrap_servers=servers)


@pytest.mark.parametrize("servers", ["[::1]:9092", "PLAINTEXT://kafka-1:9092, kafka-2:9093"])
def test_well_formed_bootstrap_addresses_are_accepted(servers: str) -> None:
    assert KafkaBus(servers).bootstrap_servers == servers


@pytest.mark.parametrize("call", CALLS)
def test_a_missing_topic_is_not_found_with_a_hint_to_create_it(
    kafka_broker: str, call: str
) -> None:
    topic = f"missing-{uuid.uuid4().hex[:8]}"
    bus = KafkaBus(kafka_broker, request_timeout_s=TIMEOUT_S)
    error = timed_failure(
        NotFoundError, lambda: CALLS[call](bus, topic), rf"topic '{topic}' does not exist"
    )
    assert "create it" in str(error.hint) and topic in str(error.hint)
    # The broker creates topics on first use by default: the bus must never ask it to.
    assert topic not in bus.topics()


def fresh_topic(bus: KafkaBus) -> str:
    name = f"sasl-{uuid.uuid4().hex[:8]}"
    bus.create_topic(TopicSpec(name, 1))
    return name


@pytest.mark.parametrize("call", ["append", "end_offsets"])
def test_a_wrong_password_is_a_config_error_naming_the_user_never_the_password(
    kafka_sasl_broker: SaslListener,
    call: str,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = f"wrong-{secrets.token_hex(8)}"
    sasl = kafka_sasl_broker
    bus = KafkaBus(sasl.bootstrap, settings=sasl.settings(wrong), request_timeout_s=TIMEOUT_S)
    error = timed_failure(
        ConfigError,
        lambda: CALLS[call](bus, "trades"),
        rf"refused the credentials of user '{sasl.username}': authentication failed",
    )
    assert not error.transient  # retrying with the same password cannot help
    assert "password" in str(error.hint)
    # What librdkafka wrote to stderr and anything logged count as shown too.
    shown = [str(error), repr(error), repr(bus), str(bus), *capfd.readouterr(), caplog.text]
    for text in shown:
        assert wrong not in text and sasl.password not in text


def test_the_right_password_works_and_stays_hidden(
    kafka_server: KafkaBroker, kafka_sasl_broker: SaslListener
) -> None:
    sasl = kafka_sasl_broker
    bus = KafkaBus(sasl.bootstrap, settings=sasl.settings(), request_timeout_s=10)
    with bus:
        assert repr(bus) == f"KafkaBus({sasl.bootstrap!r}, user={sasl.username!r})"
        topic = fresh_topic(bus)
        values = [f"v{i}".encode() for i in range(5)]
        assert bus.append(topic, 0, pa.table({"key": [b"k"] * 5, "value": values})) == 0
        assert bus.fetch(topic, 0, 0, 10).records["value"].to_pylist() == values
        assert bus.end_offsets(topic) == {0: 5}
        # An error of an authenticated bus does not show the password either.
        with pytest.raises(NotFoundError) as raised:
            bus.fetch("no-such-topic", 0, 0, 1)
        assert sasl.password not in str(raised.value)
    # Kafka's own Java client, through the same listener and user, reads the same.
    printed = kafka_server.console_consume(topic, 5, sasl=True)
    assert [r.value for r in printed] == values


def test_sasl_against_a_plaintext_listener_is_a_config_error_about_the_protocol(
    kafka_broker: str, kafka_sasl_broker: SaslListener
) -> None:
    settings = kafka_sasl_broker.settings()
    bus = KafkaBus(kafka_broker, settings=settings, request_timeout_s=TIMEOUT_S)
    error = timed_failure(
        ConfigError, lambda: bus.end_offsets("trades"), r"the SASL handshake .* failed"
    )
    assert "security_protocol" in str(error.hint)
    assert kafka_sasl_broker.password not in str(error)


def test_settings_librdkafka_refuses_are_a_config_error_without_secrets() -> None:
    address = f"127.0.0.1:{free_port()}"
    bus = KafkaBus(address, settings={"no.such.property": "1"}, request_timeout_s=TIMEOUT_S)
    timed_failure(
        ConfigError, lambda: bus.end_offsets("trades"), "not valid: No such configuration"
    )
    # librdkafka quotes a value it refuses: a secret quoted that way is redacted too.
    password = secrets.token_hex(8)
    settings = {"sasl.password": password, "security.protocol": password}
    bus = KafkaBus(address, settings=settings, request_timeout_s=TIMEOUT_S)
    error = timed_failure(ConfigError, lambda: bus.end_offsets("trades"), r"\[redacted\]")
    assert password not in str(error)
