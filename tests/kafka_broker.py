"""A real Apache Kafka broker for tests: official jars from Maven Central, one KRaft node.

No Docker here, so the harness fetches the broker's jars by pinned Maven coordinates
(with ``mvn``, into a cache outside the repository), checks the SHA-256 of the main ones,
and runs a single combined broker+controller on 127.0.0.1 from a temporary folder.

    with KafkaBroker() as broker:
        bus = KafkaBus(broker.bootstrap)

Besides its PLAINTEXT listener, the broker has a SASL_PLAINTEXT one (SASL/PLAIN, one
user with a random password: :attr:`KafkaBroker.sasl`). :meth:`KafkaBroker.kill` and
:meth:`KafkaBroker.start` crash it and bring it back on the same ports and data, and
:func:`console_consume` reads a topic with Kafka's own console consumer.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient

from lakeforge.children import stop_process

KAFKA_VERSION = "4.1.0"

#: What Maven resolves, with their runtime dependencies: the broker itself, Kafka's
#: command-line tools (the console consumer, to check that Kafka's own client reads what
#: lakeforge writes), and an SLF4J binding so that the broker's log reaches a file we
#: can show when it fails to start.
COORDINATES = (
    f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}",
    f"org.apache.kafka:kafka-tools:{KAFKA_VERSION}",
    "org.apache.logging.log4j:log4j-slf4j-impl:2.24.3",
)

#: SHA-256 of the jars that are the broker and its tools; checked on every start, not
#: only on fetch, so a damaged or swapped cache is caught. (Maven also checks Central's
#: SHA-1 files.)
PINNED_SHA256 = {
    f"kafka_2.13-{KAFKA_VERSION}.jar": (
        "0de0471a4c7a9e734c166822a26a4bb064eb81cb2c7a8b1345912cad78997a7b"
    ),
    f"kafka-clients-{KAFKA_VERSION}.jar": (
        "eb74709dc3be35e06208827860c87a94872e8a4b00f466880670785c85a20627"
    ),
    f"kafka-server-common-{KAFKA_VERSION}.jar": (
        "73b8b467597429cc0f3c959b0bb1181556071aaab13a6240b9877a37a8c312d0"
    ),
    f"kafka-raft-{KAFKA_VERSION}.jar": (
        "0d56f0f0735be4fd2c25da02034ae2d7dd0764298cef7d197e99cb8650e1bb1a"
    ),
    f"kafka-metadata-{KAFKA_VERSION}.jar": (
        "d11d14a04391776f0d52dcebcdc4cc7438495984cd5213b62c0e70dc8b81e2fc"
    ),
    f"kafka-storage-{KAFKA_VERSION}.jar": (
        "d4b5cebcd9aeeb2db68b6ff3922bf08e776bb7d4c90f1045768267192625c810"
    ),
    f"kafka-server-{KAFKA_VERSION}.jar": (
        "fb7765a18b46b6635eae385fb1d890955aa67960aa408d5dfe48c17f2d400b9a"
    ),
    f"kafka-tools-{KAFKA_VERSION}.jar": (
        "1c2836cee57a947d2db461410ac5008ca80facbd19b7ed9d284ca883782ea741"
    ),
    f"kafka-tools-api-{KAFKA_VERSION}.jar": (
        "2127f95153a53b8b4fc46e90e08a0b6c0d40f9faee386fff17ab0c3882e881ba"
    ),
}

START_TIMEOUT_S = 60.0

#: Broker settings for a test that kills and restarts its broker. A node that comes back
#: cannot register while its dead self's session lasts (9 s by default): short sessions
#: let it in after 3 s. Not for the shared broker, which a loaded machine could then fence.
QUICK_RESTART = {"broker.heartbeat.interval.ms": "500", "broker.session.timeout.ms": "3000"}

#: The console consumer's main class (in kafka-tools since Kafka 4.0).
CONSOLE_CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"
#: Kafka's ``Bytes`` prints printable ASCII as is and every other byte (and ``\``) as
#: ``\xHH``: a record's key and value come out on one line, unambiguously.
BYTES_DESERIALIZER = "org.apache.kafka.common.serialization.BytesDeserializer"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>lakeforge.tests</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{dependencies}
  </dependencies>
</project>
"""

_LOG4J2 = """status = warn
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.console.ref = console
"""

_JAAS_PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule required"


class BrokerError(RuntimeError):
    """The test broker could not be fetched or started; the message says why."""


@dataclass(frozen=True)
class SaslListener:
    """Where and as whom a client reaches the broker's SASL_PLAINTEXT (PLAIN) listener."""

    bootstrap: str
    username: str
    password: str

    def settings(self, password: str | None = None) -> dict[str, str]:
        """librdkafka properties for this listener (with another ``password`` if given)."""
        return {
            "security.protocol": "sasl_plaintext",
            "sasl.mechanism": "PLAIN",
            "sasl.username": self.username,
            "sasl.password": self.password if password is None else password,
        }

    def __repr__(self) -> str:
        # The password stays out of pytest's failure reports.
        return f"SaslListener({self.bootstrap!r}, username={self.username!r})"


@dataclass(frozen=True)
class TlsListener:
    """Where a client reaches the broker's SSL listener, and the CA file to trust.

    The broker's certificate is self-signed for IP 127.0.0.1, so the CA file is that
    certificate and clients verify the host name as usual.
    """

    bootstrap: str
    ca_location: Path


@dataclass(frozen=True)
class ConsoleRecord:
    """One message as Kafka's console consumer printed it."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def cache_dir() -> Path:
    """Where the jars are kept between runs (outside the repository, never committed)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "lakeforge" / f"kafka-{KAFKA_VERSION}"


def fetch_jars(folder: Path | None = None) -> Path:
    """Return the folder holding the broker's jars, fetching them with Maven if needed.

    A cache made for other coordinates (an older harness, without the tools) is fetched
    again, so adding a coordinate never needs a manual cleanup.
    """
    folder = folder or cache_dir()
    if not _is_complete(folder):
        _download(folder)
    _verify(folder)
    return folder


def _is_complete(folder: Path) -> bool:
    marker = folder / ".complete"
    return marker.exists() and marker.read_text().split() == list(COORDINATES)


def _download(folder: Path) -> None:
    if shutil.which("mvn") is None:
        raise BrokerError("the Kafka test broker needs Maven (mvn) to fetch its jars")
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Resolve into a sibling folder and rename, so an interrupted fetch leaves no half cache.
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".fetch-") as work:
        dependencies = "\n".join(
            "    <dependency><groupId>{}</groupId><artifactId>{}</artifactId>"
            "<version>{}</version></dependency>".format(*c.split(":"))
            for c in COORDINATES
        )
        (Path(work) / "pom.xml").write_text(_POM.format(dependencies=dependencies))
        jars = Path(work) / "jars"
        command = [
            "mvn", "-B", "-q", "-f", str(Path(work) / "pom.xml"),
            "dependency:copy-dependencies", "-DincludeScope=runtime",
            f"-DoutputDirectory={jars}",
        ]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired as error:
            raise BrokerError("Maven took over 15 minutes to fetch the Kafka jars") from error
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
            raise BrokerError(
                f"Maven could not fetch {', '.join(COORDINATES)} (is Maven Central "
                f"reachable?); its output ends:\n{tail}"
            )
        (jars / ".complete").write_text("\n".join(COORDINATES) + "\n")
        # Move an outdated cache aside rather than deleting it first: a broker of another
        # test session may be running from it, and opens some jars only when it needs them.
        old = Path(work) / "old"
        if folder.exists():
            folder.rename(old)
        try:
            jars.rename(folder)
        except OSError:
            # Another session filled the cache at the same moment: use theirs.
            if not _is_complete(folder):
                raise


def _verify(folder: Path) -> None:
    for name, expected in PINNED_SHA256.items():
        path = folder / name
        if not path.exists():
            raise BrokerError(f"{path} is missing; delete {folder} to fetch the jars again")
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != expected:
            raise BrokerError(
                f"{path} has SHA-256 {actual}, not the pinned {expected}; "
                f"delete {folder} to fetch the jars again"
            )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _java(jars: Path, log_config: Path, short_lived: bool = False) -> list[str]:
    # A tool that runs for seconds starts faster without the optimising compiler.
    tiers = ["-XX:TieredStopAtLevel=1"] if short_lived else []
    return [
        "java", "-Xms256m", "-Xmx512m", "-XX:+UseSerialGC", *tiers,
        f"-Dlog4j2.configurationFile={log_config}",
        "-cp", f"{jars}/*",
    ]  # fmt: skip


class KafkaBroker:
    """One KRaft node (broker and controller) on 127.0.0.1, data in a temporary folder.

    :meth:`start` formats the storage the first time only; after :meth:`kill` it starts
    the same node again, on the same ports and with the same data, as a crashed broker
    that comes back (so does :meth:`restart`, and :meth:`start` after
    ``stop(keep_data=True)``). :meth:`stop` stops it and deletes its data.
    ``properties`` add to or replace the broker's settings (``server.properties``).
    """

    def __init__(
        self, jars: Path | None = None, properties: Mapping[str, str] | None = None
    ) -> None:
        self.jars = jars
        self.properties = dict(properties or {})
        self.port = free_port()
        self.sasl_port = free_port()
        self.tls_port = free_port()
        self.controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        #: The SASL_PLAINTEXT listener; a fresh password each time, so a test can check
        #: that it leaks nowhere.
        self.sasl = SaslListener(
            f"127.0.0.1:{self.sasl_port}", "lakeforge", secrets.token_urlsafe(16)
        )
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._keystore_password = secrets.token_urlsafe(16)

    @property
    def tls(self) -> TlsListener:
        """The SSL listener (TLS without client certificates)."""
        return TlsListener(f"127.0.0.1:{self.tls_port}", self._work / "ca.pem")

    @property
    def log_path(self) -> Path:
        """The broker's stdout and stderr (its log; each start appends to it)."""
        return self._work / "server.log"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def _work(self) -> Path:
        assert self._workdir is not None, "the broker was never started"
        return Path(self._workdir.name)

    def start(self) -> str:
        """Start the broker (fetching the jars and formatting the storage the first time).

        Returns its bootstrap address once it answers metadata requests; starting a
        broker that runs does nothing.
        """
        if self._process is not None and self._process.poll() is None:
            return self.bootstrap
        jars = self.jars or fetch_jars()
        self.jars = jars
        if self._workdir is None:
            self._workdir = tempfile.TemporaryDirectory(prefix="lakeforge-kafka-")
            self._format(jars)
        properties = self._work / "server.properties"
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [*_java(jars, self._work / "log4j2.properties"), "kafka.Kafka", str(properties)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_ready()
        return self.bootstrap

    def _format(self, jars: Path) -> None:
        work = self._work
        self._make_keystore(work)
        properties = work / "server.properties"
        properties.write_text(self._properties(work / "data"))
        (work / "log4j2.properties").write_text(_LOG4J2.format(level="INFO"))
        # KRaft storage must be formatted with a cluster id before the first start.
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # "=" because a base64 id may start with "-", which would read as an option.
        storage = ["kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}"]
        formatted = subprocess.run(
            [*_java(jars, work / "log4j2.properties", True), *storage, "-c", str(properties)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if formatted.returncode != 0:
            output = (formatted.stdout + formatted.stderr)[-3000:]
            raise BrokerError(f"formatting the Kafka storage failed:\n{output}")

    def _make_keystore(self, work: Path) -> None:
        """A self-signed certificate for 127.0.0.1 (Java's keytool), and its PEM."""
        store = ["-keystore", str(work / "broker.p12"), "-storepass", self._keystore_password]
        commands = [
            ["-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048",
             "-validity", "7", "-dname", "CN=127.0.0.1", "-ext", "SAN=ip:127.0.0.1",
             "-storetype", "PKCS12", *store],
            ["-exportcert", "-rfc", "-alias", "broker", "-file", str(work / "ca.pem"), *store],
        ]  # fmt: skip
        for command in commands:
            made = subprocess.run(["keytool", *command], capture_output=True, text=True)
            if made.returncode != 0:
                raise BrokerError(f"keytool failed: {made.stdout}{made.stderr}")

    def _properties(self, data: Path) -> str:
        sasl = self.sasl
        users = f'user_{sasl.username}="{sasl.password}"'
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
            f"SASL_PLAINTEXT://127.0.0.1:{self.sasl_port},"
            f"SSL://127.0.0.1:{self.tls_port},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
            f"SASL_PLAINTEXT://127.0.0.1:{self.sasl_port},"
            f"SSL://127.0.0.1:{self.tls_port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,"
            "SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT",
            # TLS on its own listener, with the keystore made at the first start.
            "listener.name.ssl.ssl.keystore.type": "PKCS12",
            "listener.name.ssl.ssl.keystore.location": str(data.parent / "broker.p12"),
            "listener.name.ssl.ssl.keystore.password": self._keystore_password,
            "listener.name.ssl.ssl.key.password": self._keystore_password,
            # SASL/PLAIN on its own listener only; its users are the JAAS user_* entries.
            # No authorizer: an authenticated user may do anything.
            "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": f"{_JAAS_PLAIN} {users};",
            "log.dirs": str(data),
            # One node: internal topics cannot have more replicas than that.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "num.partitions": "1",
            **self.properties,
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": "0"})
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._fail(f"the Kafka broker exited with code {self._process.returncode}")
            try:
                metadata = admin.list_topics(timeout=2)
                if metadata.brokers:
                    return
            except Exception:  # not up yet: the deadline decides
                pass
            time.sleep(0.2)
        self._fail(f"the Kafka broker did not accept connections within {START_TIMEOUT_S:.0f} s")

    def _fail(self, what: str) -> None:
        tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-40:])
        self.stop()
        raise BrokerError(f"{what} on {self.bootstrap}; its log ends:\n{tail}")

    def kill(self) -> None:
        """Crash the broker: SIGKILL by its PID, no shutdown. Its data stays for a restart.

        What it acknowledged is in the operating system's page cache, so it survives
        (the machine does not crash, only the process).
        """
        if self._process is None:
            return
        if self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGKILL)
        self._process.wait()
        self._process = None

    def restart(self) -> str:
        """Kill the broker and start it again on the same ports and data."""
        self.kill()
        return self.start()

    def stop(self, keep_data: bool = False) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after 20 s) and delete its data.

        With ``keep_data``, a clean shutdown that :meth:`start` comes back from.
        """
        if self._process is not None:
            stop_process(self._process, timeout=20)
            self._process = None
        if self._workdir is not None and not keep_data:
            self._workdir.cleanup()
            self._workdir = None

    def console_consume(
        self,
        topic: str,
        max_messages: int,
        timeout_s: float = 20,
        sasl: bool = False,
    ) -> list[ConsoleRecord]:
        """Read ``topic`` from the beginning with Kafka's console consumer.

        ``sasl`` connects through the SASL listener as its user. See
        :func:`console_consume`.
        """
        assert self.jars is not None, "start the broker first"
        properties = None
        bootstrap = self.bootstrap
        if sasl:
            bootstrap = self.sasl.bootstrap
            jaas = f'{_JAAS_PLAIN} username="{self.sasl.username}" password="{self.sasl.password}";'
            properties = {
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "PLAIN",
                "sasl.jaas.config": jaas,
            }
        return console_consume(
            self.jars, bootstrap, topic, max_messages, timeout_s, properties=properties
        )

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def console_consume(
    jars: Path,
    bootstrap: str,
    topic: str,
    max_messages: int,
    timeout_s: float = 20,
    properties: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
) -> list[ConsoleRecord]:
    """Run Kafka's ``ConsoleConsumer`` on ``topic`` and parse what it printed.

    It reads from the beginning until it has ``max_messages`` messages or none came for
    ``timeout_s`` (which also covers joining its consumer group: several seconds), printing
    each message's partition, offset, key and value (bytes escaped by Kafka's ``Bytes``;
    a key or value of exactly ``b"null"`` reads back as ``None``). ``properties`` are
    consumer settings (security), given in a file as Kafka's tools take them. Raises
    :class:`BrokerError` when the tool fails, with its output.
    """
    with tempfile.TemporaryDirectory(prefix="lakeforge-console-") as work:
        log_config = Path(work) / "log4j2.properties"
        log_config.write_text(_LOG4J2.format(level="WARN"))
        options = [
            "--bootstrap-server", bootstrap, "--topic", topic, "--from-beginning",
            "--max-messages", str(max_messages), "--timeout-ms", str(int(timeout_s * 1000)),
            "--key-deserializer", BYTES_DESERIALIZER,
            "--value-deserializer", BYTES_DESERIALIZER,
            "--property", "print.partition=true", "--property", "print.offset=true",
            "--property", "print.key=true",
            # A random group: each run reads the whole topic, and leaves no offsets in use.
            "--group", f"console-{uuid.uuid4().hex[:8]}",
        ]  # fmt: skip
        if properties:
            config = Path(work) / "consumer.properties"
            config.write_text("".join(f"{k}={v}\n" for k, v in properties.items()))
            options += ["--consumer.config", str(config)]
        command = [*_java(jars, log_config, True), CONSOLE_CONSUMER, *options, *extra_args]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout_s + 60)
        except subprocess.TimeoutExpired as error:
            raise BrokerError(f"the console consumer ran over {timeout_s + 60:.0f} s") from error
    output = done.stdout.decode(errors="replace")
    if done.returncode != 0:
        errors = done.stderr.decode(errors="replace")[-3000:]
        raise BrokerError(
            f"the console consumer exited with code {done.returncode}:\n{errors}\n{output}"
        )
    return [_parse_console_line(line) for line in output.splitlines() if line]


_CONSOLE_LINE = re.compile(r"Partition:(\d+)\tOffset:(\d+)\t(.*)\t(.*)")
_ESCAPE = re.compile(r"\\x([0-9A-F]{2})")


def _parse_console_line(line: str) -> ConsoleRecord:
    found = _CONSOLE_LINE.fullmatch(line)
    if found is None:
        raise BrokerError(f"unexpected console consumer output: {line!r}")
    partition, offset, key, value = found.groups()
    return ConsoleRecord(int(partition), int(offset), _unescape(key), _unescape(value))


def _unescape(printed: str) -> bytes | None:
    """The bytes Kafka's ``Bytes.toString`` printed; ``null`` is a null key or value."""
    if printed == "null":
        return None
    # Printable ASCII stands for itself; every other byte, "\" included, is "\xHH".
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), printed).encode("latin-1")
