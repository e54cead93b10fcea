"""Profiles: chosen by setting, file, environment or flag; secrets only from the environment.

No broker here: these are the settings a cluster profile is opened with, and the clear
errors for every way of getting them wrong. tests/kafka/test_cluster_profile.py runs them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lakeforge.errors import ConfigError
from lakeforge.profiles import open_profile
from lakeforge.profiles.connections import consumer_group, kafka_client_settings
from lakeforge.spec.load import load_pipeline
from tests.lakeforge_cli import lakeforge

SECRET = "s3cr3t-never-shown"


def write_profile(pipeline: Path, text: str, name: str = "cluster") -> Path:
    folder = pipeline / "profiles"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def test_the_local_profile_is_the_default(stocks: Path) -> None:
    pipeline = load_pipeline(stocks, environ={})
    assert pipeline.profile == "local"
    with open_profile(pipeline) as profile:
        assert profile.name == "local"
        assert profile.join_group is None


def test_a_profile_file_layers_connection_settings_over_the_pipeline(stocks: Path) -> None:
    write_profile(
        stocks,
        "kafka:\n  bootstrap_servers: broker-1:9092,broker-2:9092\n"
        "registry:\n  url: http://registry:8081\n",
    )
    pipeline = load_pipeline(stocks, environ={"LAKEFORGE__PROFILE": "cluster"})
    assert pipeline.profile == "cluster"
    assert pipeline.kafka.bootstrap_servers == "broker-1:9092,broker-2:9092"
    assert pipeline.registry.url == "http://registry:8081"
    # The registry section is merged, not replaced: the pipeline's compatibility stays.
    assert pipeline.registry.compatibility == "BACKWARD"
    assert consumer_group(pipeline) == "lakeforge-stocks"
    # The local profile ignores the cluster's file.
    assert load_pipeline(stocks, environ={}).kafka.bootstrap_servers == "127.0.0.1:9092"


def test_environment_variables_override_the_profile_file(stocks: Path) -> None:
    write_profile(stocks, "kafka:\n  bootstrap_servers: from-file:9092\n")
    pipeline = load_pipeline(
        stocks,
        environ={
            "LAKEFORGE__PROFILE": "cluster",
            "LAKEFORGE__KAFKA__BOOTSTRAP_SERVERS": "from-env:9092",
            "LAKEFORGE__KAFKA__CONSUMER_GROUP": "stocks-runners",
        },
    )
    assert pipeline.kafka.bootstrap_servers == "from-env:9092"
    assert consumer_group(pipeline) == "stocks-runners"


def test_a_password_written_in_a_profile_file_is_refused(stocks: Path) -> None:
    path = write_profile(
        stocks,
        "kafka:\n  security_protocol: SASL_SSL\n  sasl_mechanism: PLAIN\n"
        f"  sasl_username: lakeforge\n  sasl_password: {SECRET}\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_pipeline(stocks, environ={"LAKEFORGE__PROFILE": "cluster"})
    message = str(caught.value) + (caught.value.hint or "")
    assert str(path) in message and "kafka.sasl_password" in message
    assert "LAKEFORGE__KAFKA__SASL_PASSWORD" in message and "sasl_password_file" in message
    assert SECRET not in message


def test_a_password_written_in_pipeline_yaml_is_refused(stocks: Path) -> None:
    text = (stocks / "pipeline.yaml").read_text()
    text = text.replace("registry:\n", f"registry:\n  username: u\n  password: {SECRET}\n", 1)
    (stocks / "pipeline.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"registry\.password holds a password") as caught:
        load_pipeline(stocks, environ={})
    assert SECRET not in str(caught.value)


def test_passwords_from_the_environment_and_secret_files_are_used_but_never_shown(
    stocks: Path,
) -> None:
    secret_file = stocks / "key-password"
    secret_file.write_text("key-secret\n")
    write_profile(
        stocks,
        "kafka:\n  security_protocol: SASL_SSL\n  sasl_mechanism: SCRAM-SHA-512\n"
        "  sasl_username: lakeforge\n  ssl_key_password_file: key-password\n",
    )
    environ = {"LAKEFORGE__PROFILE": "cluster", "LAKEFORGE__KAFKA__SASL_PASSWORD": SECRET}
    pipeline = load_pipeline(stocks, environ=environ)
    assert SECRET not in repr(pipeline) and SECRET not in pipeline.model_dump_json()
    settings = kafka_client_settings(pipeline.kafka, pipeline.directory)
    assert settings["sasl.password"] == SECRET
    assert settings["ssl.key.password"] == "key-secret"  # one trailing newline dropped
    assert settings["security.protocol"] == "sasl_ssl"
    assert settings["sasl.mechanism"] == "SCRAM-SHA-512"


@pytest.mark.parametrize(
    ("profile", "environ", "expected"),
    [
        (
            "kafka:\n  security_protocol: SASL_SSL\n  sasl_mechanism: PLAIN\n",
            {},
            "needs sasl_mechanism and sasl_username",
        ),
        (
            "kafka:\n  security_protocol: SASL_PLAINTEXT\n  sasl_mechanism: PLAIN\n"
            "  sasl_username: u\n",
            {},
            "set LAKEFORGE__KAFKA__SASL_PASSWORD or kafka.sasl_password_file",
        ),
        ("kafka:\n  sasl_username: u\n", {}, "need security_protocol SASL_PLAINTEXT"),
        ("kafka:\n  security_protocol: KERBEROS\n", {}, "security_protocol"),
        (
            "kafka:\n  settings:\n    sasl.oauthbearer.client.secret: x\n",
            {},
            "holds a secret",
        ),
        ("kafka:\n  bootstrap_server: typo:9092\n", {}, "unknown setting"),
        ("topics: []\n", {}, "cannot set topics"),
        ("kafka: [\n", {}, "invalid YAML"),
        ("", {"LAKEFORGE__KAFKA__REQUEST_TIMEOUT": "soon"}, "LAKEFORGE__KAFKA__REQUEST_TIMEOUT"),
    ],
)
def test_bad_cluster_settings_are_named(
    stocks: Path, profile: str, environ: dict[str, str], expected: str
) -> None:
    write_profile(stocks, profile or "kafka: {}\n")
    with pytest.raises(ConfigError, match=expected):
        load_pipeline(stocks, environ={"LAKEFORGE__PROFILE": "cluster", **environ})


def test_an_unknown_profile_is_refused(stocks: Path) -> None:
    with pytest.raises(ConfigError, match="profile"):
        load_pipeline(stocks, environ={"LAKEFORGE__PROFILE": "../../etc/passwd"})
    result = lakeforge("check", "--profile", "staging", pipeline=stocks, check=False)
    assert result.returncode == 2 and "staging" in result.stderr


def test_a_missing_secret_file_is_named_when_connecting(stocks: Path) -> None:
    write_profile(
        stocks,
        "kafka:\n  security_protocol: SASL_SSL\n  sasl_mechanism: PLAIN\n"
        "  sasl_username: u\n  sasl_password_file: /run/secrets/nowhere\n"
        "registry:\n  url: http://127.0.0.1:9\n",
    )
    pipeline = load_pipeline(stocks, environ={"LAKEFORGE__PROFILE": "cluster"})
    with pytest.raises(ConfigError, match=r"kafka\.sasl_password_file: /run/secrets/nowhere"):
        open_profile(pipeline)


@pytest.mark.parametrize(("content", "message"), [("", "is empty"), ("\n", "is empty")])
def test_an_empty_secret_file_is_named_when_connecting(
    stocks: Path, content: str, message: str
) -> None:
    (stocks / "password").write_text(content)
    write_profile(
        stocks,
        "kafka:\n  security_protocol: SASL_SSL\n  sasl_mechanism: PLAIN\n"
        "  sasl_username: u\n  sasl_password_file: password\n"
        "registry:\n  url: http://127.0.0.1:9\n",
    )
    pipeline = load_pipeline(stocks, environ={"LAKEFORGE__PROFILE": "cluster"})
    with pytest.raises(ConfigError, match=rf"kafka\.sasl_password_file: .*password {message}"):
        open_profile(pipeline)


def test_the_cluster_profile_needs_a_registry_url(stocks: Path) -> None:
    write_profile(stocks, "kafka:\n  bootstrap_servers: 127.0.0.1:9\n")
    result = lakeforge("process", "--profile", "cluster", pipeline=stocks, check=False)
    assert result.returncode == 2, result.stderr
    assert "registry.url is not set" in result.stderr
    assert "LAKEFORGE__REGISTRY__URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_example_cluster_profile_loads(stocks: Path) -> None:
    pipeline = load_pipeline(stocks, environ={"LAKEFORGE__PROFILE": "cluster"})
    assert pipeline.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert pipeline.registry.url == "http://127.0.0.1:8081"
    assert kafka_client_settings(pipeline.kafka, pipeline.directory) == {
        "security.protocol": "plaintext"
    }


def test_an_error_about_kafka_settings_never_shows_the_password(stocks: Path) -> None:
    write_profile(stocks, "kafka:\n  security_protocol: SASL_SSL\n  sasl_mechanism: PLAIN\n")
    environ = {"LAKEFORGE__PROFILE": "cluster", "LAKEFORGE__KAFKA__SASL_PASSWORD": SECRET}
    with pytest.raises(ConfigError, match="sasl_username") as caught:
        load_pipeline(stocks, environ=environ)
    assert SECRET not in str(caught.value) and "********" in str(caught.value)
