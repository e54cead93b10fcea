"""The cluster profile over SASL: the password comes from the environment or a secret
file, works against the real broker's SASL/PLAIN listener, and is never shown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest
import yaml

from lakeforge.registry import EmbeddedRegistry, RegistryServer
from tests.kafka.cluster import make_cluster_pipeline
from tests.kafka_broker import SaslListener, TlsListener
from tests.lakeforge_cli import lakeforge, lakeforge_json


@pytest.fixture
def sasl_pipeline(stocks: Path, kafka_sasl_broker: SaslListener) -> Iterator[Path]:
    """The stocks pipeline whose cluster profile reaches Kafka over SASL_PLAINTEXT."""
    registry = EmbeddedRegistry(":memory:")
    with RegistryServer(registry) as server:
        make_cluster_pipeline(stocks, kafka_sasl_broker.bootstrap, server.url)
        profile = stocks / "profiles" / "cluster.yaml"
        settings = yaml.safe_load(profile.read_text())
        settings["kafka"] |= {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "PLAIN",
            "sasl_username": kafka_sasl_broker.username,
            "request_timeout": "5s",
        }
        profile.write_text(yaml.safe_dump(settings))
        yield stocks
    registry.close()


def test_sasl_with_the_password_from_the_environment(
    sasl_pipeline: Path, kafka_sasl_broker: SaslListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKEFORGE__KAFKA__SASL_PASSWORD", kafka_sasl_broker.password)
    for command in (
        ["produce", "--count", "5000", "--rate", "0"],
        ["process", "--until-drained"],
        ["status"],
    ):
        result = lakeforge(*command, "--profile", "cluster", pipeline=sasl_pipeline)
        assert kafka_sasl_broker.password not in result.stdout + result.stderr
    report = lakeforge_json("verify", "--profile", "cluster", pipeline=sasl_pipeline)
    assert report["ok"], report
    state = sasl_pipeline / ".lakeforge"
    for path in state.rglob("*"):
        if path.is_file() and path.stat().st_size < 10_000_000:
            assert kafka_sasl_broker.password.encode() not in path.read_bytes(), path


def test_sasl_with_the_password_from_a_secret_file(
    sasl_pipeline: Path, kafka_sasl_broker: SaslListener, tmp_path: Path
) -> None:
    secret = tmp_path / "kafka-password"
    secret.write_text(kafka_sasl_broker.password + "\n")
    profile = sasl_pipeline / "profiles" / "cluster.yaml"
    settings = yaml.safe_load(profile.read_text())
    settings["kafka"]["sasl_password_file"] = str(secret)
    profile.write_text(yaml.safe_dump(settings))
    lakeforge(
        "produce", "--count", "1000", "--rate", "0", "--profile", "cluster", pipeline=sasl_pipeline
    )
    report = lakeforge_json("verify", "--profile", "cluster", pipeline=sasl_pipeline)
    assert report["ok"], report


def test_a_wrong_password_is_a_clear_error(
    sasl_pipeline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "not-the-password-1234"
    monkeypatch.setenv("LAKEFORGE__KAFKA__SASL_PASSWORD", wrong)
    result = lakeforge("process", "--profile", "cluster", pipeline=sasl_pipeline, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "authentication" in output.lower(), output
    assert "hint:" in output and "Traceback" not in output
    assert wrong not in output


def test_tls_with_the_brokers_ca(stocks: Path, kafka_tls_broker: TlsListener) -> None:
    """SSL: the client verifies the broker's certificate against the CA file it is given."""
    registry = EmbeddedRegistry(":memory:")
    with RegistryServer(registry) as server:
        make_cluster_pipeline(stocks, kafka_tls_broker.bootstrap, server.url)
        profile = stocks / "profiles" / "cluster.yaml"
        settings = yaml.safe_load(profile.read_text())
        settings["kafka"] |= {
            "security_protocol": "SSL",
            "ssl_ca_location": str(kafka_tls_broker.ca_location),
            "request_timeout": "5s",
        }
        profile.write_text(yaml.safe_dump(settings))
        lakeforge(
            "produce", "--count", "2000", "--rate", "0", "--profile", "cluster", pipeline=stocks
        )
        lakeforge("process", "--until-drained", "--profile", "cluster", pipeline=stocks)
        assert lakeforge_json("verify", "--profile", "cluster", pipeline=stocks)["ok"]
        # Trusting only the public CAs, the broker's certificate is refused: a clear error
        # within the request timeout, no hang.
        settings["kafka"]["ssl_ca_location"] = certifi.where()
        profile.write_text(yaml.safe_dump(settings))
        result = lakeforge("status", "--profile", "cluster", pipeline=stocks, check=False)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert "certificate verify failed" in result.stderr, result.stderr
        assert "hint:" in result.stderr, result.stderr
    registry.close()
