"""How a pipeline reaches its services: Kafka client settings and the schema registry."""

from __future__ import annotations

from pathlib import Path

from lakeforge.errors import ConfigError
from lakeforge.profiles.secrets import read_secret
from lakeforge.registry.base import SchemaRegistry
from lakeforge.registry.http_client import HttpRegistry
from lakeforge.registry.store import EmbeddedRegistry
from lakeforge.spec.model import Kafka, Pipeline


def kafka_client_settings(kafka: Kafka, directory: Path) -> dict[str, str]:
    """The librdkafka properties of every client, secrets included (never print them)."""
    settings = dict(kafka.settings)
    settings["security.protocol"] = kafka.security_protocol.lower()
    if kafka.sasl_mechanism is not None:
        settings["sasl.mechanism"] = kafka.sasl_mechanism
        settings["sasl.username"] = kafka.sasl_username or ""
        password = read_secret(
            kafka.sasl_password, kafka.sasl_password_file, "kafka.sasl_password", directory
        )
        settings["sasl.password"] = password or ""
    files = {
        "ssl.ca.location": ("kafka.ssl_ca_location", kafka.ssl_ca_location),
        "ssl.certificate.location": (
            "kafka.ssl_certificate_location",
            kafka.ssl_certificate_location,
        ),
        "ssl.key.location": ("kafka.ssl_key_location", kafka.ssl_key_location),
    }
    for property_name, (setting, file) in files.items():
        if file is None:
            continue
        path = (directory / file).resolve()
        if not path.is_file():
            raise ConfigError(f"{setting}: {path} is not a file", "fix the path to the PEM file")
        settings[property_name] = str(path)
    key_password = read_secret(
        kafka.ssl_key_password, kafka.ssl_key_password_file, "kafka.ssl_key_password", directory
    )
    if key_password is not None:
        settings["ssl.key.password"] = key_password
    return settings


def consumer_group(pipeline: Pipeline) -> str:
    """The consumer group the pipeline's runners share."""
    return pipeline.kafka.consumer_group or f"lakeforge-{pipeline.name}"


def open_registry(pipeline: Pipeline) -> SchemaRegistry:
    """The registry at ``registry.url`` if one is set, else the embedded one."""
    settings = pipeline.registry
    if settings.url:
        password = read_secret(
            settings.password, settings.password_file, "registry.password", pipeline.directory
        )
        return HttpRegistry(settings.url, username=settings.username, password=password)
    registry = EmbeddedRegistry(pipeline.state_path / "registry.db")
    registry.set_compatibility(settings.compatibility)
    return registry
